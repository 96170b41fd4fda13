"""The plugin's hooks, each in a conftest.py of a pytester project: the database hook
chooses the server, the seed-rows hook's rows are present before the revision upgrades,
modify_checks edits the plan, and report receives the final report."""

from __future__ import annotations

import textwrap

import pytest
from drill_support import ENV_CONNECTION, INI
from servers_support import need_binaries

from conftest import script

pytest_plugins = ["pytester"]

USERS = (
    'op.create_table("users", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("name", sa.String(50)))'
)
UNIQUE_NAMES = (
    'with op.batch_alter_table("users") as b:\n'
    '    b.create_unique_constraint("uq_users_name", ["name"])'
)
NOT_UNIQUE = 'with op.batch_alter_table("users") as b:\n    b.drop_constraint("uq_users_name")'


def make_project(pytester: pytest.Pytester) -> None:
    """a1 creates users; b2 makes their names unique (fails only on duplicate names)."""
    root = pytester.path
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text(INI.format(url="sqlite:///app.db"))
    (root / "migrations" / "env.py").write_text(
        textwrap.dedent(ENV_CONNECTION).replace("{models_import}", "target_metadata = None")
    )
    (versions / "a1_users.py").write_text(
        script("a1a1a1a1a1a1", None, upgrade=USERS, downgrade='op.drop_table("users")')
    )
    (versions / "b2_unique.py").write_text(
        script("b2b2b2b2b2b2", "a1a1a1a1a1a1", upgrade=UNIQUE_NAMES, downgrade=NOT_UNIQUE)
    )


def generated(pytester: pytest.Pytester, *args: str) -> list[str]:
    """The ids of the items `--alembic-drill` generates."""
    result = pytester.runpytest_subprocess("--alembic-drill", "--collect-only", "-q", *args)
    return [line for line in result.stdout.lines if "::alembic-drill::" in line]


def test_seed_rows_hook_rows_are_present_before_the_revision(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    # Synthetic rows have distinct names: without the hook, the unique constraint holds.
    clean = pytester.runpytest_subprocess("--alembic-drill", "-v", "-k", "dependent")
    clean.stdout.fnmatch_lines(["*data-dependent-failure[[]b2b2b2b2b2b2[]] PASSED*"])
    pytester.makeconftest(
        """
        def pytest_alembic_drill_seed_rows(config, revision):
            if revision == "b2b2b2b2b2b2":
                return {"users": [{"id": 101, "name": "twin"}, {"id": 102, "name": "twin"}]}
            return None
        """
    )
    seeded = pytester.runpytest_subprocess("--alembic-drill", "-v", "-k", "dependent")
    seeded.stdout.fnmatch_lines(
        [
            "*data-dependent-failure[[]b2b2b2b2b2b2[]] FAILED*",
            "*error[[]data-dependent-failure[]] b2b2b2b2b2b2:*",
        ]
    )
    # a1 has no table before it to seed: skipped either way.
    seeded.assert_outcomes(failed=1, skipped=1)


def test_database_hook_chooses_the_server(pytester: pytest.Pytester) -> None:
    need_binaries("postgresql")
    make_project(pytester)
    pytester.makeconftest(
        """
        def pytest_alembic_drill_database(config):
            return "local:postgresql"
        """
    )
    pytester.makepyfile(
        """
        def test_server(drill_server, drill_migrated_db):
            assert drill_server.spec == "local:postgresql"
            assert drill_server.engine == "postgresql"
            assert drill_migrated_db.url.startswith("postgresql")
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_modify_checks_edits_the_plan(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    everything = generated(pytester)
    assert any("roundtrip[" in item for item in everything)
    pytester.makeconftest(
        """
        def pytest_alembic_drill_modify_checks(config, checks):
            checks[:] = [c for c in checks if c == "upgrade-failed"]
        """
    )
    drill_items = [item for item in generated(pytester) if "::lint[" not in item]
    assert sorted(item.split("::alembic-drill::")[1] for item in drill_items) == [
        "upgrade[a1a1a1a1a1a1]",
        "upgrade[b2b2b2b2b2b2]",
    ]


def test_report_hook_receives_the_final_report(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    pytester.makeconftest(
        """
        def pytest_alembic_drill_seed_rows(config, revision):
            if revision == "b2b2b2b2b2b2":
                return {"users": [{"id": 101, "name": "twin"}, {"id": 102, "name": "twin"}]}

        def pytest_alembic_drill_report(config, report):
            found = sorted((f.check, f.revision) for f in report.findings)
            with open("report.txt", "w") as out:
                out.write(f"{report.ok} {found} {report.database}")
        """
    )
    result = pytester.runpytest_subprocess("--alembic-drill")
    assert result.parseoutcomes()["failed"] == 1
    text = (pytester.path / "report.txt").read_text()
    assert text.startswith("False [('data-dependent-failure', 'b2b2b2b2b2b2')] SQLite files")
