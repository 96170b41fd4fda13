"""`check`: each drill check catches its defect on every engine where the defect exists,
and healthy histories come out clean."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from drill_support import HAZARD_CHECKS, checks_found, drill_project
from servers_support import DRILL_ENGINES, engine_server

from alembic_drill import Drill, Server
from conftest import Project


@pytest.fixture(scope="module", params=DRILL_ENGINES)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with engine_server(request.param) as started:
        yield started


def drill(project: Project, server: Server, **kwargs: object):  # type: ignore[no-untyped-def]
    return Drill(project.ini, server=server, **kwargs).check()  # type: ignore[arg-type]


TABLE = (
    'op.create_table("{rev}", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("name", sa.String(50)))'
)
DROP = 'op.drop_table("{rev}")'


def test_healthy_linear_history_is_clean(project: Project, server: Server) -> None:
    drill_project(project)
    project.linear("aaa111", "bbb222", "ccc333")
    report = drill(project, server)
    assert report.ok, [f.message for f in report.findings]
    assert report.findings == []
    runs = report.to_dict()["checks"]
    ran = {(r["check"], r["revision"]) for r in runs if not r["skipped"]}
    for rev in ("aaa111", "bbb222", "ccc333"):
        assert {
            ("upgrade-failed", rev),
            ("roundtrip-failed", rev),
            ("downgrade-leaves-trace", rev),
        } <= ran
    # Where the time went: each activity counted as often as it ran.
    phases = report.to_dict()["phases"]
    # Two snapshots per revision, and where DDL is not transactional (MySQL, SQLite) one
    # more before the downgrade, to tell whether a failed one left a half-done state.
    snapshots = 6 if server.engine == "postgresql" else 9
    assert phases["upgrade (walk)"]["count"] == 3 and phases["snapshot"]["count"] == snapshots
    assert phases["seed (every table)"]["count"] == 1, "seeded once, then only new tables"


def test_healthy_branched_and_merged_history_is_clean(project: Project, server: Server) -> None:
    drill_project(project)
    project.add("aaa111", None, upgrade=TABLE, downgrade=DROP)
    project.add("bbb222", "aaa111", upgrade=TABLE, downgrade=DROP)
    project.add("ccc333", "aaa111", upgrade=TABLE, downgrade=DROP)
    project.add("ddd444", ("bbb222", "ccc333"), upgrade="pass", downgrade="pass")
    project.add("eee555", "ddd444", upgrade=TABLE, downgrade=DROP)
    report = drill(project, server)
    assert report.ok and report.findings == [], [f.message for f in report.findings]


def test_upgrade_failed_stops_the_branch(project: Project, server: Server) -> None:
    drill_project(project)
    project.add("aaa111", None)
    project.add("bbb222", "aaa111", upgrade='op.execute("SELECT * FROM no_such_table")')
    project.add("ccc333", "bbb222")
    report = drill(project, server)
    assert checks_found(report) == [("upgrade-failed", "bbb222")]
    finding = report.findings[0]
    assert "no_such_table" in finding.message and finding.path.endswith("bbb222_rev.py")
    skipped = {
        r["check"]: r["skipped"] for r in report.to_dict()["checks"] if r["revision"] == "ccc333"
    }
    assert skipped == {
        check: "not reached: bbb222 did not upgrade"
        for check in (
            "upgrade-failed",
            "downgrade-failed",
            "roundtrip-failed",
            "downgrade-leaves-trace",
            "data-dependent-failure",
            "destroys-data",
            "downgrade-loses-data",
            "not-idempotent",
            *HAZARD_CHECKS,
        )
    }


def test_downgrade_failed(project: Project, server: Server) -> None:
    drill_project(project)
    project.add("aaa111", None)
    project.add("bbb222", "aaa111", downgrade='op.drop_table("never_created")')
    report = drill(project, server)
    assert checks_found(report) == [("downgrade-failed", "bbb222")]


def test_irreversible_and_oldest_downgrade_are_info(project: Project, server: Server) -> None:
    drill_project(project)
    project.add("aaa111", None, downgrade='op.drop_table("never_created")')
    project.add("bbb222", "aaa111", downgrade='raise NotImplementedError("data is gone")')
    project.add("ccc333", "bbb222")
    report = drill(project, server, oldest_downgrade="aaa111")
    assert report.ok, [f.message for f in report.findings]
    assert checks_found(report) == []
    assert checks_found(report, "info") == [
        ("downgrade-failed", "aaa111"),  # at or below oldest_downgrade
        ("downgrade-failed", "bbb222"),  # declared irreversible
        ("irreversible", "bbb222"),  # the static check's own finding
    ]


def test_roundtrip_failed_and_trace(project: Project, server: Server) -> None:
    drill_project(project)
    project.add("aaa111", None)
    project.add(
        "bbb222",
        "aaa111",
        upgrade='op.create_table("extra", sa.Column("id", sa.Integer, primary_key=True))\n'
        'op.create_table("other", sa.Column("id", sa.Integer, primary_key=True))',
        downgrade='op.drop_table("other")',
    )
    report = drill(project, server)
    assert checks_found(report) == [
        ("downgrade-leaves-trace", "bbb222"),
        ("roundtrip-failed", "bbb222"),
    ]
    trace = next(f for f in report.findings if f.check == "downgrade-leaves-trace")
    assert trace.message == (
        "after downgrading bbb222 the schema differs from before bbb222 was applied "
        "(- before, + after):\n+ table extra"
    )


def test_downgrade_leaves_a_column_behind(project: Project, server: Server) -> None:
    drill_project(project)
    project.add("aaa111", None, upgrade=TABLE, downgrade=DROP)
    project.add(
        "bbb222",
        "aaa111",
        upgrade='with op.batch_alter_table("aaa111") as b:\n'
        '    b.add_column(sa.Column("legacy_flag", sa.Boolean, nullable=True))\n'
        '    b.create_index("ix_aaa111_name", ["name"])',
        downgrade='with op.batch_alter_table("aaa111") as b:\n    b.drop_index("ix_aaa111_name")',
    )
    report = drill(project, server)
    # The column left behind also makes the second upgrade fail; the index, dropped, not.
    assert checks_found(report) == [
        ("downgrade-leaves-trace", "bbb222"),
        ("roundtrip-failed", "bbb222"),
    ]
    trace = next(f for f in report.findings if f.check == "downgrade-leaves-trace")
    boolean = "tinyint(1)" if server.engine == "mysql" else "boolean"
    assert trace.message.splitlines()[1:] == [f"+ aaa111.legacy_flag {boolean}"]


def test_data_dependent_failure(project: Project, server: Server) -> None:
    drill_project(project)
    project.add("aaa111", None, upgrade=TABLE, downgrade=DROP)
    if server.engine == "mysql":
        # MySQL fills a NOT NULL column with 0 on existing rows; converting text that is
        # not a number fails only when rows exist.
        change = 'op.alter_column("aaa111", "name", type_=sa.Integer, existing_type=sa.String(50))'
        undo = 'op.alter_column("aaa111", "name", type_=sa.String(50), existing_type=sa.Integer)'
    else:
        change = (
            'with op.batch_alter_table("aaa111") as b:\n'
            '    b.add_column(sa.Column("required", sa.Integer, nullable=False))'
        )
        undo = 'with op.batch_alter_table("aaa111") as b:\n    b.drop_column("required")'
    project.add("bbb222", "aaa111", upgrade=change, downgrade=undo)
    report = drill(project, server)
    assert checks_found(report) == [("data-dependent-failure", "bbb222")]
    assert "rows" in report.findings[0].message


@pytest.mark.parametrize("backfilled", [False, True], ids=["not-backfilled", "backfilled"])
def test_rows_age_with_the_history(project: Project, server: Server, backfilled: bool) -> None:
    """A column added as nullable holds NULL on the rows already there, as in production:
    making it NOT NULL two revisions later fails unless a backfill comes first. Rows
    seeded afresh for each revision would give it values and hide the failure."""
    drill_project(project)
    project.add("aaa111", None, upgrade=TABLE, downgrade=DROP)
    nickname = 'sa.Column("nickname", sa.String(50), nullable=True)'
    project.add(
        "bbb222",
        "aaa111",
        upgrade=f'with op.batch_alter_table("aaa111") as b:\n    b.add_column({nickname})',
        downgrade='with op.batch_alter_table("aaa111") as b:\n    b.drop_column("nickname")',
    )
    backfill = "op.execute(\"UPDATE aaa111 SET nickname = 'n' WHERE nickname IS NULL\")\n"
    project.add(
        "ccc333",
        "bbb222",
        upgrade=(backfill if backfilled else "") + 'with op.batch_alter_table("aaa111") as b:\n'
        '    b.alter_column("nickname", existing_type=sa.String(50), nullable=False)',
        downgrade='with op.batch_alter_table("aaa111") as b:\n'
        '    b.alter_column("nickname", existing_type=sa.String(50), nullable=True)',
    )
    report = drill(project, server)
    if backfilled:
        # SET NOT NULL scans the rows on PostgreSQL: a true production hazard, no error.
        hazards = [("not-null-scan", "ccc333")] if server.engine == "postgresql" else []
        assert checks_found(report, "warning") == hazards
        assert report.ok, [f.message for f in report.findings]
    else:
        assert checks_found(report) == [("data-dependent-failure", "ccc333")]


def test_not_idempotent(project: Project, server: Server) -> None:
    drill_project(project)
    project.add("aaa111", None, upgrade=TABLE, downgrade=DROP)
    project.add(
        "bbb222",
        "aaa111",
        upgrade="op.execute(\"INSERT INTO aaa111 (name) VALUES ('default')\")",
        downgrade="op.execute(\"DELETE FROM aaa111 WHERE name = 'default'\")",
    )
    project.add(
        "ccc333",
        "bbb222",
        upgrade="op.execute(\"UPDATE aaa111 SET name = 'renamed' WHERE name = 'default'\")",
        downgrade="op.execute(\"UPDATE aaa111 SET name = 'default' WHERE name = 'renamed'\")",
    )
    report = drill(project, server)
    assert checks_found(report) == [("not-idempotent", "bbb222")]
    assert "aaa111" in report.findings[0].message and "rows" in report.findings[0].message


def test_model_drift(project: Project, server: Server) -> None:
    drill_project(
        project,
        models="""
        import sqlalchemy as sa
        metadata = sa.MetaData()
        sa.Table("aaa111", metadata, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("name", sa.String(50)), sa.Column("email", sa.String(100)))
        """,
    )
    project.add("aaa111", None, upgrade=TABLE, downgrade=DROP)
    report = drill(project, server)
    assert checks_found(report) == [("model-drift", "aaa111")]
    assert "aaa111.email" in report.findings[0].message


def test_skips_are_reported_with_reasons(project: Project, server: Server) -> None:
    drill_project(project)
    project.add("aaa111", None, upgrade=TABLE, downgrade=DROP)
    project.add("bbb222", "aaa111", downgrade='op.drop_table("never_created")')
    report = Drill(project.ini, server=server, skip=["model-drift"]).check()
    assert checks_found(report) == [("downgrade-failed", "bbb222")]
    runs = report.to_dict()["checks"]
    assert not [r for r in runs if r["check"] == "model-drift"]  # left out, not skipped
    skipped = sorted(
        (r["check"], r["revision"], r["skipped"])
        for r in runs
        if r["skipped"] and r["check"] not in HAZARD_CHECKS  # test_hazards.py has theirs
    )
    nothing_to_seed = "no table exists before this revision: nothing to seed"
    assert skipped == [
        ("data-dependent-failure", "aaa111", nothing_to_seed),
        ("destroys-data", "aaa111", nothing_to_seed),
        ("downgrade-leaves-trace", "bbb222", "the downgrade did not run"),
        ("downgrade-loses-data", "aaa111", nothing_to_seed),
        (
            "downgrade-loses-data",
            "bbb222",
            "the downgrade fails (downgrade-failed): the data its downgrade brings back "
            "cannot be judged",
        ),
        ("roundtrip-failed", "bbb222", "the downgrade did not run"),
    ]
