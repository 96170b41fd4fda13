"""Patterns of real projects that must run as they are, with at most a few settings:
Alembic's own autocommit block, drivers, env.py failures that are not the revision's,
odd ``target_metadata`` values."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
from drill_support import ENV_CONNECTION, drill_project
from servers_support import need_binaries
from test_env_styles import ENV_ASYNC, ENV_URL_ONLY

import alembic_drill
from alembic_drill import AlembicDrillError, Drill, Server
from conftest import Project

pytest_plugins = ["pytester"]

CONCURRENT_INDEX_UP = """\
op.create_table("books", sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("title", sa.String(50)))
with op.get_context().autocommit_block():
    op.create_index("ix_books_title", "books", ["title"], postgresql_concurrently=True)
"""
CONCURRENT_INDEX_DOWN = """\
with op.get_context().autocommit_block():
    op.drop_index("ix_books_title", table_name="books", postgresql_concurrently=True)
op.drop_table("books")
"""


@pytest.fixture(scope="module")
def postgres() -> Iterator[Server]:
    need_binaries("postgresql")
    with Server("local:postgresql") as server:
        yield server


@pytest.mark.parametrize(
    ("env", "driver"),
    [
        (ENV_CONNECTION, "postgresql+psycopg"),
        (ENV_URL_ONLY, "postgresql+psycopg"),
        (ENV_ASYNC, "postgresql+asyncpg"),
    ],
    ids=["handed-over-connection", "own-engine", "async"],
)
def test_an_index_built_concurrently_in_alembics_autocommit_block(
    project: Project, postgres: Server, env: str, driver: str
) -> None:
    drill_project(project, env=env, url=f"{driver}://u:p@h/db")
    project.add("aaa111", None, upgrade=CONCURRENT_INDEX_UP, downgrade=CONCURRENT_INDEX_DOWN)
    project.add("bbb222", "aaa111")
    report = Drill(project.ini, server=postgres, skip=["model-drift"]).check()
    assert [f.message for f in report.findings] == []
    steps = report.to_dict()["steps"]
    assert {(s["revision"], s["direction"]) for s in steps if s["ok"]} >= {
        ("aaa111", "upgrade"),
        ("aaa111", "downgrade"),
    }


# -- drivers: the one that is installed -----------------------------------------------------


def venv_with(root: Path, *distributions: str) -> Path:
    """A real virtual environment holding only ``distributions`` (and what every run
    needs: alembic, SQLAlchemy and alembic-drill itself), linked from this one's
    site-packages: a project whose venv lacks the driver the servers' URLs name."""
    venv.create(root, with_pip=False, symlinks=True)
    (site,) = root.glob("lib/python*/site-packages")
    for name in _with_requirements({"alembic", *distributions}):
        dist = importlib.metadata.distribution(name)
        tops = {Path(str(f)).parts[0] for f in dist.files or ()}
        for top in tops - {"..", "bin"}:
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (site / top).exists():
                (site / top).symlink_to(source)
    package = Path(alembic_drill.__file__).parent
    (site / "alembic_drill").symlink_to(package)
    return root / "bin" / "python"


def _with_requirements(names: set[str]) -> set[str]:
    """``names`` and every distribution they require (extras left out)."""
    found: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name.lower() in found:
            continue
        try:
            requirements = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # required only on other platforms or Pythons
        found.add(name.lower())
        for requirement in requirements:
            if "extra ==" in requirement:
                continue
            marker = requirement.partition(";")[2]
            if "python_version < " in marker:
                continue
            todo.append(re.split(r"[\s<>=!~\[;(]", requirement, maxsplit=1)[0])
    return found


