"""`[tool.alembic-drill]` in pyproject.toml: every key does what the README says, a wrong
value is a one-line error naming the file and the key, and flags override the settings."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from drill_support import drill_project

from alembic_drill import ConfigError, Drill
from alembic_drill._checks import known_checks
from alembic_drill.settings import Settings, load_settings
from conftest import Project

TABLE = (
    'op.create_table("{rev}", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("name", sa.String(50)))'
)
DROP = 'op.drop_table("{rev}")'


def settings_file(project: Project, toml: str) -> Path:
    path = project.root / "pyproject.toml"
    path.write_text("[tool.alembic-drill]\n" + textwrap.dedent(toml))
    return path


def check(run_cli, project: Project, *flags: str):  # type: ignore[no-untyped-def]
    """`alembic-drill check --json -` on the project: (exit code, report, stderr)."""
    run = run_cli("check", "-c", str(project.ini), "--json", "-", *flags)
    return run.code, (json.loads(run.out) if run.out else None), run.err


def ran(report: dict) -> set[tuple[str, str]]:  # type: ignore[type-arg]
    return {(r["check"], r["revision"]) for r in report["checks"] if not r["skipped"]}


def errors(report: dict) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return sorted(
        (f["check"], f["revision"]) for f in report["findings"] if f["severity"] == "error"
    )


# -- Each key ------------------------------------------------------------------------------


def test_no_table_means_the_defaults(project: Project) -> None:
    (project.root / "pyproject.toml").write_text("[tool.other]\nx = 1\n")
    assert load_settings(project.ini) == Settings()
    assert Settings().database == "auto" and Settings().checks == known_checks().drill


def test_the_nearest_pyproject_above_the_project_is_read(project: Project) -> None:
    path = settings_file(project, 'skip = ["model-drift"]\n')
    nested = project.root / "migrations"
    settings = load_settings(nested)
    assert settings.skip == ("model-drift",) and settings.source == str(path)


def test_database(project: Project, run_cli) -> None:  # type: ignore[no-untyped-def]
    drill_project(project)
    project.linear("aaa111")
    settings_file(project, 'database = "postgress"\n')
    code, report, err = check(run_cli, project)
    # The setting is used: its spec is the one refused, with the fix.
    assert code == 2 and report is None
    assert err.startswith("alembic-drill: error: ") and "postgress" in err
    # The flag wins over the setting.
    code, report, err = check(run_cli, project, "--database", "sqlite")
    assert code == 0, err
    assert report["database"].startswith("SQLite files")


MODELS = """
import sqlalchemy as sa
metadata = sa.MetaData()
sa.Table("t_aaa111", metadata, sa.Column("id", sa.Integer, primary_key=True))
"""


def test_checks_and_skip(project: Project, run_cli) -> None:  # type: ignore[no-untyped-def]
    drill_project(project, models=MODELS)
    project.linear("aaa111")
    settings_file(project, 'checks = ["upgrade-failed", "model-drift"]\nskip = ["model-drift"]\n')
    code, report, _ = check(run_cli, project)
    assert code == 0
    assert ran(report) == {("upgrade-failed", "aaa111")}
    # Flags replace each setting: --checks the list, --skip the skips.
    code, report, _ = check(run_cli, project, "--checks", "roundtrip-failed,model-drift")
    assert ran(report) == {("roundtrip-failed", "aaa111")}
    code, report, _ = check(run_cli, project, "--skip", "upgrade-failed")
    assert ran(report) == {("model-drift", None)}  # at head, for the whole history


def test_skip_leaves_out_a_static_check_too(project: Project, run_cli) -> None:  # type: ignore[no-untyped-def]
    drill_project(project)
    project.add("aaa111", None, upgrade=TABLE, downgrade="pass")
    code, report, _ = check(run_cli, project, "--checks", "upgrade-failed")
    assert code == 1 and errors(report) == [("stub-downgrade", "aaa111")]
    settings_file(project, 'skip = ["stub-downgrade"]\n')
    code, report, _ = check(run_cli, project, "--checks", "upgrade-failed")
    assert code == 0 and errors(report) == []


URL_ENV = """
import os
from alembic import context
from sqlalchemy import create_engine, pool

