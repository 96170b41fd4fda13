"""The operation lint of `alembic-drill lint`: what `upgrade()`'s operations do that a
downgrade or a running application cannot take back, read from the scripts' syntax trees.
Every check is shown finding its case, beside a clean variant it must not flag."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from drill_support import drill_project

from alembic_drill import _core
from alembic_drill._checks import known_checks, parse_check_ids
from alembic_drill._loader import load_project
from conftest import EXAMPLE, Project

OPERATION_CHECKS = (
    "drop-column",
    "drop-table",
    "rename-column",
    "rename-table",
    "not-null-without-default",
    "enum-value-added",
    "raw-sql-without-reverse",
    "index-without-concurrently",
    "type-change",
)

#: Where the first line of a revision's upgrade() body sits in `conftest.script`.
BODY = 15


def findings(run_cli, project: Project) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    run = run_cli("lint", "-c", str(project.ini), "--json")
    assert run.code in (0, 1), run.err
    return [f for f in run.json()["findings"] if f["check"] in OPERATION_CHECKS]


def found(run_cli, project: Project) -> list[tuple[str, str, int]]:  # type: ignore[no-untyped-def]
    """(check, revision, line) of every operation finding, in line order."""
    return sorted(
        ((f["check"], f["revision"], f["line"]) for f in findings(run_cli, project)),
        key=lambda t: (t[1], t[2], t[0]),
    )


def on_postgresql(project: Project) -> Project:
    """The project configured for PostgreSQL (lint never connects)."""
    ini = project.ini.read_text().replace(
        "sqlalchemy.url = sqlite:///%(here)s/test.db",
        "sqlalchemy.url = postgresql://app@db.invalid/app",
    )
    project.ini.write_text(ini)
    return project


def with_books(project: Project) -> None:
    """A base revision making table `books`, which later revisions change."""
    project.add(
        "aaa111",
        None,
        upgrade='op.create_table("books", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("title", sa.String(50)), sa.Column("price", sa.Integer))',
        downgrade='op.drop_table("books")',
    )


def test_the_operation_checks_are_known_static_checks() -> None:
    static = known_checks().static
    assert set(OPERATION_CHECKS) <= set(static)
    severity = {c.id: c.severity for c in _core.CHECKS}
    assert severity["index-without-concurrently"] == "info"
    assert all(
        severity[c] == "warning" for c in OPERATION_CHECKS if c != "index-without-concurrently"
    )
    # `skip` takes them like the other static checks.
    assert parse_check_ids("drop-column, type-change", "skip", "test") == (
        "drop-column",
        "type-change",
    )


def test_a_history_that_only_adds_is_clean(project: Project, run_cli) -> None:
    with_books(project)
    project.add(
        "bbb222",
        "aaa111",
        upgrade='op.add_column("books", sa.Column("isbn", sa.String(13), nullable=True))\n'
        'op.create_table("authors", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("name", sa.String(80), nullable=False))\n'
        'op.create_index("ix_authors_name", "authors", ["name"])',
        downgrade='op.drop_index("ix_authors_name", table_name="authors")\n'
        'op.drop_table("authors")\nop.drop_column("books", "isbn")',
    )
    run = run_cli("lint", "-c", str(on_postgresql(project).ini), "--json")
    assert run.code == 0
    assert run.json()["findings"] == []  # drops in downgrade() are what downgrades do


def test_drop_column_and_drop_table(project: Project, run_cli) -> None:
    with_books(project)
    project.add(
        "bbb222",
        "aaa111",
        upgrade='op.drop_column("books", "price")\n'
        'with op.batch_alter_table("books") as batch_op:\n'
        '    batch_op.drop_column("title")\n'
        'op.drop_table("legacy")\n'
        'op.execute("DROP TABLE IF EXISTS old_audit")',
        downgrade='op.add_column("books", sa.Column("price", sa.Integer))',
    )
    assert found(run_cli, project) == [
        ("drop-column", "bbb222", BODY),
        ("drop-column", "bbb222", BODY + 2),
        ("drop-table", "bbb222", BODY + 3),
        ("drop-table", "bbb222", BODY + 4),
    ]
    first = findings(run_cli, project)[0]
    assert first["severity"] == "warning"
    assert "books.price" in first["message"] and "ignore[drop-column]" in first["message"]


def test_drops_that_lose_nothing_are_clean(project: Project, run_cli) -> None:
    with_books(project)
    project.add(
        "bbb222",
        "aaa111",
        # made and dropped by the same upgrade; a copy-then-drop
        upgrade='op.create_table("scratch", sa.Column("id", sa.Integer))\n'
        'op.drop_table("scratch")\n'
        'op.add_column("books", sa.Column("tmp", sa.Integer))\n'
        'op.drop_column("books", "tmp")\n'
        'op.add_column("books", sa.Column("price_cents", sa.Integer))\n'
        'op.execute("UPDATE books SET price_cents = price * 100")\n'
        'op.drop_column("books", "price")',
        downgrade='op.add_column("books", sa.Column("price", sa.Integer))\n'
        'op.execute("UPDATE books SET price = price_cents / 100")\n'
        'op.drop_column("books", "price_cents")',
    )
    assert found(run_cli, project) == []


def test_what_an_upgrade_emptied_or_moved_unseen_is_clean(project: Project, run_cli) -> None:
    """Precision seen on Airflow's and optuna's histories: a table emptied first holds no
    rows; data work the tree cannot read (a helper, an ORM session, SQL built at run time)
    may have copied a column before its drop; a type named without `existing_type` may be
    a restatement."""
    with_books(project)
    project.add(
        "bbb222",
        "aaa111",
        upgrade='op.execute("DELETE FROM books")\n'
        'op.rename_table("books", "volumes")\n'
        'op.add_column("volumes", sa.Column("isbn", sa.String(13), nullable=False))\n'
        'op.drop_column("volumes", "price")',
        downgrade='op.drop_column("volumes", "isbn")\nop.rename_table("volumes", "books")',
    )
    project.add(
        "ccc333",
        "bbb222",
        upgrade="copy_titles(op.get_bind())\n"
        'op.drop_column("volumes", "title")\n'
        'op.alter_column("volumes", "isbn", type_=sa.String(13))',
        downgrade='op.add_column("volumes", sa.Column("title", sa.String(50)))',
    )
    script = project.versions / "ccc333_rev.py"
    script.write_text(script.read_text() + "\n\ndef copy_titles(bind):\n    pass\n")
    assert found(run_cli, project) == [("rename-table", "bbb222", BODY + 1)]


def test_an_ignore_comment_declares_a_finding_intended(project: Project, run_cli) -> None:
    with_books(project)
    project.add(
        "bbb222",
        "aaa111",
        upgrade='op.drop_column("books", "price")  # alembic-drill: ignore[drop-column]\n'
        "op.drop_column(\n"
        '    "books",\n'
        '    "title",  # alembic-drill: ignore[type-change, drop-column]\n'
        ")\n"
        'op.drop_table("legacy")  # alembic-drill: ignore[drop-column]',  # not this check
        downgrade="pass  # the columns' data cannot come back",
    )
    project.add(
        "ccc333",
        "bbb222",
        upgrade='op.drop_table("a")\nop.drop_table("b")\nop.drop_column("books", "isbn")',
        downgrade="pass  # nothing to restore",
    )
    # On the def line: the whole function.
    script = project.versions / "ccc333_rev.py"
    script.write_text(
        script.read_text().replace(
            "def upgrade() -> None:", "def upgrade() -> None:  # alembic-drill: ignore[drop-table]"
        )
    )
    assert found(run_cli, project) == [
        ("drop-table", "bbb222", BODY + 5),
        ("drop-column", "ccc333", BODY + 2),
    ]
    # What a function declares is carried to the core for the drills to honour.
    loaded = {r["id"]: r for r in load_project(str(project.ini))["revisions"]}
    assert loaded["bbb222"]["upgrade"]["ignores"] == ["drop-column", "type-change"]
    assert loaded["ccc333"]["upgrade"]["ignores"] == ["drop-table"]
    assert loaded["aaa111"]["upgrade"]["ignores"] == []


def test_renames(project: Project, run_cli) -> None:
    with_books(project)
    project.add(
        "bbb222",
        "aaa111",
        upgrade='op.alter_column("books", "title", new_column_name="name")\n'
        'op.rename_table("books", "volumes")',
        downgrade='op.rename_table("volumes", "books")',
    )
    assert found(run_cli, project) == [
        ("rename-column", "bbb222", BODY),
        ("rename-table", "bbb222", BODY + 1),
    ]
    column, table = findings(run_cli, project)
    assert "books.title to name; downgrade() does not rename it back" in column["message"]
    assert "does not rename it back" not in table["message"]


def test_renames_clean_variants(project: Project, run_cli) -> None:
    with_books(project)
    project.add(
        "bbb222",
        "aaa111",
        # a table this revision creates; a column change that is no rename
        upgrade='op.create_table("draft", sa.Column("id", sa.Integer))\n'
        'op.rename_table("draft", "drafts")\n'
        'op.alter_column("books", "title", comment="the title")',
        downgrade='op.drop_table("drafts")\n'
        'op.alter_column("books", "name", new_column_name="title")',  # in downgrade()
    )
    assert found(run_cli, project) == []


def test_not_null_without_default(project: Project, run_cli) -> None:
    with_books(project)
    project.add(
        "bbb222",
        "aaa111",
        upgrade='op.add_column("books", sa.Column("isbn", sa.String(13), nullable=False))\n'
        'op.add_column("books", sa.Column("stock", sa.Integer, nullable=False, default=0))\n'
        'op.alter_column("books", "title", nullable=False)\n'
        'with op.batch_alter_table("books") as batch_op:\n'
        '    batch_op.add_column(sa.Column("lang", sa.String(2), nullable=False))',
        downgrade='op.drop_column("books", "lang")\nop.drop_column("books", "stock")\n'
        'op.alter_column("books", "title", nullable=True)\nop.drop_column("books", "isbn")',
    )
    assert found(run_cli, project) == [
        ("not-null-without-default", "bbb222", BODY),
        ("not-null-without-default", "bbb222", BODY + 1),
        ("not-null-without-default", "bbb222", BODY + 2),
        ("not-null-without-default", "bbb222", BODY + 4),
    ]
    messages = [f["message"] for f in findings(run_cli, project)]
    assert "never to existing rows" in messages[1]  # a Python-side default does not help
    assert "Backfill it" in messages[2]


def test_not_null_clean_variants(project: Project, run_cli) -> None:
    with_books(project)
    project.add(
        "bbb222",
        "aaa111",
        upgrade='op.add_column("books", sa.Column("isbn", sa.String(13), nullable=False, '
        'server_default=""))\n'
        'op.create_table("shelves", sa.Column("id", sa.Integer, primary_key=True))\n'
        'op.add_column("shelves", sa.Column("label", sa.String(9), nullable=False))\n'
        'op.add_column("books", sa.Column("lang", sa.String(2), nullable=True))\n'
        "op.execute(\"UPDATE books SET lang = 'en' WHERE lang IS NULL\")\n"
        'op.alter_column("books", "lang", nullable=False)\n'
        'op.alter_column("books", "id", nullable=False, existing_nullable=False)\n'
        'op.alter_column("books", "price", nullable=False, server_default="0")',
        downgrade='op.alter_column("books", "price", nullable=True, server_default=None)\n'
        'op.drop_column("books", "lang")\nop.drop_table("shelves")\n'
        'op.drop_column("books", "isbn")',
    )
    assert found(run_cli, project) == []


def test_enum_value_added(project: Project, run_cli) -> None:
    project.add(
        "aaa111",
        None,
        upgrade="op.execute(\"CREATE TYPE mood AS ENUM ('sad', 'ok')\")",
        downgrade='op.execute("DROP TYPE mood")',
    )
    project.add(
        "bbb222",
        "aaa111",
        upgrade="with op.get_context().autocommit_block():\n"
        "    op.execute(sa.text(\"ALTER TYPE mood ADD VALUE 'happy'\"))",
        downgrade="op.execute(\"UPDATE people SET mood = 'ok' WHERE mood = 'happy'\")",
    )
    # Clean: a downgrade that recreates the type without the value, and a rename of a value.
    project.add(
        "ccc333",
        "bbb222",
        upgrade="op.execute(\"ALTER TYPE mood ADD VALUE IF NOT EXISTS 'great'\")\n"
        "op.execute(\"ALTER TYPE mood RENAME VALUE 'ok' TO 'fine'\")",
        downgrade="op.execute(\"ALTER TYPE mood RENAME VALUE 'fine' TO 'ok'\")\n"
        'op.execute("ALTER TYPE mood RENAME TO mood_old")\n'
        "op.execute(\"CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')\")\n"
        'op.execute("DROP TYPE mood_old")',
    )
    assert found(run_cli, project) == [("enum-value-added", "bbb222", BODY + 1)]
    (finding,) = findings(run_cli, project)
    assert "cannot remove a value" in finding["message"] and "mood" in finding["message"]


def test_raw_sql_without_reverse(project: Project, run_cli) -> None:
    with_books(project)
    project.add(
        "bbb222",
        "aaa111",
        upgrade='op.execute("CREATE VIEW cheap_books AS SELECT * FROM books WHERE price < 5")\n'
        'op.get_bind().execute(sa.text("UPDATE books SET title = upper(title)"))\n'
        'op.add_column("books", sa.Column("isbn", sa.String(13)))',
        downgrade='op.drop_column("books", "isbn")',
    )
    assert found(run_cli, project) == [
        ("raw-sql-without-reverse", "bbb222", BODY),
        ("raw-sql-without-reverse", "bbb222", BODY + 1),
    ]
    assert "CREATE VIEW cheap_books" in findings(run_cli, project)[0]["message"]


def test_raw_sql_clean_variants(project: Project, run_cli) -> None:
    with_books(project)
    project.add(  # reversed by SQL
        "bbb222",
        "aaa111",
        upgrade='op.execute("CREATE VIEW cheap_books AS SELECT * FROM books WHERE price < 5")',
        downgrade='op.execute("DROP VIEW cheap_books")',
    )
    project.add(  # a backfill of a column the downgrade drops; reads and settings
        "ccc333",
        "bbb222",
        upgrade='op.add_column("books", sa.Column("slug", sa.String(60)))\n'
        'op.execute("UPDATE books SET slug = lower(title)")\n'
        'op.execute("SET lock_timeout = 5000")\n'
        'op.execute("SELECT 1")',
        downgrade='op.drop_column("books", "slug")',
    )
    project.add(  # declared irreversible: `irreversible` says so, not this check
        "ddd444",
        "ccc333",
        upgrade='op.execute("DELETE FROM books WHERE price IS NULL")',
        downgrade='raise NotImplementedError("deleted rows cannot come back")',
    )
    assert found(run_cli, project) == []


def test_index_without_concurrently_on_postgresql(project: Project, run_cli) -> None:
    with_books(project)
    project.add(
        "bbb222",
        "aaa111",
        upgrade='op.create_index("ix_books_title", "books", ["title"])\n'
        'op.execute("CREATE UNIQUE INDEX ix_books_price ON books (price)")\n'
        "with op.get_context().autocommit_block():\n"
        '    op.create_index("ix_books_id", "books", ["id"], postgresql_concurrently=True)\n'
        '    op.execute("CREATE INDEX CONCURRENTLY ix_books_both ON books (id, title)")\n'
        'op.create_table("tags", sa.Column("name", sa.String(20)))\n'
        'op.create_index("ix_tags_name", "tags", ["name"])',
        downgrade='op.drop_table("tags")\nop.execute("DROP INDEX ix_books_both")\n'
        'op.drop_index("ix_books_id")\nop.drop_index("ix_books_price")\n'
        'op.drop_index("ix_books_title")',
    )
    assert found(run_cli, on_postgresql(project)) == [
        ("index-without-concurrently", "bbb222", BODY),
        ("index-without-concurrently", "bbb222", BODY + 1),
    ]
    first = findings(run_cli, project)[0]
    assert first["severity"] == "info" and "postgresql_concurrently=True" in first["message"]


def test_index_without_concurrently_is_not_reported_for_other_databases(
    project: Project, run_cli
) -> None:
    with_books(project)
    project.add(
        "bbb222",
        "aaa111",
        upgrade='op.create_index("ix_books_title", "books", ["title"])',
        downgrade='op.drop_index("ix_books_title", table_name="books")',
    )
    assert found(run_cli, project) == []  # the project's URL is SQLite


def test_type_change(project: Project, run_cli) -> None:
    with_books(project)
    project.add(
        "bbb222",
        "aaa111",
        upgrade='op.alter_column("books", "price", type_=sa.Numeric(10, 2), '
        "existing_type=sa.Integer)\n"
        'with op.batch_alter_table("books") as batch_op:\n'
        '    batch_op.alter_column("title", type_=sa.String(20), existing_type=sa.String(50))',
        downgrade='op.alter_column("books", "price", type_=sa.Integer)',
    )
    assert found(run_cli, project) == [
        ("type-change", "bbb222", BODY),
        ("type-change", "bbb222", BODY + 2),
    ]
    assert "sa.Numeric(10, 2)" in findings(run_cli, project)[0]["message"]


def test_type_change_clean_variants(project: Project, run_cli) -> None:
    with_books(project)
    project.add(
        "bbb222",
        "aaa111",
        # widening keeps every value; a column added by this revision holds none yet
        upgrade='op.alter_column("books", "title", type_=sa.String(200), '
        "existing_type=sa.String(50))\n"
        'op.alter_column("books", "title", type_=sa.Text(), existing_type=sa.String(200))\n'
        'op.add_column("books", sa.Column("note", sa.String(10)))\n'
        'op.alter_column("books", "note", type_=sa.Text())',
        downgrade='op.drop_column("books", "note")',
    )
    assert found(run_cli, project) == []


def test_lint_prints_file_and_line_and_exits_0_on_warnings(project: Project, run_cli) -> None:
    with_books(project)
    path = project.add(
        "bbb222",
        "aaa111",
        upgrade='op.drop_column("books", "price")',
        downgrade='op.add_column("books", sa.Column("price", sa.Integer))',
    )
    run = run_cli("lint", "-c", str(project.ini))
    assert run.code == 0, run.out  # warnings do not fail a run
    (line,) = [line for line in run.out.splitlines() if "[drop-column]" in line]
    assert line.startswith(f"{path}:{BODY}: warning[drop-column] bbb222: ")
    assert run.out.splitlines()[-1].startswith("ok: 2 revisions")


def test_check_reports_them_and_skip_leaves_them_out(
    project: Project, tmp_path: Path, run_cli
) -> None:
    drill_project(project)
    with_books(project)
    project.add(
        "bbb222",
        "aaa111",
        upgrade='op.drop_column("books", "price")',
        downgrade='op.add_column("books", sa.Column("price", sa.Integer))',
    )
    args = ("check", "-c", str(project.ini), "--database", "sqlite", "--checks", "upgrade-failed")
    run = run_cli(*args, "--json", "-")
    assert run.code == 0, run.out + run.err
    assert [(f["check"], f["line"]) for f in json.loads(run.out)["findings"]] == [
        ("drop-column", BODY)
    ]
    run = run_cli(*args, "--json", "-", "--skip", "drop-column")
    assert json.loads(run.out)["findings"] == []


def test_the_bundled_example_has_no_operation_findings(tmp_path: Path, run_cli) -> None:
    copy = tmp_path / "bookshop"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    run = run_cli("lint", "-c", str(copy), "--json")
    assert run.code == 0 and run.json()["findings"] == []
    # On PostgreSQL its title index, built on a table in use, is worth knowing.
    ini = copy / "alembic.ini"
    ini.write_text(ini.read_text().replace("sqlite:///%(here)s/bookshop.db", "postgresql:///shop"))
    run = run_cli("lint", "-c", str(copy), "--json")
    assert [(f["check"], f["severity"]) for f in run.json()["findings"]] == [
        ("index-without-concurrently", "info")
    ]


@pytest.mark.parametrize("check", OPERATION_CHECKS)
def test_every_operation_check_is_documented(check: str) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert f"| `{check}` |" in readme


def test_operations_in_branches_for_other_dialects_are_not_flagged(
    run_cli, project: Project
) -> None:  # type: ignore[no-untyped-def]
    """Real histories branch on the dialect (`if conn.dialect.name == "mysql":`, an early
    `return` on PostgreSQL): only what runs on the project's engine is judged."""
    on_postgresql(project)
    with_books(project)
    branches = (
        "conn = op.get_bind()\n"
        "if conn.dialect.name == 'mysql':\n"
        "    op.drop_column('books', 'title')\n"
        "elif conn.dialect.name in ('sqlite', 'mssql'):\n"
        "    op.drop_column('books', 'price')\n"
        "else:\n"
        "    op.drop_table('books')"
    )
    project.add("bbb222", "aaa111", upgrade=branches, downgrade="pass")
    early = (
        "if op.get_bind().dialect.name == 'postgresql':\n"
        "    return\n"
        "op.drop_column('books', 'title')"
    )
    project.add("ccc333", "bbb222", upgrade=early, downgrade="pass")
    assert [(c, r) for c, r, _ in found(run_cli, project)] == [("drop-table", "bbb222")]


