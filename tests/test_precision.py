"""Findings are claims: each class of false error seen on real histories has a small
project here that must come out clean (or with exactly the right finding), on every
engine, while the real defects of the same shape stay caught."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from drill_support import drill_project
from servers_support import DRILL_ENGINES, engine_server

from alembic_drill import Drill, DrillReport, Server, load_history
from conftest import Project


@pytest.fixture(scope="module", params=DRILL_ENGINES)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with engine_server(request.param) as started:
        yield started


def findings(project: Project, server: Server) -> list[tuple[str, str, str | None]]:
    return found(check(project, server))


def check(project: Project, server: Server) -> DrillReport:
    return Drill(project.ini, server=server, skip=["model-drift", "stub-downgrade"]).check()


def found(report: DrillReport) -> list[tuple[str, str, str | None]]:
    return sorted((f.severity, f.check, f.revision) for f in report.findings)


def skip_reason(report: DrillReport, check_id: str, revision: str) -> str | None:
    for run in report.to_dict()["checks"]:
        if run["check"] == check_id and run["revision"] == revision:
            return run["skipped"]  # type: ignore[no-any-return]
    raise AssertionError(f"{check_id} {revision} not in the report")


USERS = (
    'op.create_table("users", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("name", sa.String(20), nullable=False))'
)
DROP_USERS = 'op.drop_table("users")'
ROLES = (
    'op.create_table("roles", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("code", sa.String(20), nullable=False, unique=True))'
)
DROP_ROLES = 'op.drop_table("roles")'


def base(project: Project, upgrade: str = USERS, downgrade: str = DROP_USERS) -> None:
    drill_project(project)
    project.add("aaa111", None, upgrade=upgrade, downgrade=downgrade)


# -- not-idempotent: the upgrade runs again on the data it already migrated -----------------


def test_a_backfill_guarded_in_python_is_idempotent(project: Project, server: Server) -> None:
    """The script looks for its reference row before inserting it: running it again
    inserts nothing. Replaying the captured INSERT without the guard was a false error."""
    base(project, ROLES, DROP_ROLES)
    guarded = (
        "conn = op.get_bind()\n"
        "roles = sa.table('roles', sa.column('code'))\n"
        "if conn.execute(sa.select(roles.c.code).where(roles.c.code == 'admin')).first() is None:\n"
        "    conn.execute(roles.insert().values(code='admin'))"
    )
    project.add(
        "bbb222",
        "aaa111",
        upgrade=guarded,
        downgrade="op.execute(\"DELETE FROM roles WHERE code = 'admin'\")",
    )
    assert findings(project, server) == []


def test_an_unguarded_reference_insert_is_not_idempotent(project: Project, server: Server) -> None:
    base(project, ROLES, DROP_ROLES)
    project.add(
        "bbb222",
        "aaa111",
        upgrade="op.execute(\"INSERT INTO roles (code) VALUES ('admin')\")",
        downgrade="op.execute(\"DELETE FROM roles WHERE code = 'admin'\")",
    )
    assert findings(project, server) == [("error", "not-idempotent", "bbb222")]


@pytest.mark.parametrize(
    "update",
    [
        "UPDATE users SET name = CONCAT(name, '-x')",
        "UPDATE users SET name = CASE WHEN name LIKE 'off%' THEN 'on' ELSE 'off' END",
    ],
    ids=["append-suffix", "flip"],
)
def test_updates_that_do_not_converge_are_not_idempotent(
    project: Project, server: Server, update: str
) -> None:
    if server.engine == "sqlite":
        update = update.replace("CONCAT(name, '-x')", "name || '-x'")
    base(project)
    project.add("bbb222", "aaa111", upgrade=f'op.execute("{update}")', downgrade="pass")
    # The downgrade (`pass`) leaves the names as the upgrade made them: true too.
    assert findings(project, server) == [
        ("error", "downgrade-loses-data", "bbb222"),
        ("error", "not-idempotent", "bbb222"),
    ]


def test_a_suffix_backfill_on_a_short_column_is_caught_not_hidden(
    project: Project, server: Server
) -> None:
    """Seeded text that filled VARCHAR(20) made `name || '-suffix'` overflow: a false
    data-dependent failure that also hid the real defect (running it twice appends twice)."""
    base(project)
    append = "CONCAT(name, '-suffix')" if server.engine != "sqlite" else "name || '-suffix'"
    project.add(
        "bbb222",
        "aaa111",
        upgrade=f'op.execute("UPDATE users SET name = {append}")',
        downgrade="pass",
    )
    # The downgrade (`pass`) leaves the names as the upgrade made them: true too.
    assert findings(project, server) == [
        ("error", "downgrade-loses-data", "bbb222"),
        ("error", "not-idempotent", "bbb222"),
    ]


def test_copy_then_drop_in_one_revision_is_skipped_with_the_reason(
    project: Project, server: Server
) -> None:
    """A column copied into a new one and dropped: its data part cannot run again alone
    (the old column is gone). Replaying the UPDATE after the whole upgrade was a false
    error ('column does not exist')."""
    base(project)
    copy_then_drop = (
        "with op.batch_alter_table('users') as b:\n"
        "    b.add_column(sa.Column('full_name', sa.String(40)))\n"
        "op.execute('UPDATE users SET full_name = name')\n"
        "with op.batch_alter_table('users') as b:\n"
        "    b.drop_column('name')"
    )
    undo = (
        "with op.batch_alter_table('users') as b:\n"
        "    b.add_column(sa.Column('name', sa.String(20)))\n"
        "op.execute('UPDATE users SET name = full_name')\n"
        "with op.batch_alter_table('users') as b:\n"
        "    b.alter_column('name', existing_type=sa.String(20), nullable=False)\n"
        "    b.drop_column('full_name')"
    )
    project.add("bbb222", "aaa111", upgrade=copy_then_drop, downgrade=undo)
    report = check(project, server)
    assert found(report) == []
    reason = skip_reason(report, "not-idempotent", "bbb222")
    assert reason is not None and "data part cannot run again on its own" in reason


def test_schema_change_then_converging_backfill_is_checked_and_clean(
    project: Project, server: Server
) -> None:
    base(project)
    add_and_fill = (
        "with op.batch_alter_table('users') as b:\n"
        "    b.add_column(sa.Column('active', sa.Boolean, nullable=True))\n"
        "op.execute(sa.text('UPDATE users SET active = :on WHERE active IS NULL')"
        ".bindparams(on=True))"
    )
    undo = "with op.batch_alter_table('users') as b:\n    b.drop_column('active')"
    project.add("bbb222", "aaa111", upgrade=add_and_fill, downgrade=undo)
    report = check(project, server)
    assert found(report) == []
    assert skip_reason(report, "not-idempotent", "bbb222") is None


def test_a_failure_on_seeded_rows_does_not_hide_the_replay(
    project: Project, server: Server
) -> None:
    """The upgrade's own code refuses the seeded rows (a warning), so its data migration
    never ran on them: the replay runs on fresh rows at this revision instead, and still
    catches the counter that goes up each time."""
    base(project)
    upgrade = (
        "op.add_column('users', sa.Column('score', sa.Integer, nullable=True))\n"
        "rows = op.get_bind().execute(sa.text('SELECT score FROM users')).fetchall()\n"
        "if any(score is None for (score,) in rows):\n"
        "    raise ValueError('users without a score')\n"
        "op.execute('UPDATE users SET score = score + 1')"
    )
    undo = "with op.batch_alter_table('users') as b:\n    b.drop_column('score')"
    project.add("bbb222", "aaa111", upgrade=upgrade, downgrade=undo)
    assert findings(project, server) == [
        ("error", "not-idempotent", "bbb222"),
        ("warning", "data-dependent-failure", "bbb222"),
    ]


# -- data-dependent-failure: what synthetic rows can and cannot prove -----------------------


def test_an_enum_kept_as_text_and_looked_up_in_python_is_a_warning(
    project: Project, server: Server
) -> None:
    """The script maps each stored status through a Python enum: the synthetic value is
    not one of its members. That proves nothing about production's rows: a warning that
    says how to give real rows, never an error."""
    base(
        project,
        'op.create_table("orders", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("status", sa.String(20)), sa.Column("code", sa.Integer))',
        'op.drop_table("orders")',
    )
    lookup = (
        "import enum\n"
        "class Status(enum.Enum):\n"
        "    NEW = 1\n"
        "    SHIPPED = 2\n"
        "conn = op.get_bind()\n"
        "for id_, status in conn.execute(sa.text('SELECT id, status FROM orders')).all():\n"
        "    conn.execute(sa.text('UPDATE orders SET code = :c WHERE id = :i'),"
        " dict(c=Status[status].value, i=id_))"
    )
    project.add("bbb222", "aaa111", upgrade=lookup, downgrade="pass")
    report = Drill(project.ini, server=server, skip=["model-drift", "stub-downgrade"]).check()
    assert [(f.severity, f.check, f.revision) for f in report.findings] == [
        ("warning", "data-dependent-failure", "bbb222")
    ]
    message = report.findings[0].message
    assert "could not be verified with synthetic rows" in message
    assert "KeyError" in message and 'seeds."bbb222"' in message
    assert report.ok


def test_an_enum_kept_as_text_takes_its_values_from_the_models(
    project: Project, server: Server
) -> None:
    """The same lookup, with models that say what the column holds (a non-native Enum):
    the seeded statuses are the enum's own values, and the revision is verified."""
    drill_project(
        project,
        models="""
        import sqlalchemy as sa
        metadata = sa.MetaData()
        sa.Table("orders", metadata, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("status", sa.Enum("NEW", "SHIPPED", native_enum=False, length=20)),
                 sa.Column("code", sa.Integer))
        """,
    )
    project.add(
        "aaa111",
        None,
        upgrade='op.create_table("orders", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("status", sa.String(20)))',
        downgrade='op.drop_table("orders")',
    )
    lookup = (
        "import enum\n"
        "class Status(enum.Enum):\n"
        "    NEW = 1\n"
        "    SHIPPED = 2\n"
        "op.add_column('orders', sa.Column('code', sa.Integer))\n"
        "conn = op.get_bind()\n"
        "for id_, status in conn.execute(sa.text('SELECT id, status FROM orders')).all():\n"
        "    conn.execute(sa.text('UPDATE orders SET code = :c WHERE id = :i'),"
        " dict(c=Status[status].value, i=id_))"
    )
    undo = "with op.batch_alter_table('orders') as b:\n    b.drop_column('code')"
    project.add("bbb222", "aaa111", upgrade=lookup, downgrade=undo)
    report = check(project, server)
    assert found(report) == [], [f.message for f in report.findings]
    assert skip_reason(report, "data-dependent-failure", "bbb222") is None


