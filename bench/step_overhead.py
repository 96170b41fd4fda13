"""Benchmark: what a step costs beyond its own SQL (issue #14).

A history of revisions whose upgrade() and downgrade() are ``pass``: a step's only SQL is
Alembic's version-table UPDATE (and its transaction). Each revision is upgraded, downgraded
and upgraded again through alembic-drill's step runner (env.py, the guard, the handed-over
connection, everything a walk's step goes through), once with env.py sessions (one env.py
run per database) and once with env.py run per step; beside them, the same UPDATE and
COMMIT sent by SQLAlchemy on a plain connection.

    python bench/step_overhead.py [--database local:postgresql] [--revisions 100]

Prints the median wall and CPU time per step of each mode and of the plain statement.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from alembic_drill import Server
from alembic_drill._steps import StepRunner
from generate_history import REALISTIC_ENV_PY

INI = "[alembic]\nscript_location = %(here)s/migrations\nsqlalchemy.url = sqlite:///x.db\n"
SCRIPT = """\
revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
"""


def project(root: Path, revisions: int) -> list[str]:
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "alembic.ini").write_text(INI)
    env = REALISTIC_ENV_PY.replace("from models import metadata", "metadata = None")
    (root / "migrations" / "env.py").write_text(env)
    ids, down = [], None
    for i in range(revisions):
        rev = f"r{i:05d}"
        (root / "migrations" / "versions" / f"{rev}.py").write_text(
            SCRIPT.format(rev=rev, down=down)
        )
        ids.append(rev)
        down = rev
    return ids


def walk(server: Server, ini: Path, ids: list[str], sessions: bool) -> tuple[float, float, int]:
    os.environ["ALEMBIC_DRILL_ENV_SESSIONS"] = "1" if sessions else "0"
    db = server.create_database()
    runner = StepRunner(ini)
    wall, cpu = [], []
    try:
        for rev in ids:
            for direction in ("upgrade", "downgrade", "upgrade"):
                started, started_cpu = time.perf_counter(), time.process_time()
                result = runner.step(db.url, direction, rev)
                wall.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
                assert result.ok, result.error
    finally:
        runner.close()
        server.drop_database(db)
    return statistics.median(wall), statistics.median(cpu), runner.env_runs


def plain(server: Server, ini: Path, count: int) -> tuple[float, float]:
    db = server.create_database()
    # The driver the steps use (see alembic_drill._drivers).
    engine = create_engine(StepRunner(ini).database_url(db.url))
    wall, cpu = [], []
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
            conn.execute(text("INSERT INTO alembic_version VALUES ('a')"))
            conn.commit()
            for i in range(count):
                started, started_cpu = time.perf_counter(), time.process_time()
                conn.execute(text(f"UPDATE alembic_version SET version_num = 'r{i:05d}'"))
                conn.commit()
                wall.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
    finally:
        engine.dispose()
        server.drop_database(db)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description="a step's cost beyond its own SQL")
    parser.add_argument("--database", default="local:postgresql")
    parser.add_argument("--revisions", type=int, default=100)
    args = parser.parse_args()
    with Server(args.database) as server, tempfile.TemporaryDirectory() as tmp:
        ids = project(Path(tmp), args.revisions)
        ini = Path(tmp) / "alembic.ini"
        print(f"database: {args.database}; {3 * len(ids)} steps of `pass` revisions (median)")
        print("| mode | wall ms per step | CPU ms per step | env.py runs |")
        print("|---|---:|---:|---:|")
        walk(server, ini, ids[:5], sessions=True)  # imports and caches warm
        for sessions in (True, False):
            wall, cpu, runs = walk(server, ini, ids, sessions)
            mode = "env.py session per database" if sessions else "env.py run per step"
            print(f"| {mode} | {1000 * wall:.2f} | {1000 * cpu:.2f} | {runs} |", flush=True)
        wall, cpu = plain(server, ini, 3 * len(ids))
        own = "the step's own SQL (UPDATE + COMMIT, plain)"
        print(f"| {own} | {1000 * wall:.2f} | {1000 * cpu:.2f} | - |")


if __name__ == "__main__":
    main()
