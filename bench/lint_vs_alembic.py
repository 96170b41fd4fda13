"""Benchmark: `alembic-drill lint` against Alembic's own ScriptDirectory walk.

Generates a history (default 10,000 revisions), then times, alternating and several times
each, in fresh processes so every run pays the same imports:

  alembic:  ScriptDirectory.from_config(...).walk_revisions() (Alembic loading the scripts
            and building its revision map, nothing else)
  drill:    alembic-drill lint --json (loading the scripts, building the graph, every
            static check, the JSON report)

and reports the medians and their ratio. The goal is a ratio of at most 1.0.

    python bench/lint_vs_alembic.py [--revisions 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generate_history import generate

ALEMBIC_WALK = """\
import sys
from alembic.config import Config
from alembic.script import ScriptDirectory
script = ScriptDirectory.from_config(Config(sys.argv[1]))
count = sum(1 for _ in script.walk_revisions())
assert count == int(sys.argv[2]), count
"""


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description="alembic-drill lint vs Alembic's walk")
    parser.add_argument("--revisions", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = parser.parse_args()

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="drill-bench-"))
    try:
        generate(workdir, args.revisions, branch_every=500, seed=1)
        ini = str(workdir / "alembic.ini")
        exe = shutil.which("alembic-drill") or str(Path(sys.executable).parent / "alembic-drill")
        commands = {
            "alembic": [sys.executable, "-c", ALEMBIC_WALK, ini, str(args.revisions)],
            "drill": [exe, "lint", "-c", ini, "--json"],
        }
        # One warm-up each: Alembic writes __pycache__ files on its first import, and both
        # then run with the same warm file cache.
        for cmd in commands.values():
            timed(cmd)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, cmd in commands.items():
                times[name].append(timed(cmd))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["drill"] / medians["alembic"]
    print(f"history: {args.revisions} revisions, {args.repeat} runs each (median)")
    print("| command | median s | runs |")
    print("|---|---|---|")
    for name, values in times.items():
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"| {name} | {medians[name]:.2f} | {runs} |")
    verdict = "meets" if ratio <= 1.0 else "misses"
    print(f"ratio drill / alembic = {ratio:.2f} ({verdict} the goal of <= 1.0)")


if __name__ == "__main__":
    main()