def test_json_kept_as_text_and_parsed_in_python_is_a_warning(
    project: Project, server: Server
) -> None:
    base(
        project,
        'op.create_table("events", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("payload", sa.Text), sa.Column("kind", sa.String(20)))',
        'op.drop_table("events")',
    )
    parse = (
        "import json\n"
        "conn = op.get_bind()\n"
        "for id_, payload in conn.execute(sa.text('SELECT id, payload FROM events')).all():\n"
        "    kind = json.loads(payload)['kind']\n"
        "    conn.execute(sa.text('UPDATE events SET kind = :k WHERE id = :i'),"
        " dict(k=kind, i=id_))"
    )
    project.add("bbb222", "aaa111", upgrade=parse, downgrade="pass")
    assert findings(project, server) == [("warning", "data-dependent-failure", "bbb222")]


def test_a_not_null_column_without_default_stays_an_error(project: Project, server: Server) -> None:
    base(project)
    add = (
        "with op.batch_alter_table('users') as b:\n"
        "    b.add_column(sa.Column('age', sa.Integer, nullable=False))"
    )
    undo = "with op.batch_alter_table('users') as b:\n    b.drop_column('age')"
    project.add("bbb222", "aaa111", upgrade=add, downgrade=undo)
    # The operation lint sees it in the script, on every engine.
    static = ("warning", "not-null-without-default", "bbb222")
    if server.engine == "mysql":
        # MySQL gives existing rows the type's implicit default (0): no failure there.
        assert findings(project, server) == [static]
    else:
        assert findings(project, server) == [
            ("error", "data-dependent-failure", "bbb222"),
            static,
        ]


