"""Benchmark: `alembic-drill check` (every check) against the floor, plain Alembic's
`upgrade head` then `downgrade base` in one process, on the same server and history.

    python bench/check_vs_floor.py [--revisions 50,100] [--database local:postgresql] [--repeat 3]

Prints the medians, the ratio check / floor, and the per-revision cost for each history
length (a constant per-revision cost means the walk grows linearly).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from alembic_drill import Drill, Server
from generate_history import generate

FLOOR = """
import sys
from alembic import command
from alembic.config import Config
config = Config(sys.argv[1])
config.set_main_option("sqlalchemy.url", sys.argv[2].replace("%", "%%"))
command.upgrade(config, "head")
command.downgrade(config, "base")
"""


def floor(ini: Path, url: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", FLOOR, str(ini), url], check=True)
    return time.perf_counter() - start


def check(ini: Path, server: Server) -> tuple[float, int]:
    start = time.perf_counter()
    report = Drill(ini, server=server).check()
    elapsed = time.perf_counter() - start
    assert report.ok, [f.message for f in report.findings][:3]
    return elapsed, len(report.to_dict()["steps"])


def main() -> None:
    parser = argparse.ArgumentParser(description="check vs upgrade head + downgrade base")
    parser.add_argument("--revisions", default="50,100")
    parser.add_argument("--database", default="local:postgresql")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"database: {args.database}; {args.repeat} runs each, alternating (median)")
    print("| revisions | floor s | check s | check / floor | check ms per revision | steps |")
    print("|---|---|---|---|---|---|")
    with Server(args.database) as server, tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.revisions.split(",")):
            project = Path(tmp) / f"h{n}"
            generate(project, n, branch_every=25, seed=n)
            ini = project / "alembic.ini"
            floors, checks, steps = [], [], 0
            for _ in range(args.repeat):
                db = server.create_database()
                floors.append(floor(ini, db.url))
                server.drop_database(db)
                seconds, steps = check(ini, server)
                checks.append(seconds)
            f, c = statistics.median(floors), statistics.median(checks)
            print(
                f"| {n} | {f:.2f} | {c:.2f} | {c / f:.1f}x | {1000 * c / n:.0f} | {steps} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
