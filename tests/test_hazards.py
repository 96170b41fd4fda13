"""Production hazards, measured on a real PostgreSQL while each upgrade runs on the seeded
database: every hazard id is found, and its safe variant is not."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest
from drill_support import HAZARD_CHECKS, drill_project
from servers_support import engine_server

from alembic_drill import ConfigError, Drill, Server
from conftest import Project

HAZARDS = list(HAZARD_CHECKS)

#: Two tables that hold rows before every later revision (seeded when they first exist).
BASE = """\
op.create_table("orgs", sa.Column("id", sa.Integer, primary_key=True))
op.create_table(
    "users",
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(10)),
    sa.Column("age", sa.Integer),
)"""
BASE_DOWN = 'op.drop_table("users")\nop.drop_table("orgs")'


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with engine_server("local:postgresql") as started:
        yield started


def retype(column: str, new: str, old: str) -> tuple[str, str]:
    """An upgrade changing a column of users from type ``old`` to ``new``, and back."""
    change = 'op.alter_column("users", "{}", type_=sa.{}, existing_type=sa.{})'
    return change.format(column, new, old), change.format(column, old, new)


def history(project: Project, *revisions: tuple[str, str, str], settings: str = "") -> None:
    """A base revision making the tables, then ``revisions`` (id, upgrade, downgrade) in
    a line; ``settings`` go into [tool.alembic-drill]."""
    drill_project(project)
    project.add("base00", None, upgrade=BASE, downgrade=BASE_DOWN)
    down = "base00"
    for rev, upgrade, downgrade in revisions:
        project.add(
            rev, down, upgrade=textwrap.dedent(upgrade), downgrade=textwrap.dedent(downgrade)
        )
        down = rev
    (project.root / "pyproject.toml").write_text(
        "[tool.alembic-drill]\n" + textwrap.dedent(settings)
    )


def hazards_found(project: Project, server: Server, **kwargs: object) -> dict[str, set[str]]:
    """Revision -> the hazard ids found there, every hazard check having run on it."""
    report = Drill(project.ini, server=server, checks=HAZARDS, **kwargs).check()  # type: ignore[arg-type]
    runs = report.to_dict()["checks"]
    skipped = [(r["check"], r["revision"], r["skipped"]) for r in runs if r["skipped"]]
    assert [s for s in skipped if s[1] != "base00"] == [], skipped
    found: dict[str, set[str]] = {}
    # The static operation lint speaks of some of the same statements (test_operation_lint.py).
    for finding in (f for f in report.findings if f.check in HAZARD_CHECKS):
        found.setdefault(finding.revision, set()).add(finding.check)
    return found


def test_table_rewrite(project: Project, server: Server) -> None:
    history(
        project,
        ("int2big", *retype("age", "BigInteger()", "Integer()")),
        ("widen01", *retype("name", "String(20)", "String(10)")),
        ("totext1", *retype("name", "Text()", "String(20)")),
        ("volatil", 'op.add_column("users", sa.Column("seen", sa.DateTime(), '
         'server_default=sa.text("clock_timestamp()")))',
         'op.drop_column("users", "seen")'),
        ("constdf", 'op.add_column("users", sa.Column("flag", sa.Boolean(), '
         'server_default=sa.false(), nullable=False))',
         'op.drop_column("users", "flag")'),
    )  # fmt: skip
    found = hazards_found(project, server)
    assert found.get("int2big") == {"table-rewrite"}, found
    assert found.get("volatil") == {"table-rewrite"}, found
    for clean in ("widen01", "totext1", "constdf"):
        assert clean not in found, (clean, found)


def test_finding_carries_statement_table_rows_and_the_safe_way(
    project: Project, server: Server
) -> None:
    history(
        project,
        ("int2big", *retype("age", "BigInteger()", "Integer()")),
        settings="""\
        hazard_rows = 500
        [tool.alembic-drill.severity]
        table-rewrite = "error"
        """,
    )  # fmt: skip
    report = Drill(project.ini, server=server, checks=["table-rewrite"]).check()
    (finding,) = [f for f in report.findings if f.check == "table-rewrite"]
    assert finding.severity == "error" and not report.ok
    assert finding.path.endswith("int2big_rev.py") and finding.line is not None
    message = finding.message
    assert "on users (500 rows on the seeded database)" in message, message
    assert "ALTER TABLE users ALTER COLUMN age TYPE BIGINT" in message, message
    assert "safe alternative" in message and "type change" in message, message


def test_blocking_index(project: Project, server: Server) -> None:
    history(
        project,
        ("plainix", 'op.create_index("ix_users_name", "users", ["name"])',
         'op.drop_index("ix_users_name", "users")'),
        ("concurr", """\
         with op.get_context().autocommit_block():
             op.create_index("ix_users_age", "users", ["age"], postgresql_concurrently=True)""",
         """\
         with op.get_context().autocommit_block():
             op.drop_index("ix_users_age", "users", postgresql_concurrently=True)"""),
        ("autocix", """\
         with op.get_context().autocommit_block():
             op.create_index("ix_users_id_age", "users", ["id", "age"])""",
         'op.drop_index("ix_users_id_age", "users")'),
    )  # fmt: skip
    found = hazards_found(project, server)
    assert found.get("plainix") == {"blocking-index"}, found
    # Outside a transaction the lock is gone before it can be read: the text tells.
    assert found.get("autocix") == {"blocking-index"}, found
    assert "concurr" not in found, found


def test_validating_constraint(project: Project, server: Server) -> None:
    history(
        project,
        # Rows age: the seeded users keep NULL in a column added after them.
        ("orgcol1", 'op.add_column("users", sa.Column("org_id", sa.Integer()))',
         'op.drop_column("users", "org_id")'),
        ("fkplain", 'op.create_foreign_key("fk_users_org", "users", "orgs", ["org_id"], ["id"])',
         'op.drop_constraint("fk_users_org", "users", type_="foreignkey")'),
        ("fknotvd", 'op.execute("ALTER TABLE users ADD CONSTRAINT fk_users_org2 FOREIGN KEY '
         '(org_id) REFERENCES orgs (id) NOT VALID")',
         'op.drop_constraint("fk_users_org2", "users", type_="foreignkey")'),
        ("ckplain", 'op.create_check_constraint("ck_name", "users", "length(name) < 100")',
         'op.drop_constraint("ck_name", "users", type_="check")'),
        ("cknotvd", 'op.create_check_constraint("ck_name2", "users", "length(name) < 100", '
         'postgresql_not_valid=True)',
         'op.drop_constraint("ck_name2", "users", type_="check")'),
    )  # fmt: skip
    found = hazards_found(project, server)
    assert found.get("fkplain") == {"validating-constraint"}, found
    assert found.get("ckplain") == {"validating-constraint"}, found
    assert "fknotvd" not in found and "cknotvd" not in found, found


def test_not_null_scan(project: Project, server: Server) -> None:
    history(
        project,
        ("nnplain", """\
         op.execute("UPDATE users SET name = 'x' WHERE name IS NULL")
         op.alter_column("users", "name", nullable=False, existing_type=sa.String(10))""",
         'op.alter_column("users", "name", nullable=True, existing_type=sa.String(10))'),
        ("nncheck", """\
         op.execute("UPDATE users SET age = 0 WHERE age IS NULL")
         op.execute("ALTER TABLE users ADD CONSTRAINT ck_age_nn CHECK (age IS NOT NULL) NOT VALID")
         op.execute("ALTER TABLE users VALIDATE CONSTRAINT ck_age_nn")
         op.alter_column("users", "age", nullable=False, existing_type=sa.Integer())
         op.drop_constraint("ck_age_nn", "users", type_="check")""",
         'op.alter_column("users", "age", nullable=True, existing_type=sa.Integer())'),
    )  # fmt: skip
    found = hazards_found(project, server)
    assert found.get("nnplain") == {"not-null-scan"}, found
    # PostgreSQL 12+ proves NOT NULL from the validated CHECK: no scan.
    assert "nncheck" not in found, found


def test_exclusive_lock(project: Project, server: Server) -> None:
    history(
        project,
        ("slowlck", """\
         op.add_column("users", sa.Column("x", sa.Integer()))
         op.execute("SELECT pg_sleep(1.2)")""",
         'op.drop_column("users", "x")'),
        ("quickck", 'op.add_column("users", sa.Column("y", sa.Integer()))',
         'op.drop_column("users", "y")'),
        settings="hazard_lock_ms = 600\n",
    )  # fmt: skip
    report = Drill(project.ini, server=server, checks=HAZARDS).check()
    hazards = [f for f in report.findings if f.check in HAZARD_CHECKS]
    found = [(f.check, f.revision) for f in hazards]
    assert found == [("exclusive-lock", "slowlck")], [f.message for f in report.findings]
    assert "limit 600 ms" in hazards[0].message


def test_a_table_made_in_the_same_step_is_no_hazard(project: Project, server: Server) -> None:
    history(
        project,
        ("newtabl", """\
         op.create_table("tags", sa.Column("id", sa.Integer, primary_key=True),
                         sa.Column("n", sa.Integer))
         op.create_index("ix_tags_n", "tags", ["n"])
         op.alter_column("tags", "n", type_=sa.BigInteger(), existing_type=sa.Integer())""",
         'op.drop_table("tags")'),
    )  # fmt: skip
    assert hazards_found(project, server) == {}


def test_other_engines_skip_with_the_reason(project: Project) -> None:
    history(
        project,
        ("plainix", 'op.create_index("ix_users_name", "users", ["name"])',
         'op.drop_index("ix_users_name", "users")'),
    )  # fmt: skip
    with Server("sqlite") as sqlite:
        report = Drill(project.ini, server=sqlite, checks=HAZARDS).check()
    runs = [r for r in report.to_dict()["checks"] if r["revision"] == "plainix"]
    assert sorted(r["check"] for r in runs) == sorted(HAZARDS)
    assert all("measured on PostgreSQL only" in (r["skipped"] or "") for r in runs), runs
    assert report.findings == []


def test_bad_hazard_settings_are_refused(project: Project) -> None:
    history(project, settings='[tool.alembic-drill.severity]\ntable-rewrit = "error"\n')
    with pytest.raises(ConfigError, match="table-rewrit"):
        Drill(project.ini)
    history(project, settings='[tool.alembic-drill.severity]\ntable-rewrite = "fatal"\n')
    with pytest.raises(ConfigError, match="fatal"):
        Drill(project.ini)
    history(project, settings="hazard_rows = 0\n")
    with pytest.raises(ConfigError, match="hazard_rows"):
        Drill(project.ini)
