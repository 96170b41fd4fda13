"""One env.py run per database for a whole walk (alembic_drill._env_session): env.py runs
a small constant number of times, whatever the number of steps, and every step keeps
the semantics of a run of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from drill_support import checks_found, drill_project
from servers_support import DRILL_ENGINES, engine_server

from alembic_drill import Drill, Server
from alembic_drill._env_session import SWITCH
from conftest import Project

#: An env.py that counts its runs (a line each in env-runs.txt beside alembic.ini).
COUNTING = """
from pathlib import Path
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
with open(Path(config.config_file_name).parent / "env-runs.txt", "a") as runs:
    runs.write("run\\n")
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

#: The same, on a connection in a transaction env.py began itself: Alembic commits no
#: step before env.py ends, so env.py must run once per step.
COUNTING_OWN_TRANSACTION = COUNTING.replace(
    "with connectable.connect() as connection:",
    "with engine_from_config(config.get_section(config.config_ini_section, {}),\n"
    "        prefix='sqlalchemy.', poolclass=pool.NullPool).begin() as connection:",
)

TABLE = (
    'op.create_table("{rev}", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("name", sa.String(50)))\n'
    "op.execute(sa.text(\"INSERT INTO {rev} (id, name) VALUES (1, 'a')\"))"
)
DROP = 'op.drop_table("{rev}")'


@pytest.fixture(scope="module", params=DRILL_ENGINES)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with engine_server(request.param) as started:
        yield started


def runs(project: Project) -> int:
    return len((project.root / "env-runs.txt").read_text().splitlines())


def history(project: Project, revisions: int) -> None:
    down = None
    for i in range(revisions):
        rev = f"r{i:05d}"
        project.add(rev, down, upgrade=TABLE, downgrade=DROP)
        down = rev


@pytest.mark.parametrize("sessions", ["1", "0"])
def test_env_py_runs_a_constant_number_of_times_per_walk(
    project: Project, server: Server, sessions: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SWITCH, sessions)
    drill_project(project, env=COUNTING)
    history(project, 8)
    report = Drill(project.ini, server=server).check()
    assert report.ok and report.findings == [], [f.message for f in report.findings]
    steps = len(report.to_dict()["steps"])
    assert steps >= 8 * 4 - 1  # the first revision has no table to seed
    if sessions == "1":
        # A session per database: the main one (again after each clone of it), the
        # seeded one, the copy a replay runs on.
        assert runs(project) <= 6, (runs(project), steps)
    else:
        assert runs(project) >= steps


def test_env_py_in_its_own_transaction_runs_once_per_step(project: Project, server: Server) -> None:
    drill_project(project, env=COUNTING_OWN_TRANSACTION)
    history(project, 3)
    report = Drill(project.ini, server=server).check()
    assert report.ok and report.findings == [], [f.message for f in report.findings]
    assert runs(project) >= len(report.to_dict()["steps"])


def test_a_failed_step_ends_its_session_and_the_walk_goes_on(
    project: Project, server: Server
) -> None:
    """The failed downgrade's session ends with its transaction rolled back; the next
    steps run in a new one that reads the version table afresh."""
    drill_project(project, env=COUNTING)
    project.add("aaa111", None, upgrade=TABLE, downgrade=DROP)
    project.add(
        "bbb222", "aaa111", upgrade=TABLE, downgrade=f'{DROP}\nraise RuntimeError("no way back")'
    )
    project.add("ccc333", "bbb222", upgrade=TABLE, downgrade=DROP)
    project.add("ddd444", "ccc333", upgrade=TABLE, downgrade=DROP)
    report = Drill(project.ini, server=server).check()
    assert checks_found(report) == [("downgrade-failed", "bbb222")], [
        f.message for f in report.findings
    ]
    ran = {(r["check"], r["revision"]) for r in report.to_dict()["checks"] if not r["skipped"]}
    assert {("roundtrip-failed", "ddd444"), ("downgrade-leaves-trace", "ddd444")} <= ran
    assert server.databases() == []


ENUM_TABLE = """\
op.create_table("{rev}", sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("kind", sa.Enum("a", "b", name="{rev}_kind")))"""
ENUM_DROP = """\
op.drop_table("{rev}")
sa.Enum("a", "b", name="{rev}_kind").drop(op.get_bind(), checkfirst=True)"""


def test_an_enum_type_dropped_by_a_downgrade_is_created_again(
    project: Project, tmp_path: Path
) -> None:
    """Alembic remembers the PostgreSQL enum types it created within a run; a session
    forgets them at each step, as a run per step does, so the roundtrip's upgrade creates
    the type its downgrade dropped."""
    with engine_server("local:postgresql") as server:
        drill_project(project, env=COUNTING)
        project.add("aaa111", None, upgrade=ENUM_TABLE, downgrade=ENUM_DROP)
        project.add("bbb222", "aaa111", upgrade=ENUM_TABLE, downgrade=ENUM_DROP)
        report = Drill(project.ini, server=server).check()
        assert report.ok and report.findings == [], [f.message for f in report.findings]
        assert runs(project) < len(report.to_dict()["steps"])
