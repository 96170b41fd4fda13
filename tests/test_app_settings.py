"""Applications that read their database URL once, at import, and keep it (a settings
module, a module-level engine): with ``url_env`` they run as they are, because the
variable holds a URL alembic-drill owns before anything of the project is imported; and
when env.py still connects elsewhere, the run stops naming the setting that would point
the application at the rehearsal database."""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from drill_support import drill_project, write
from servers_support import need_binaries

from alembic_drill import Drill, Server
from conftest import Project

#: The application's settings: read once, when first imported (no default: an app that
#: cannot start without its URL).
APP_CONFIG = """
import os

DATABASE_URL = os.environ["DATABASE_URL"]
"""

#: A module-level engine made from the cached URL (pooled, as an application's is).
APP_DB = """
from sqlalchemy import create_engine

import app_config

engine = create_engine(app_config.DATABASE_URL)
"""

ENV_CACHED_URL = """
from alembic import context
from sqlalchemy import create_engine, pool

from app_config import DATABASE_URL

engine = create_engine(DATABASE_URL, poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
"""

ENV_APP_ENGINE = """
from alembic import context

from app_db import engine

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
"""

#: An async application: its engine made at import, env.py runs it with asyncio.run().
APP_ASYNC_DB = """
from sqlalchemy.ext.asyncio import create_async_engine

import app_config

engine = create_async_engine(app_config.DATABASE_URL)
"""

ENV_APP_ASYNC_ENGINE = """
import asyncio

from alembic import context

from app_db import engine


def do_run_migrations(connection):
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


async def main():
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
        await connection.commit()
    await engine.dispose()


asyncio.run(main())
"""

APP_MODULES = ("app_config", "app_db")


@pytest.fixture(autouse=True)
def fresh_app_modules(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test imports its own project's application, with no DATABASE_URL of ours."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    yield
    # The application's own engine keeps a pooled connection, as an application's does:
    # closed here rather than left to the garbage collector.
    engine = getattr(sys.modules.get("app_db"), "engine", None)
    if isinstance(engine, sa.engine.Engine):
        engine.dispose()
    for name in APP_MODULES:
        sys.modules.pop(name, None)


def app_project(project: Project, env: str, url: str, url_env: bool = True) -> Project:
    drill_project(project, env=env, url=url)
    write(project.root / "app_config.py", APP_CONFIG)
    write(project.root / "app_db.py", APP_DB)
    project.linear("aaa111", "bbb222", "ccc333")
    # A revision that imports the application when it is loaded, before any database.
    first = project.scripts["aaa111_rev.py"]
    first.write_text(
        first.read_text().replace(
            "import sqlalchemy as sa\n", "import sqlalchemy as sa\nimport app_db\n"
        )
    )
    if url_env:
        (project.root / "pyproject.toml").write_text(
            '[tool.alembic-drill]\nurl_env = "DATABASE_URL"\n'
        )
    return project


@pytest.fixture(scope="module")
def postgres() -> Iterator[Server]:
    need_binaries("postgresql")
    with Server("local:postgresql") as server:
        yield server


def _walked(report) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(s["revision"], s["direction"]) for s in report.to_dict()["steps"] if s["ok"]}


@pytest.mark.parametrize("env", [ENV_CACHED_URL, ENV_APP_ENGINE], ids=["cached-url", "app-engine"])
def test_an_app_that_reads_its_url_at_import_runs_on_sqlite(project: Project, env: str) -> None:
    app_project(project, env, "sqlite:///app.db")
    with Server("sqlite") as server:
        report = Drill(project.ini, server=server, skip=["model-drift"]).check()
    assert report.ok and report.findings == [], [f.message for f in report.findings]
    assert {("ccc333", "upgrade"), ("ccc333", "downgrade")} <= _walked(report)
    assert "DATABASE_URL" not in os.environ  # the variable is the user's again
    assert not (project.root / "app.db").exists()


@pytest.mark.parametrize("env", [ENV_CACHED_URL, ENV_APP_ENGINE], ids=["cached-url", "app-engine"])
def test_an_app_that_reads_its_url_at_import_runs_on_postgresql(
    project: Project, postgres: Server, env: str
) -> None:
    app_project(project, env, "postgresql://u:p@db.example/app")
    report = Drill(project.ini, server=postgres, skip=["model-drift"]).check()
    assert report.ok and report.findings == [], [f.message for f in report.findings]
    assert {("ccc333", "upgrade"), ("ccc333", "downgrade")} <= _walked(report)


def test_an_async_app_engine_made_at_import_runs_on_postgresql(
    project: Project, postgres: Server
) -> None:
    app_project(project, ENV_APP_ASYNC_ENGINE, "postgresql+asyncpg://u:p@db.example/app")
    write(project.root / "app_db.py", APP_ASYNC_DB)
    first = project.scripts["aaa111_rev.py"]
    first.write_text(first.read_text().replace("import app_db\n", "import app_config\n"))
    report = Drill(project.ini, server=postgres, skip=["model-drift"]).check()
    assert report.ok and report.findings == [], [f.message for f in report.findings]
    assert {("ccc333", "upgrade"), ("ccc333", "downgrade")} <= _walked(report)


def test_the_cli_runs_it_with_the_users_own_url_set(
    project: Project,
    run_cli,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    production = tmp_path / "production.db"
    sqlite3.connect(production).close()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{production}")
    app_project(project, ENV_APP_ENGINE, "sqlite:///app.db")
    run = run_cli("check", "-c", str(project.root), "--database", "sqlite", "--skip", "model-drift")
    assert run.code == 0, run.out + run.err
    assert os.environ["DATABASE_URL"] == f"sqlite:///{production}"
    assert sqlite3.connect(production).execute("SELECT name FROM sqlite_master").fetchall() == []


def test_without_url_env_the_guard_stops_the_run_and_names_the_setting(
    project: Project,
    run_cli,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    production = tmp_path / "production.db"
    sqlite3.connect(production).close()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{production}")
    app_project(project, ENV_CACHED_URL, "sqlite:///app.db", url_env=False)
    run = run_cli("check", "-c", str(project.root), "--database", "sqlite", "--skip", "model-drift")
    assert run.code == 2, run.out + run.err
    line = run.err.strip().splitlines()[-1]
    assert line.startswith("alembic-drill: error: env.py connected to") and "production.db" in line
    assert 'url_env = "DATABASE_URL"' in line
    assert sqlite3.connect(production).execute("SELECT name FROM sqlite_master").fetchall() == []
