"""Benchmark: the per-test cost of a migrated database, alembic-drill's way (a template
migrated once, cloned per test: what `drill_migrated_db` does) against the common
hand-written fixture (`downgrade base` then `upgrade head` on one database per test), on
a 50-revision history, in the same run.

    python bench/fixture_cost.py [--revisions 50] [--tests 20] [--database local:postgresql]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from alembic import command
from alembic.config import Config

from alembic_drill import Server
from alembic_drill._steps import StepRunner
from generate_history import generate


def main() -> None:
    parser = argparse.ArgumentParser(description="migrated database per test: clone vs rerun")
    parser.add_argument("--revisions", type=int, default=50)
    parser.add_argument("--tests", type=int, default=20)
    parser.add_argument("--database", default="local:postgresql")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Server(args.database) as server:
        generate(Path(tmp), args.revisions, branch_every=25, seed=7)
        ini = Path(tmp) / "alembic.ini"

        started = time.perf_counter()
        template = server.create_database()
        StepRunner(ini).migrate(template.url, "upgrade", "heads")
        setup = time.perf_counter() - started
        clones = []
        for _ in range(args.tests):
            started = time.perf_counter()
            db = server.clone_database(template)
            clones.append(time.perf_counter() - started)
            server.drop_database(db)

        shared = server.create_database()
        config = Config(str(ini))
        config.set_main_option("sqlalchemy.url", shared.url.replace("%", "%%"))
        command.upgrade(config, "head")
        reruns = []
        for _ in range(args.tests):
            started = time.perf_counter()
            command.downgrade(config, "base")
            command.upgrade(config, "head")
            reruns.append(time.perf_counter() - started)

    clone, rerun = statistics.median(clones), statistics.median(reruns)
    print(f"{args.database}, {args.revisions} revisions, {args.tests} tests (median per test)")
    print("| fixture | per test ms | once per session ms |")
    print("|---|---|---|")
    print(f"| drill_migrated_db (clone of a template) | {clone * 1000:.1f} | {setup * 1000:.0f} |")
    print(f"| hand-written (downgrade base + upgrade head) | {rerun * 1000:.1f} | 0 |")
    print(f"ratio hand-written / drill = {rerun / clone:.1f}x")


if __name__ == "__main__":
    main()