def run_check(python: Path, project: Project, database: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-c", "import sys; from alembic_drill.cli import main; sys.exit(main())",
         "check", "-c", str(project.root), "--database", database, "--skip", "model-drift"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("driver", "url", "database"),
    [
        ("psycopg2-binary", "postgresql://app@db/app", "local:postgresql"),
        ("pg8000", "postgresql+psycopg://app@db/app", "local:postgresql"),
        ("PyMySQL", "mysql://app@db/app", "local:mariadb"),
    ],
    ids=["psycopg2-only", "pg8000-only-project-names-psycopg", "pymysql-only"],
)
def test_env_py_gets_a_driver_that_is_installed(
    project: Project, tmp_path: Path, driver: str, url: str, database: str
) -> None:
    need_binaries("postgresql" if "postgresql" in database else "mariadb")
    python = venv_with(tmp_path / "venv", driver)
    drill_project(project, url=url)
    project.linear("aaa111", "bbb222")
    run = run_check(python, project, database)
    assert run.returncode == 0, run.stderr
    assert "No module named" not in run.stderr + run.stdout


def test_no_driver_installed_is_exit_2_naming_the_package(project: Project, tmp_path: Path) -> None:
    need_binaries("postgresql")
    python = venv_with(tmp_path / "venv")
    drill_project(project, url="postgresql://app@db/app")
    project.linear("aaa111")
    run = run_check(python, project, "local:postgresql")
    assert run.returncode == 2, run.stdout + run.stderr
    errors = [line for line in run.stderr.splitlines() if "error" in line]
    assert errors == [
        "alembic-drill: error: no postgresql driver is installed for SQLAlchemy: "
        "pip install psycopg[binary] or psycopg2-binary or pg8000"
    ]
    assert "Traceback" not in run.stderr


# -- failures of the environment are not findings ------------------------------------------


