"""Data that survives a rollback: `downgrade-loses-data` (the rows present before a
revision must all be back, with the same values, after its downgrade) and `destroys-data`
(an upgrade that drops columns or tables whose values go nowhere), on every engine, each
with a clean variant that must not be flagged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from drill_support import drill_project
from servers_support import DRILL_ENGINES, engine_server

from alembic_drill import Drill, DrillReport, Server
from conftest import Project


@pytest.fixture(scope="module", params=DRILL_ENGINES)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with engine_server(request.param) as started:
        yield started


def check(project: Project, server: Server, **settings: object) -> DrillReport:
    return Drill(
        project.ini, server=server, skip=["model-drift", "stub-downgrade"], **settings
    ).check()


def found(report: DrillReport) -> list[tuple[str, str, str | None]]:
    return sorted((f.severity, f.check, f.revision) for f in report.findings)


def message(report: DrillReport, check_id: str) -> str:
    (finding,) = [f for f in report.findings if f.check == check_id]
    return finding.message


NOTES = (
    'op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("body", sa.String(40), nullable=True))'
)
DROP_NOTES = 'op.drop_table("notes")'
DROP_BODY = "with op.batch_alter_table('notes') as b:\n    b.drop_column('body')"
ADD_BODY_BACK = "op.add_column('notes', sa.Column('body', sa.String(40), nullable=True))"


def base(project: Project) -> None:
    drill_project(project)
    project.add("aaa111", None, upgrade=NOTES, downgrade=DROP_NOTES)


def test_a_downgrade_that_brings_a_dropped_column_back_empty_loses_data(
    project: Project, server: Server
) -> None:
    """The schema comes back whole, so no schema check sees anything: only the rows
    show that the notes' bodies are gone."""
    base(project)
    project.add("bbb222", "aaa111", upgrade=DROP_BODY, downgrade=ADD_BODY_BACK)
    report = check(project, server)
    assert found(report) == [
        ("error", "downgrade-loses-data", "bbb222"),
        ("warning", "destroys-data", "bbb222"),
    ]
    lost = message(report, "downgrade-loses-data")
    assert "notes: column body differs in 3 of 3 rows (e.g. 'body_" in lost, lost
    assert "-> NULL)" in lost, lost
    destroyed = message(report, "destroys-data")
    assert "column body of notes dropped with values in 3 rows" in destroyed, destroyed


def test_a_copy_kept_and_restored_is_clean(project: Project, server: Server) -> None:
    """The same drop, with the data copied into a new column first and copied back by the
    downgrade: nothing is lost either way."""
    base(project)
    copy_then_drop = (
        "op.add_column('notes', sa.Column('text', sa.String(40), nullable=True))\n"
        "op.execute('UPDATE notes SET text = body')\n" + DROP_BODY
    )
    restore = (
        ADD_BODY_BACK + "\n"
        "op.execute('UPDATE notes SET body = text')\n"
        "with op.batch_alter_table('notes') as b:\n    b.drop_column('text')"
    )
    project.add("bbb222", "aaa111", upgrade=copy_then_drop, downgrade=restore)
    report = check(project, server)
    assert found(report) == []
    checks = {(run["check"], run["revision"]): run["skipped"] for run in report.to_dict()["checks"]}
    assert checks[("downgrade-loses-data", "bbb222")] is None
    # An upgrade that migrates data itself is left to the static drop-column warning.
    assert "migrates data itself" in checks[("destroys-data", "bbb222")]


MOVE_INTO_DOCUMENTS = (
    "op.create_table('documents', sa.Column('id', sa.Integer, primary_key=True), "
    "sa.Column('body', sa.String(40)))\n"
    "op.execute('INSERT INTO documents (id, body) SELECT id, body FROM notes')\n"
    "op.drop_table('notes')"
)


@pytest.mark.parametrize("moved_back", [False, True])
def test_a_table_moved_into_another_must_be_moved_back(
    project: Project, server: Server, moved_back: bool
) -> None:
    """Moving rows is no destruction (their values live on in the new table), but a
    downgrade that recreates the old table empty leaves every row behind."""
    base(project)
    move_back = (
        "op.execute('INSERT INTO notes (id, body) SELECT id, body FROM documents')\n"
        if moved_back
        else ""
    )
    downgrade = NOTES + "\n" + move_back + "op.drop_table('documents')"
    project.add("bbb222", "aaa111", upgrade=MOVE_INTO_DOCUMENTS, downgrade=downgrade)
    report = check(project, server)
    if moved_back:
        assert found(report) == []
    else:
        assert found(report) == [("error", "downgrade-loses-data", "bbb222")]
        lost = message(report, "downgrade-loses-data")
        assert "notes: 3 of 3 rows missing" in lost, lost