url = os.environ["BOOKSHOP_DB_URL"]
engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
"""


def test_url_env(project: Project, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """env.py that reads its URL from a variable is pointed at the drill's database."""
    drill_project(project, env=URL_ENV)
    project.linear("aaa111", "bbb222")
    monkeypatch.delenv("BOOKSHOP_DB_URL", raising=False)
    settings_file(project, 'url_env = "BOOKSHOP_DB_URL"\n')
    code, report, err = check(run_cli, project, "--checks", "upgrade-failed,roundtrip-failed")
    assert code == 0, (err, report and report["findings"])
    assert ran(report) == {
        (check, rev)
        for check in ("upgrade-failed", "roundtrip-failed")
        for rev in ("aaa111", "bbb222")
    }


FK_TO_BASE = (
    'op.create_table("orders", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id")))\n'
    'op.execute("INSERT INTO orders (id, account_id) SELECT id, id FROM accounts")'
)


@pytest.mark.parametrize("kind", ["sql", "callable"])
def test_bootstrap(project: Project, run_cli, kind: str) -> None:  # type: ignore[no-untyped-def]
    """Tables made outside the migrations exist on each fresh database."""
    drill_project(project)
    project.add("aaa111", None, upgrade=FK_TO_BASE, downgrade='op.drop_table("orders")')
    code, report, _ = check(run_cli, project, "--checks", "upgrade-failed")
    assert errors(report) == [("upgrade-failed", "aaa111")]  # no accounts table
    if kind == "sql":
        (project.root / "base.sql").write_text("CREATE TABLE accounts (id INTEGER PRIMARY KEY);\n")
        settings_file(project, f'bootstrap = "{project.root / "base.sql"}"\n')
    else:
        module = f"bootstrap_{abs(hash(str(project.root))) % 10**8}"
        (project.root / f"{module}.py").write_text(
            "import sqlalchemy as sa\n\n"
            "def make_base(connection):\n"
            '    connection.execute(sa.text("CREATE TABLE accounts (id INTEGER PRIMARY KEY)"))\n'
        )
        settings_file(project, f'bootstrap = "{module}:make_base"\n')
    code, report, err = check(run_cli, project, "--checks", "upgrade-failed,roundtrip-failed")
    assert code == 0, (err, report and report["findings"])
    assert errors(report) == []


def test_oldest_downgrade(project: Project, run_cli) -> None:  # type: ignore[no-untyped-def]
    drill_project(project)
    project.add("aaa111", None, downgrade='op.drop_table("never_created")')
    project.add("bbb222", "aaa111")
    code, report, _ = check(run_cli, project, "--checks", "downgrade-failed")
    assert errors(report) == [("downgrade-failed", "aaa111")]
    settings_file(project, 'oldest_downgrade = "aaa111"\n')
    code, report, _ = check(run_cli, project, "--checks", "downgrade-failed")
    assert code == 0 and errors(report) == []
    info = [(f["check"], f["revision"]) for f in report["findings"] if f["severity"] == "info"]
    assert info == [("downgrade-failed", "aaa111")]


def test_skip_revisions(project: Project, run_cli) -> None:  # type: ignore[no-untyped-def]
    drill_project(project)
    project.linear("aaa111", "bbb222")
    settings_file(project, '[tool.alembic-drill.skip_revisions]\n"bbb222" = "one-off data fix"\n')
    code, report, _ = check(run_cli, project, "--checks", "roundtrip-failed")
    assert code == 0
    runs = {r["revision"]: r for r in report["checks"] if r["check"] == "roundtrip-failed"}
    assert not runs["aaa111"]["skipped"]
    assert "one-off data fix" in runs["bbb222"]["skipped"]