def test_env_py_that_raises_at_import_is_exit_2_not_a_finding(
    project: Project,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    drill_project(project)
    env = project.root / "migrations" / "env.py"
    env.write_text("import not_installed_settings_module\n" + env.read_text())
    project.linear("aaa111", "bbb222")
    run = run_cli("check", "-c", str(project.root), "--database", "sqlite")
    assert run.code == 2
    assert run.err.splitlines()[-1] == (
        "alembic-drill: error: env.py failed before Alembic ran any migration: "
        "ModuleNotFoundError: No module named 'not_installed_settings_module'"
    )
    assert "upgrade-failed" not in run.out + run.err


def test_a_revisions_own_error_is_still_a_finding(project: Project) -> None:
    drill_project(project)
    project.add("aaa111", None, upgrade='op.execute("SELECT * FROM no_such_table")')
    with Server("sqlite") as server:
        report = Drill(project.ini, server=server, skip=["model-drift"]).check()
    assert [(f.check, f.revision) for f in report.findings] == [("upgrade-failed", "aaa111")]


# -- target_metadata ------------------------------------------------------------------------

TWO_METADATAS = """
import sqlalchemy as sa
one = sa.MetaData()
two = sa.MetaData()
sa.Table("t_aaa111", one, sa.Column("id", sa.Integer, primary_key=True))
sa.Table("t_bbb222", two, sa.Column("id", sa.Integer, primary_key=True))
metadata = [one, two]
"""

CLASSES = """
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

class Base(DeclarativeBase):
    pass

class A(Base):
    __tablename__ = "t_aaa111"
    id: Mapped[int] = mapped_column(primary_key=True)

metadata = [A]
"""


def test_target_metadata_as_a_list_of_metadata_is_compared(project: Project) -> None:
    drill_project(project, models=TWO_METADATAS)
    project.linear("aaa111", "bbb222", "ccc333")  # t_ccc333 is not in the models
    with Server("sqlite") as server:
        report = Drill(project.ini, server=server).check()
    drift = [f.message for f in report.findings if f.check == "model-drift"]
    assert len(drift) == 1 and "t_ccc333" in drift[0], drift


def test_target_metadata_of_another_kind_skips_model_drift_with_a_reason(
    project: Project,
) -> None:
    drill_project(project, models=CLASSES)
    project.linear("aaa111")
    with Server("sqlite") as server:
        report = Drill(project.ini, server=server).check()
    assert report.ok and report.findings == []
    (skip,) = [r for r in report.to_dict()["checks"] if r["check"] == "model-drift"]
    assert skip["skipped"] == (
        "env.py passes target_metadata as a list holding DeclarativeAttributeIntercept, not "
        "a MetaData or a sequence of MetaData, so the models cannot be compared"
    )


# -- async env.py files and what they need to be called from --------------------------------

ENV_ANYIO = """
import anyio.from_thread
from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

config = context.config
target_metadata = None


def do_run_migrations(connection):
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations():
    engine = create_async_engine(config.get_main_option("sqlalchemy.url"))
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
        await connection.commit()
    await engine.dispose()


# As the application's own upgrade command runs it: from an AnyIO worker thread.
anyio.from_thread.run(run_async_migrations)
"""

ENV_GET_EVENT_LOOP = ENV_ANYIO.replace("import anyio.from_thread\n", "import asyncio\n").replace(
    "anyio.from_thread.run(run_async_migrations)",
    "asyncio.get_event_loop().run_until_complete(run_async_migrations())",
)


@pytest.mark.parametrize("env", [ENV_ANYIO, ENV_GET_EVENT_LOOP], ids=["anyio", "get-event-loop"])
def test_async_env_py_that_needs_its_caller_in_a_certain_place(project: Project, env: str) -> None:
    drill_project(project, env=env, url="sqlite+aiosqlite:///app.db")
    project.linear("aaa111", "bbb222")
    with Server("sqlite") as server:
        report = Drill(project.ini, server=server, skip=["model-drift"]).check()
    assert report.ok and report.findings == [], [f.message for f in report.findings]
    assert {s["ok"] for s in report.to_dict()["steps"]} == {True}


def test_env_runner_setting_when_env_py_hides_its_async_pattern(project: Project) -> None:
    """env.py calls the application's helper, which uses AnyIO: reading env.py cannot
    tell, so the project names the runner in [tool.alembic-drill]."""
    (project.root / "app_migrate.py").write_text(
        "import anyio.from_thread\n"
        "from alembic import context\n"
        "from sqlalchemy.ext.asyncio import create_async_engine\n\n\n"
        "def do_run_migrations(connection):\n"
        "    context.configure(connection=connection, target_metadata=None)\n"
        "    with context.begin_transaction():\n"
        "        context.run_migrations()\n\n\n"
        "async def run_async_migrations():\n"
        "    engine = create_async_engine(context.config.get_main_option('sqlalchemy.url'))\n"
        "    async with engine.connect() as connection:\n"
        "        await connection.run_sync(do_run_migrations)\n"
        "        await connection.commit()\n"
        "    await engine.dispose()\n\n\n"
        "def migrate():\n"
        "    anyio.from_thread.run(run_async_migrations)\n"
    )
    drill_project(project, env="import app_migrate\napp_migrate.migrate()\n")
    project.ini.write_text(project.ini.read_text().replace("sqlite://", "sqlite+aiosqlite://"))
    project.linear("aaa111")
    with Server("sqlite") as server, pytest.raises(AlembicDrillError, match="NoEventLoopError"):
        Drill(project.ini, server=server, skip=["model-drift"]).check()
    (project.root / "pyproject.toml").write_text('[tool.alembic-drill]\nenv_runner = "anyio"\n')
    with Server("sqlite") as server:
        report = Drill(project.ini, server=server, skip=["model-drift"]).check()
    assert report.ok and report.findings == [], [f.message for f in report.findings]


def test_env_runner_setting_must_name_a_runner(project: Project) -> None:
    drill_project(project)
    (project.root / "pyproject.toml").write_text('[tool.alembic-drill]\nenv_runner = "trio"\n')
    with pytest.raises(AlembicDrillError, match="env_runner must be one of auto, direct"):
        Drill(project.ini)


# -- code that must run before the scripts load --------------------------------------------

APP_STATE = """
INSTANCE = None
EVENTS = []


def instance():
    if INSTANCE is None:
        raise RuntimeError("App not initialized yet")
    return INSTANCE
"""

APP_BOOT = """
import contextlib
import app_state


@contextlib.contextmanager
def start():
    app_state.INSTANCE = "app"
    app_state.EVENTS.append("enter")
    try:
        yield
    finally:
        app_state.EVENTS.append("exit")


def start_plain():
    app_state.INSTANCE = "app"
"""

#: A revision whose module asks for the application when it is imported.
NEEDS_APP = """\
import app_state

_APP = app_state.instance()
"""


def app_project(project: Project, prepare: str | None) -> None:
    drill_project(project)
    (project.root / "app_state.py").write_text(APP_STATE)
    (project.root / "app_boot.py").write_text(APP_BOOT)
    project.linear("aaa111", "bbb222")
    first = project.scripts["aaa111_rev.py"]
    first.write_text(
        first.read_text().replace(
            "import sqlalchemy as sa\n", "import sqlalchemy as sa\n" + NEEDS_APP
        )
    )
    if prepare:
        (project.root / "pyproject.toml").write_text(
            f'[tool.alembic-drill]\nprepare = "{prepare}"\n'
        )


@pytest.fixture
def fresh_app_modules() -> Iterator[None]:
    """The test projects' app modules are imported by the tests' own interpreter: forget
    them after each test."""
    yield
    for name in ("app_state", "app_boot"):
        sys.modules.pop(name, None)


@pytest.mark.usefixtures("fresh_app_modules")
def test_without_prepare_the_scripts_cannot_load(
    project: Project,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    app_project(project, prepare=None)
    run = run_cli("lint", "-c", str(project.root))
    assert run.code == 1
    assert "error[script-error]" in run.out and "App not initialized yet" in run.out


@pytest.mark.usefixtures("fresh_app_modules")
@pytest.mark.parametrize("prepare", ["app_boot:start", "app_boot:start_plain"])
def test_prepare_runs_before_the_scripts_load(
    project: Project,
    run_cli,
    prepare: str,  # type: ignore[no-untyped-def]
) -> None:
    app_project(project, prepare=prepare)
    lint = run_cli("lint", "-c", str(project.root))
    assert lint.code == 0 and "0 errors" in lint.out, lint.out + lint.err
    with (
        Server("sqlite") as server,
        Drill(project.ini, server=server, skip=["model-drift"]) as drill,
    ):
        report = drill.check()
        events = list(sys.modules["app_state"].EVENTS)
    assert report.ok and report.findings == [], [f.message for f in report.findings]
    if prepare == "app_boot:start":
        assert events == ["enter", "exit", "enter"]  # lint's run, then the drill's, open
        assert sys.modules["app_state"].EVENTS == ["enter", "exit", "enter", "exit"]


def test_a_prepare_that_cannot_be_imported_is_exit_2(
    project: Project,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    drill_project(project)
    project.linear("aaa111")
    (project.root / "pyproject.toml").write_text('[tool.alembic-drill]\nprepare = "nope:start"\n')
    run = run_cli("check", "-c", str(project.root), "--database", "sqlite")
    assert run.code == 2
    assert (
        run.err.strip()
        .splitlines()[-1]
        .startswith("alembic-drill: error: prepare 'nope:start': cannot import nope")
    )


def test_the_pytest_hook_prepares_the_app(pytester: pytest.Pytester) -> None:
    project = Project(pytester.path)
    (project.root / "migrations" / "versions").mkdir(parents=True)
    app_project(project, prepare=None)
    pytester.makeconftest(
        "import app_boot\n\n\ndef pytest_alembic_drill_prepare(config):\n"
        "    return app_boot.start()\n"
    )
    result = pytester.runpytest_subprocess("--alembic-drill", "--alembic-drill-database=sqlite")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) > 0 and set(outcomes) <= {"passed", "skipped"}, outcomes
    assert "App not initialized" not in result.stdout.str()