def test_a_downgrade_that_rewrites_data_and_misses_is_a_warning(
    project: Project, server: Server
) -> None:
    """The downgrade brings the column back and fills it from another one: on synthetic
    rows it misses, where production's consistent rows might not. A warning, not a claim."""
    base(project)
    project.add(
        "bbb222",
        "aaa111",
        upgrade=DROP_BODY,
        downgrade=ADD_BODY_BACK + "\nop.execute(\"UPDATE notes SET body = 'restored'\")",
    )
    report = check(project, server)
    assert found(report) == [
        ("warning", "destroys-data", "bbb222"),
        ("warning", "downgrade-loses-data", "bbb222"),
    ]
    assert "its downgrade rewrites data" in message(report, "downgrade-loses-data")


def test_a_revision_accepts_destroying_data_as_info(project: Project, server: Server) -> None:
    base(project)
    project.add("bbb222", "aaa111", upgrade=DROP_NOTES, downgrade=NOTES)
    report = check(
        project,
        server,
        accept={"bbb222": {"destroys-data": "archived by hand", "downgrade-loses-data": "same"}},
    )
    assert found(report) == [
        ("info", "destroys-data", "bbb222"),
        ("info", "downgrade-loses-data", "bbb222"),
    ]
    assert message(report, "destroys-data").endswith("(accepted for bbb222: archived by hand)")
    assert report.ok


def test_a_declared_irreversible_revision_is_not_judged(project: Project, server: Server) -> None:
    base(project)
    project.add(
        "bbb222",
        "aaa111",
        upgrade=DROP_BODY,
        downgrade='raise NotImplementedError("the bodies are archived elsewhere")',
    )
    report = check(project, server, accept={"bbb222": {"destroys-data": "archived"}})
    assert found(report) == [
        ("info", "destroys-data", "bbb222"),
        ("info", "downgrade-failed", "bbb222"),
        ("info", "irreversible", "bbb222"),
    ]
    (run,) = [
        r
        for r in report.to_dict()["checks"]
        if r["check"] == "downgrade-loses-data" and r["revision"] == "bbb222"
    ]
    assert "declared irreversible" in run["skipped"]


def test_a_drop_declared_intended_in_the_script_is_info(project: Project, server: Server) -> None:
    """The `ignore` comment that silences the static drop-column warning declares the
    dynamic destroys-data finding intended too."""
    base(project)
    project.add(
        "bbb222",
        "aaa111",
        upgrade="with op.batch_alter_table('notes') as b:\n"
        "    b.drop_column('body')  # alembic-drill: ignore[drop-column]",
        downgrade=ADD_BODY_BACK,
    )
    report = check(project, server)
    assert found(report) == [
        ("error", "downgrade-loses-data", "bbb222"),
        ("info", "destroys-data", "bbb222"),
    ]
    assert "declared intended in the script" in message(report, "destroys-data")


def test_binary_values_that_differ_are_a_warning(project: Project, server: Server) -> None:
    """A migration that decodes binary content (a pickle, a compressed blob) meets
    alembic-drill's bytes, which are not what it expects: what changed there is told as
    unverifiable, not as lost data."""
    drill_project(project)
    project.add(
        "aaa111",
        None,
        upgrade='op.create_table("files", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("data", sa.LargeBinary, nullable=True))',
        downgrade='op.drop_table("files")',
    )
    project.add(
        "bbb222",
        "aaa111",
        upgrade="op.get_bind().execute(sa.text('UPDATE files SET data = :d'), dict(d=b'packed'))",
        downgrade="pass",
    )
    report = check(project, server)
    assert ("warning", "downgrade-loses-data", "bbb222") in found(report)
    assert "binary values differ" in message(report, "downgrade-loses-data")
    assert not [f for f in report.findings if f.severity == "error"], report.findings
