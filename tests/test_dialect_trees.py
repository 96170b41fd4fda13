"""Projects whose env.py chooses the version folder at run time (one tree of revision
scripts per dialect, picked from the URL's dialect): `lint` and `check` must see the
scripts Alembic will run for the chosen engine, not the folder alembic.ini names."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from drill_support import write
from servers_support import need_binaries

from alembic_drill import Drill, Server, load_history
from conftest import Project

#: env.py as such projects write it: the folder comes from the URL's dialect, before
#: Alembic loads any script (it reads them when the migrations start).
ENV_PER_DIALECT = """
import os
from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlalchemy.engine import make_url

config = context.config
dialect = make_url(config.get_main_option("sqlalchemy.url")).get_backend_name()
here = os.path.dirname(os.path.abspath(__file__))
context.script.version_locations = [os.path.join(here, f"versions_{dialect}")]
context.script.__dict__.pop("_version_locations", None)


def run(connection):
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
    else:
        engine = engine_from_config(
            config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        with engine.connect() as conn:
            run(conn)
"""

INI = """\
[alembic]
script_location = %(here)s/migrations
path_separator = os
sqlalchemy.url = {url}
"""

#: The SQLite tree: two revisions. The PostgreSQL tree: three, the last one's
#: downgrade left as a stub (so lint tells the trees apart).
SQLITE_TREE = {"5a1100000001": None, "5a1100000002": "5a1100000001"}
POSTGRES_TREE = {
    "9f0000000001": None,
    "9f0000000002": "9f0000000001",
    "9f0000000003": "9f0000000002",
}


def dialect_project(project: Project, url: str) -> Project:
    project.ini.write_text(INI.format(url=url))
    write(project.root / "migrations" / "env.py", ENV_PER_DIALECT)
    project.versions.rmdir()  # the folder alembic.ini implies holds nothing
    for tree, revisions in (("sqlite", SQLITE_TREE), ("postgresql", POSTGRES_TREE)):
        folder = project.root / "migrations" / f"versions_{tree}"
        folder.mkdir()
        for rev, down in revisions.items():
            stub = rev == "9f0000000003"
            (folder / f"{rev}_rev.py").write_text(_script(rev, down, stub_downgrade=stub))
    return project


def _script(rev: str, down: str | None, *, stub_downgrade: bool) -> str:
    from conftest import script

    if stub_downgrade:
        return script(rev, down, downgrade="pass")
    return script(rev, down)


@pytest.fixture(scope="module")
def postgres() -> Iterator[Server]:
    need_binaries("postgresql")
    with Server("local:postgresql") as server:
        yield server


@pytest.mark.parametrize(
    ("url", "tree"),
    [("sqlite:///app.db", SQLITE_TREE), ("postgresql://u:p@db.example/app", POSTGRES_TREE)],
    ids=["sqlite", "postgresql"],
)
def test_lint_reads_the_tree_env_py_chooses_for_the_projects_url(
    project: Project,
    run_cli,  # type: ignore[no-untyped-def]
    url: str,
    tree: dict[str, str | None],
) -> None:
    dialect_project(project, url)
    history = load_history(project.ini)
    assert sorted(history.order) == sorted(tree)
    lint = run_cli("lint", "-c", str(project.root), "--json")
    stubs = [f["revision"] for f in lint.json()["findings"] if f["check"] == "stub-downgrade"]
    assert stubs == (["9f0000000003"] if tree is POSTGRES_TREE else [])


def _walked(report) -> set[str]:  # type: ignore[no-untyped-def]
    return {s["revision"] for s in report.to_dict()["steps"]}


@pytest.mark.parametrize("project_url", ["sqlite:///app.db", "postgresql://u:p@db.example/app"])
def test_check_on_sqlite_walks_the_sqlite_tree(project: Project, project_url: str) -> None:
    dialect_project(project, project_url)
    with Server("sqlite") as server:
        report = Drill(project.ini, server=server, skip=["model-drift"]).check()
    assert _walked(report) == set(SQLITE_TREE)
    assert report.ok, [f.message for f in report.findings]


@pytest.mark.parametrize("project_url", ["sqlite:///app.db", "postgresql://u:p@db.example/app"])
def test_check_on_postgresql_walks_the_postgresql_tree(
    project: Project, postgres: Server, project_url: str
) -> None:
    dialect_project(project, project_url)
    report = Drill(project.ini, server=postgres, skip=["model-drift"]).check()
    assert _walked(report) == set(POSTGRES_TREE)
    errors = sorted((f.check, f.revision) for f in report.findings if f.severity == "error")
    assert ("stub-downgrade", "9f0000000003") in errors


def test_the_cli_check_with_a_spec_walks_that_engines_tree(
    project: Project,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    dialect_project(project, "postgresql://u:p@db.example/app")
    run = run_cli("check", "-c", str(project.root), "--database", "sqlite", "--skip", "model-drift")
    assert run.code == 0, run.out + run.err
    assert "ok: 2 revisions" in run.out