def test_a_unique_constraint_over_duplicate_rows_stays_an_error(
    project: Project, server: Server
) -> None:
    base(project)
    project.add(
        "bbb222",
        "aaa111",
        upgrade="op.execute(\"UPDATE users SET name = 'same'\")\n"
        "with op.batch_alter_table('users') as b:\n"
        "    b.create_unique_constraint('uq_users_name', ['name'])",
        downgrade="with op.batch_alter_table('users') as b:\n"
        "    b.drop_constraint('uq_users_name', type_='unique')",
    )
    assert findings(project, server) == [
        ("error", "data-dependent-failure", "bbb222"),
        # True: the names the UPDATE overwrote do not come back on a downgrade.
        ("warning", "raw-sql-without-reverse", "bbb222"),
    ]


# -- cascades: the walk never goes on on a database a failed step damaged -------------------


def test_a_half_failed_downgrade_does_not_cascade(project: Project, server: Server) -> None:
    """The downgrade drops one table and then fails. Where DDL commits as it goes (SQLite,
    MySQL) the table is gone: the walk used to go on there, and the healthy revision
    after it was reported as failing."""
    base(project)
    project.add(
        "bbb222",
        "aaa111",
        upgrade='op.create_table("teams", sa.Column("id", sa.Integer, primary_key=True))\n'
        'op.create_table("members", sa.Column("id", sa.Integer, primary_key=True))',
        downgrade='op.drop_table("members")\nop.drop_table("no_such_table")',
    )
    project.add(
        "ccc333",
        "bbb222",
        upgrade="with op.batch_alter_table('members') as b:\n"
        "    b.add_column(sa.Column('team_id', sa.Integer))",
        downgrade="with op.batch_alter_table('members') as b:\n    b.drop_column('team_id')",
    )
    project.add("ddd444", "ccc333")
    assert findings(project, server) == [("error", "downgrade-failed", "bbb222")]