def test_seeds(project: Project, run_cli) -> None:  # type: ignore[no-untyped-def]
    """Your own rows are present before the revision upgrades: two rows with the same name
    make a unique constraint fail, which synthetic (distinct) rows never would."""
    drill_project(project)
    project.add("aaa111", None, upgrade=TABLE, downgrade=DROP)
    unique = (
        'with op.batch_alter_table("aaa111") as b:\n'
        '    b.create_unique_constraint("uq_aaa111_name", ["name"])'
    )
    undo = 'with op.batch_alter_table("aaa111") as b:\n    b.drop_constraint("uq_aaa111_name")'
    project.add("bbb222", "aaa111", upgrade=unique, downgrade=undo)
    checks = ("--checks", "data-dependent-failure")
    code, report, _ = check(run_cli, project, *checks)
    assert code == 0 and errors(report) == []
    settings_file(
        project,
        """
        [tool.alembic-drill.seeds."bbb222"]
        aaa111 = [{ id = 101, name = "twin" }, { id = 102, name = "twin" }]
        """,
    )
    code, report, _ = check(run_cli, project, *checks)
    assert code == 1 and errors(report) == [("data-dependent-failure", "bbb222")]


# -- Errors: one line, the file and the key, what is expected ---------------------------------


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            'databse = "sqlite"\n',
            r"unknown key\(s\) databse; known keys: accept, bootstrap, checks",
        ),
        ("database = 5\n", "database must be a string"),
        ("url_env = true\n", "url_env must be a string"),
        ('bootstrap = ["x"]\n', "bootstrap must be a string"),
        ("oldest_downgrade = 1\n", "oldest_downgrade must be a string"),
        ("checks = 3\n", "checks must be a list of check ids"),
        ('checks = ["upgrade-failed", "nope"]\n', r"unknown check\(s\) nope; known: "),
        ('checks = ["stub-downgrade"]\n', r"unknown check\(s\) stub-downgrade"),
        ('skip = ["nope"]\n', r"unknown check\(s\) nope; known: .*stub-downgrade"),
        ('skip_revisions = ["aaa111"]\n', "skip_revisions must map revision ids to reasons"),
        ("[tool.alembic-drill.skip_revisions]\naaa111 = 1\n", "skip_revisions must map"),
        ("seeds = 1\n", "seeds must map revision ids to tables to lists of rows"),
        ('[tool.alembic-drill.seeds.aaa111]\nt = "row"\n', "seeds must map revision ids"),
        ("[tool.alembic-drill.seeds.aaa111]\nt = [1]\n", "seeds must map revision ids"),
        ("database = \n", "not valid TOML"),
    ],
)
def test_wrong_values_are_refused(project: Project, toml: str, message: str) -> None:
    path = settings_file(project, toml)
    with pytest.raises(ConfigError, match=message) as raised:
        load_settings(project.ini)
    assert str(raised.value).startswith(str(path))


def test_a_wrong_value_stops_check_with_exit_2(project: Project, run_cli) -> None:  # type: ignore[no-untyped-def]
    drill_project(project)
    project.linear("aaa111")
    path = settings_file(project, 'skip = ["nope"]\n')
    run = run_cli("check", "-c", str(project.ini))
    assert run.code == 2 and run.out == ""
    assert run.err.count("\n") == 1
    assert run.err.startswith(f"alembic-drill: error: {path} [tool.alembic-drill]: unknown check")


def test_flags_are_checked_like_settings(project: Project, run_cli) -> None:  # type: ignore[no-untyped-def]
    drill_project(project)
    project.linear("aaa111")
    run = run_cli("check", "-c", str(project.ini), "--checks", "upgrade-faild")
    assert run.code == 2
    assert "the command line: unknown check(s) upgrade-faild" in run.err


def test_keyword_arguments_override_settings(project: Project) -> None:
    drill_project(project)
    settings_file(
        project,
        """
        database = "sqlite"
        checks = ["upgrade-failed"]
        skip = ["model-drift"]
        url_env = "A"
        bootstrap = "a.sql"
        oldest_downgrade = "aaa111"
        """,
    )
    drill = Drill(
        project.ini,
        "local:postgresql",
        checks=["roundtrip-failed"],
        skip=[],
        url_env="B",
        bootstrap="b.sql",
        oldest_downgrade="bbb222",
    )
    assert drill.settings.database == "local:postgresql"
    assert drill.settings.checks == ("roundtrip-failed",)
    assert drill.settings.skip == ()
    assert (drill.settings.url_env, drill.settings.bootstrap) == ("B", "b.sql")
    assert drill.settings.oldest_downgrade == "bbb222"
    untouched = Drill(project.ini)
    assert untouched.settings.database == "sqlite"
    assert untouched.plan.drill == ("upgrade-failed",)
