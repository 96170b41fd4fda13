"""env.py files as users write them: each must work unchanged, and none may lead a
migration to a database alembic-drill did not create."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from drill_support import drill_project
from servers_support import need_binaries

from alembic_drill import AlembicDrillError, Drill, Server
from alembic_drill._env_session import SWITCH
from conftest import Project

ENV_ENGINE_STYLE = """
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
{models_import}

connectable = config.attributes.get("connection", None)
if connectable is None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
"""

ENV_URL_ONLY = """
from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
{models_import}

engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=target_metadata,
                      version_table="schema_history")
    with context.begin_transaction():
        context.run_migrations()
"""

ENV_FROM_VARIABLE = """
import os
from alembic import context
from sqlalchemy import create_engine, pool

{models_import}

engine = create_engine(os.environ["APP_DATABASE_URL"], poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
"""

ENV_ASYNC = """
import asyncio
from alembic import context
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import async_engine_from_config

config = context.config
{models_import}


def do_run_migrations(connection):
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations():
    connectable = async_engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    async with connectable.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await connectable.dispose()


asyncio.run(run_async_migrations())
"""

ENV_ELSEWHERE = """
from alembic import context
from sqlalchemy import create_engine, pool

{models_import}
engine = create_engine("sqlite:///{elsewhere}", poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
"""

MODELS = """
import sqlalchemy as sa
metadata = sa.MetaData()
sa.Table("aaa111", metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("name", sa.String(50)))
sa.Table("bbb222", metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("name", sa.String(50)))
"""

TABLE = (
    'op.create_table("{rev}", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("name", sa.String(50)))'
)
DROP = 'op.drop_table("{rev}")'


@pytest.fixture(scope="module")
def sqlite_server() -> Iterator[Server]:
    with Server("sqlite") as server:
        yield server


def two_revisions(project: Project) -> None:
    project.add("aaa111", None, upgrade=TABLE, downgrade=DROP)
    project.add("bbb222", "aaa111", upgrade=TABLE, downgrade=DROP)


@pytest.mark.parametrize(
    ("style", "url", "kwargs", "reused"),
    [
        # env.py uses the Connection handed over: kept across steps on one database.
        (ENV_ENGINE_STYLE, "sqlite:///app.db", {}, True),
        # env.py builds its own engine, as Alembic's template does: the engine is kept
        # too, and the Connection handed over is never opened.
        (ENV_URL_ONLY, "sqlite:///app.db", {}, True),
        (ENV_FROM_VARIABLE, "sqlite:///app.db", {"url_env": "APP_DATABASE_URL"}, True),
        # An async engine belongs to one run's event loop: a new connection each step.
        (ENV_ASYNC, "sqlite+aiosqlite:///app.db", {}, False),
    ],
    ids=["engine-style", "url-only-custom-version-table", "url-from-variable", "async"],
)
@pytest.mark.parametrize("sessions", ["session", "per-step"])
def test_env_py_styles_run_unchanged(
    project: Project,
    sqlite_server: Server,
    style: str,
    url: str,
    kwargs: dict[str, str],
    reused: bool,
    sessions: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each style runs in one env.py session per database (see _env_session), and as
    before with sessions switched off (env.py once per step)."""
    monkeypatch.setenv(SWITCH, "1" if sessions == "session" else "0")
    drill_project(project, env=style, url=url, models=MODELS)
    two_revisions(project)
    report = Drill(project.ini, server=sqlite_server, **kwargs).check()
    assert report.ok and report.findings == [], [f.message for f in report.findings]
    ran = {r["check"] for r in report.to_dict()["checks"] if not r["skipped"]}
    assert {"upgrade-failed", "roundtrip-failed", "model-drift"} <= ran
    steps = report.to_dict()["steps"]
    # The roundtrip's downgrade and upgrade follow the walk's upgrade on the same
    # database: they run in its env.py session, or, one env.py run per step, reuse its
    # connection unless the engine cannot be kept (an async one).
    roundtrip = {s["connections"] for s in steps if s["purpose"] == "roundtrip"}
    first = {s["connections"] for s in steps if s["purpose"] in ("walk", "seeded")}
    # An async env.py runs once per step even with sessions (see _env_session.suits).
    reused = reused or (sessions == "session" and style is not ENV_ASYNC)
    assert (first, roundtrip) == (({1}, {0}) if reused else ({1}, {1}))


def test_async_env_on_postgresql(project: Project) -> None:
    need_binaries("postgresql")
    drill_project(project, env=ENV_ASYNC, url="postgresql+asyncpg://u:p@h/db", models=MODELS)
    two_revisions(project)
    with Server("local:postgresql") as server:
        report = Drill(project.ini, server=server).check()
    assert report.ok and report.findings == [], [f.message for f in report.findings]


def test_env_py_that_connects_elsewhere_is_stopped(
    project: Project, tmp_path: Path, sqlite_server: Server
) -> None:
    elsewhere = tmp_path / "production.db"
    sqlite3.connect(elsewhere).close()
    drill_project(project, env=ENV_ELSEWHERE.replace("{elsewhere}", str(elsewhere)))
    two_revisions(project)
    with pytest.raises(AlembicDrillError, match=r"production\.db.*never runs migrations"):
        Drill(project.ini, server=sqlite_server).check()
    tables = sqlite3.connect(elsewhere).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == []  # not one statement reached it


def test_bootstrap_prepares_tables_made_outside_migrations(
    project: Project, sqlite_server: Server
) -> None:
    """A base revision that alters a table the application creates itself."""
    drill_project(project)
    project.add(
        "aaa111",
        None,
        upgrade='op.add_column("accounts", sa.Column("email", sa.String(100)))',
        downgrade='with op.batch_alter_table("accounts") as b:\n    b.drop_column("email")',
    )
    without = Drill(project.ini, server=sqlite_server, skip=["model-drift"]).check()
    assert [(f.check, f.revision) for f in without.findings] == [("upgrade-failed", "aaa111")]
    bootstrap = project.root / "bootstrap.sql"
    bootstrap.write_text(
        "-- what the application's create_all() makes\n"
        "CREATE TABLE accounts (\n  id INTEGER PRIMARY KEY,\n  name VARCHAR(50)\n);\n"
    )
    report = Drill(
        project.ini, server=sqlite_server, skip=["model-drift"], bootstrap=str(bootstrap)
    ).check()
    assert report.ok and report.findings == [], [f.message for f in report.findings]