def test_a_half_failed_upgrade_blocks_only_its_descendants(
    project: Project, server: Server
) -> None:
    """bbb222 creates a table and then fails; ccc333, on another branch from aaa111,
    creates the same table: it must meet the database as its own parents left it."""
    base(project)
    project.add(
        "bbb222",
        "aaa111",
        upgrade='op.create_table("teams", sa.Column("id", sa.Integer, primary_key=True))\n'
        'op.execute("SELECT * FROM no_such_table")',
        downgrade='op.drop_table("teams")',
    )
    project.add(
        "ccc333",
        "aaa111",
        upgrade='op.create_table("teams", sa.Column("id", sa.Integer, primary_key=True))',
        downgrade='op.drop_table("teams")',
    )
    project.add("ddd444", ["bbb222", "ccc333"], upgrade="pass", downgrade="pass")
    assert findings(project, server) == [("error", "upgrade-failed", "bbb222")]


# -- static: a downgrade that does nothing where nothing in the schema needs undoing -------

T2 = 'op.create_table("t2", sa.Column("id", sa.Integer, primary_key=True))'


@pytest.mark.parametrize(
    ("upgrade", "downgrade", "expected"),
    [
        # A data-only upgrade (delete rows nobody can bring back).
        ('op.get_bind().execute(sa.text("DELETE FROM import_error"))', "pass", "info"),
        # A clean-up of an index that may or may not exist.
        ('op.drop_index("ix_old", table_name="t", if_exists=True)', "pass", "info"),
        # A comment in the downgrade says why.
        (
            T2,
            "# The table is kept on purpose: older releases read it.\npass",
            "info",
        ),
        # A schema change with a downgrade that does nothing: the real defect.
        (T2, "pass", "error"),
        ('op.execute("ALTER TABLE t ADD COLUMN c INTEGER")', "pass", "error"),
    ],
    ids=["data-only", "drop-if-exists", "explained", "schema-change", "ddl-in-execute"],
)
def test_stub_downgrade_weighs_what_the_upgrade_does(
    project: Project, upgrade: str, downgrade: str, expected: str
) -> None:
    project.add("aaa111", None, upgrade=upgrade, downgrade=downgrade)
    history = load_history(project.ini)
    assert [(f.check, f.severity) for f in history.findings] == [("stub-downgrade", expected)]


def test_an_upgrade_that_does_nothing_on_purpose_is_info(project: Project) -> None:
    project.add(
        "aaa111",
        None,
        upgrade="# No-op: the server converts old rows at run time.\npass",
        downgrade="pass",
    )
    history = load_history(project.ini)
    assert [(f.check, f.severity) for f in history.findings] == [("stub-upgrade", "info")]


# -- SQLite: what it stores the same, and the values its functions refuse ------------------


def test_a_default_spelled_another_way_is_no_trace(project: Project, server: Server) -> None:
    """The downgrade re-adds a column with server_default '-1' where it was -1: every
    engine stores the same value (Airflow's corpus, SQLite)."""
    base(
        project,
        'op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("map_index", sa.Integer, server_default=sa.text("-1")))',
        'op.drop_table("notes")',
    )
    project.add(
        "bbb222",
        "aaa111",
        upgrade="with op.batch_alter_table('notes') as b:\n    b.drop_column('map_index')",
        downgrade="with op.batch_alter_table('notes') as b:\n"
        "    b.add_column(sa.Column('map_index', sa.Integer, server_default='-1'))",
    )
    # No trace: the schema is back. The rows' values are not (the column comes back
    # holding its default), which the data checks rightly report; the drop is told once,
    # by the check that saw the values go (destroys-data, not the static drop-column).
    assert findings(project, server) == [
        ("error", "downgrade-loses-data", "bbb222"),
        ("warning", "destroys-data", "bbb222"),
    ]


@pytest.mark.parametrize(
    ("spec", "cast"),
    [("sqlite", "json(payload)"), ("local:postgresql", "CAST(payload AS JSON)")],
    ids=["sqlite", "postgresql"],
)
def test_a_json_function_refusing_synthetic_text_is_a_warning(
    project: Project, spec: str, cast: str
) -> None:
    base(
        project,
        'op.create_table("events", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("payload", sa.Text), sa.Column("doc", sa.Text))',
        'op.drop_table("events")',
    )
    project.add(
        "bbb222",
        "aaa111",
        upgrade=f'op.execute("UPDATE events SET doc = {cast}")',
        downgrade="pass",
    )
    with engine_server(spec) as started:
        assert findings(project, started) == [("warning", "data-dependent-failure", "bbb222")]
