"""Benchmark: what each kind of server costs.

Per backend: time from nothing to a server accepting logins, time to create an empty
database, and time to clone a template holding a migrated schema of 50 tables, then of
500 tables (10x): a clone copies the result, so its cost follows the template's size,
never the number of migrations that built it.

    python bench/servers.py [--specs sqlite,local:postgresql,...] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import sqlalchemy as sa

from alembic_drill import Server

DEFAULT_SPECS = (
    "sqlite,local:postgresql,local:mariadb,docker:local/postgres:15,docker:local/mariadb:10.11"
)


def schema(tables: int) -> sa.MetaData:
    """A migrated-looking schema: tables with keys, an index and a foreign key each."""
    metadata = sa.MetaData()
    previous = None
    for i in range(tables):
        columns: list[sa.Column[object]] = [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(100), nullable=False, index=True),
            sa.Column("created", sa.DateTime, server_default=sa.func.now()),
        ]
        if previous is not None:
            columns.append(sa.Column("parent_id", sa.Integer, sa.ForeignKey(f"{previous}.id")))
        sa.Table(f"t{i:04d}", metadata, *columns)
        previous = f"t{i:04d}"
    return metadata


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench(spec: str, repeat: int) -> dict[str, float]:
    ready = timed(lambda: Server(spec).stop())
    results = {"ready": ready}
    with Server(spec) as server:
        results["create"] = statistics.median(timed(server.create_database) for _ in range(repeat))
        for tables in (50, 500):
            template = server.create_database()
            engine = sa.create_engine(template.url, poolclass=sa.pool.NullPool)
            schema(tables).create_all(engine)
            engine.dispose()
            results[f"clone_{tables}"] = statistics.median(
                timed(lambda t=template: server.clone_database(t)) for _ in range(repeat)
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="time to ready, create and clone per backend")
    parser.add_argument("--specs", default=DEFAULT_SPECS)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("| backend | ready s | create ms | clone 50 tables ms | clone 500 tables ms | 500/50 |")
    print("|---|---|---|---|---|---|")
    for spec in args.specs.split(","):
        r = bench(spec, args.repeat)
        print(
            f"| {spec} | {r['ready']:.2f} | {r['create'] * 1000:.0f} | "
            f"{r['clone_50'] * 1000:.0f} | {r['clone_500'] * 1000:.0f} | "
            f"{r['clone_500'] / r['clone_50']:.1f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
