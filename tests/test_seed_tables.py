"""Seed rows for a table that never exists are bad input: found before any database
starts (exit 2, one line naming the table, the revision and the setting). A table the
scripts make in a way that cannot be read without running them is accepted."""

from __future__ import annotations

import pytest
from test_input_validation import refused_before_any_database, runnable

from conftest import Project

SEED = '[tool.alembic-drill.seeds."bbb222"]\n{table} = [{{ id = 1 }}]\n'


def test_a_seed_table_no_script_creates_is_refused(project: Project, run_cli) -> None:  # type: ignore[no-untyped-def]
    runnable(project, SEED.format(table="t_aaa11"))  # t_aaa111, misspelt
    run = run_cli("check", "-c", str(project.ini), "--database", "sqlite")
    refused_before_any_database(
        run, "pyproject.toml [tool.alembic-drill]", 'seeds."bbb222"', "'t_aaa11'", "no revision"
    )


@pytest.mark.parametrize(
    "how",
    [
        'op.create_table("{name}", sa.Column("id", sa.Integer, primary_key=True))',
        'op.rename_table("t_bbb222", "{name}")',
        'op.execute("CREATE TABLE IF NOT EXISTS {name} (id INTEGER PRIMARY KEY)")',
        'name = "{name}"\nop.create_table(name, sa.Column("id", sa.Integer, primary_key=True))',
        'op.create_table(PREFIX + "_x", sa.Column("id", sa.Integer, primary_key=True))',
    ],
    ids=["create_table", "rename_table", "raw-sql", "variable", "unreadable-name"],
)
def test_a_seed_table_some_script_makes_is_accepted(project: Project, run_cli, how: str) -> None:  # type: ignore[no-untyped-def]
    runnable(project, SEED.format(table="accounts"))
    project.add("ccc333", "bbb222", upgrade=how.format(name="accounts"), downgrade="pass")
    script = project.scripts["ccc333_rev.py"]
    script.write_text(
        script.read_text().replace(
            "import sqlalchemy as sa\n", 'import sqlalchemy as sa\nPREFIX = "p"\n'
        )
    )
    run = run_cli("lint", "-c", str(project.ini))  # loads; check below must not refuse
    assert run.code in (0, 1), run.err
    run = run_cli(
        "check", "-c", str(project.ini), "--database", "sqlite", "--checks", "upgrade-failed"
    )
    assert run.code != 2 or "seeds" not in run.err, run.err


def test_a_bootstrap_makes_any_table_possible(project: Project, run_cli) -> None:  # type: ignore[no-untyped-def]
    (project.root / "tables.sql").write_text("CREATE TABLE accounts (id INTEGER PRIMARY KEY);\n")
    runnable(project, 'bootstrap = "tables.sql"\n' + SEED.format(table="accounts"))
    run = run_cli(
        "check", "-c", str(project.ini), "--database", "sqlite", "--checks", "upgrade-failed"
    )
    assert run.code == 0, run.err