def test_a_column_swap_and_a_widened_enum_are_not_flagged(run_cli, project: Project) -> None:  # type: ignore[no-untyped-def]
    """A swap (add `title_new`, copy, drop `title`, rename `title_new` to `title`) keeps
    the application's column; an enum given more values converts nothing."""
    with_books(project)
    swap = (
        "op.add_column('books', sa.Column('title_new', sa.Text()))\n"
        "op.execute('UPDATE books SET title_new = title')\n"
        "with op.batch_alter_table('books') as b:\n"
        "    b.drop_column('title')\n"
        "    b.alter_column('title_new', new_column_name='title')"
    )
    project.add("bbb222", "aaa111", upgrade=swap, downgrade="pass")
    widen = (
        "with op.batch_alter_table('books') as b:\n"
        "    b.alter_column('price', type_=sa.Enum('A', 'B', 'C', name='p'),\n"
        "                   existing_type=sa.Enum('A', 'B', name='p'))"
    )
    project.add("ccc333", "bbb222", upgrade=widen, downgrade="pass")
    assert [(c, r) for c, r, _ in found(run_cli, project)] == []


def test_not_null_restated_on_a_column_never_nullable_is_not_flagged(  # type: ignore[no-untyped-def]
    run_cli, project: Project
) -> None:
    """`alter_column(..., nullable=False)` on a column every script makes NOT NULL (here in
    the create_table of another revision) restates it and cannot fail; on one that some
    upgrade makes nullable it may."""
    project.add(
        "aaa111",
        None,
        upgrade='op.create_table("tags", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("name", sa.String(20), nullable=False), sa.Column("note", sa.Text))',
        downgrade='op.drop_table("tags")',
    )
    restate = (
        "with op.batch_alter_table('tags') as b:\n"
        "    b.alter_column('name', existing_type=sa.String(20), nullable=False)\n"
        "    b.alter_column('note', existing_type=sa.Text(), nullable=False)"
    )
    project.add("bbb222", "aaa111", upgrade=restate, downgrade="pass")
    flagged = [(c, r) for c, r, _ in found(run_cli, project) if c == "not-null-without-default"]
    assert flagged == [("not-null-without-default", "bbb222")]
    (finding,) = [f for f in findings(run_cli, project) if f["check"] == "not-null-without-default"]
    assert "tags.note" in finding["message"]
