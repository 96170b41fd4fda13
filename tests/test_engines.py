"""Engines kept across steps: only for the database under test, only when their arguments
compare, and closed on release."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy
from sqlalchemy import pool, text
from sqlalchemy.engine import make_url

from alembic_drill._engines import EngineCache, count_connections, without_sync


def test_env_engines_for_the_target_are_kept_and_others_pass_through(tmp_path: Path) -> None:
    target = make_url(f"sqlite:///{tmp_path / 'target.db'}")
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    cache = EngineCache()
    original = sqlalchemy.create_engine
    config = {"sqlalchemy.url": str(target), "sqlalchemy.echo": "false", "other.key": "x"}
    with cache.intercept(lambda url: url.database == target.database):
        first = sqlalchemy.engine_from_config(config, poolclass=pool.NullPool)
        again = sqlalchemy.engine_from_config(config, poolclass=pool.NullPool)
        created = sqlalchemy.create_engine(str(target), poolclass=pool.NullPool)
        created_again = sqlalchemy.create_engine(str(target), poolclass=pool.NullPool)
        other = sqlalchemy.create_engine(elsewhere)
        other_again = sqlalchemy.create_engine(elsewhere)
        # A creator function cannot be compared: never kept.
        custom = sqlalchemy.create_engine(
            str(target), creator=lambda: sqlite3.connect(target.database or "")
        )
    assert sqlalchemy.create_engine is original
    assert first is again and isinstance(first.pool, pool.QueuePool)
    assert created is created_again and created is not first
    assert other is not other_again
    assert custom is not created

    with count_connections() as opened:
        for _ in range(3):
            with first.connect() as conn:
                conn.execute(text("SELECT 1"))
    assert opened == [1]

    cache.release(lambda url: url.database == target.database)
    with count_connections() as opened:
        with first.connect() as conn:
            conn.execute(text("SELECT 1"))
    assert opened == [1], "a released engine's connections are closed"
    cache.close()


def test_sqlite_connections_opened_in_a_step_do_not_wait_for_the_disk(tmp_path: Path) -> None:
    """Throwaway SQLite files need no durability (see without_sync); connections opened
    outside a step keep SQLite's default."""
    url = f"sqlite:///{tmp_path / 'throwaway.db'}"

    def synchronous() -> int:
        engine = sqlalchemy.create_engine(url, poolclass=pool.NullPool)
        try:
            with engine.connect() as conn:
                return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())
        finally:
            engine.dispose()

    with without_sync():
        assert synchronous() == 0  # OFF
    assert synchronous() != 0
