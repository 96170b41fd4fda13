"""Bad input is found before any database starts: exit 2 and one line on the command line,
one usage error in the pytest plugin."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from drill_support import ENV_CONNECTION, INI, drill_project

from alembic_drill import ConfigError, Drill
from conftest import Project, Run, script


def runnable(project: Project, settings: str = "") -> Project:
    """A two-revision project whose env.py runs, with ``settings`` as its
    ``[tool.alembic-drill]`` table."""
    drill_project(project)
    project.add("aaa111", None)
    project.add("bbb222", "aaa111")
    if settings:
        (project.root / "pyproject.toml").write_text(
            "[tool.alembic-drill]\n" + textwrap.dedent(settings)
        )
    return project


def refused_before_any_database(run: Run, *expected: str) -> None:
    """Exit 2 with one line naming the problem, and no server started: the command line
    notes the database as soon as it has one."""
    assert run.code == 2, run.out + run.err
    lines = run.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("alembic-drill: error: "), run.err
    assert "database:" not in run.err
    for text in expected:
        assert text in lines[0], lines[0]


# -- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--json", "--junit"])
def test_report_path_in_a_missing_folder(project: Project, tmp_path: Path, run_cli, flag) -> None:
    runnable(project)
    target = tmp_path / "no" / "such" / "folder" / "report"
    run = run_cli("check", "-c", str(project.ini), "--database", "sqlite", flag, str(target))
    refused_before_any_database(run, flag, str(target), "cannot be written")


@pytest.mark.parametrize("flag", ["--json", "--junit"])
def test_report_path_that_is_a_folder(project: Project, tmp_path: Path, run_cli, flag) -> None:
    runnable(project)
    run = run_cli("check", "-c", str(project.ini), "--database", "sqlite", flag, str(tmp_path))
    refused_before_any_database(run, flag, "is a folder")


def test_reports_replace_the_old_files_whole(project: Project, tmp_path: Path, run_cli) -> None:
    runnable(project)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("{ half a report")
    run = run_cli(
        "check",
        "-c",
        str(project.ini),
        "--database",
        "sqlite",
        "--json",
        str(out / "report.json"),
        "--junit",
        str(out / "report.xml"),
    )
    assert run.code == 0, run.err
    assert json.loads((out / "report.json").read_text())["revisions"] == 2
    assert (out / "report.xml").read_text().startswith("<?xml")
    # The temporary files were renamed into place: nothing else is left in the folder.
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.xml"]


@pytest.mark.parametrize("value", ["", " , "])
def test_checks_flag_naming_no_check(project: Project, run_cli, value: str) -> None:
    runnable(project)
    run = run_cli("check", "-c", str(project.ini), "--database", "sqlite", "--checks", value)
    refused_before_any_database(run, "--checks names no check")


def test_unknown_check_in_a_flag_names_the_valid_ones(project: Project, run_cli) -> None:
    runnable(project)
    run = run_cli("check", "-c", str(project.ini), "--database", "sqlite", "--skip", "roundtrip")
    refused_before_any_database(run, "unknown check(s) roundtrip", "roundtrip-failed")


def test_missing_script_location(project: Project, run_cli) -> None:
    runnable(project)
    project.ini.write_text(INI.format(url="sqlite:///app.db").replace("script_location", "#"))
    run = run_cli("check", "-c", str(project.ini), "--database", "sqlite")
    refused_before_any_database(run, "script_location")


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ('oldest_downgrade = "ccc333"', "oldest_downgrade 'ccc333' is not a revision"),
        ('skip_revisions = { ccc333 = "by hand" }', "skip_revisions names 'ccc333'"),
        ("seeds = { ccc333 = { users = [{ id = 1 }] } }", "seeds names 'ccc333'"),
    ],
    ids=["oldest_downgrade", "skip_revisions", "seeds"],
)
def test_unknown_revision_in_the_settings(
    project: Project, run_cli, settings: str, expected: str
) -> None:
    runnable(project, settings)
    run = run_cli("check", "-c", str(project.ini), "--database", "sqlite")
    refused_before_any_database(run, "pyproject.toml [tool.alembic-drill]", expected)


def test_revision_prefix_is_a_known_oldest_downgrade(project: Project, run_cli) -> None:
    runnable(project, 'oldest_downgrade = "aaa"')
    run = run_cli("check", "-c", str(project.ini), "--database", "sqlite")
    assert run.code == 0, run.err


@pytest.mark.parametrize(
    ("bootstrap", "expected"),
    [
        ("tables.sql", "bootstrap file"),
        ("no_such_package_here.db:create", "bootstrap module 'no_such_package_here.db'"),
        ("json", "name a callable as package.module:function"),
    ],
)
def test_bootstrap_that_does_not_exist(
    project: Project, run_cli, bootstrap: str, expected: str
) -> None:
    runnable(project, f'bootstrap = "{bootstrap}"')
    run = run_cli("check", "-c", str(project.ini), "--database", "sqlite")
    refused_before_any_database(run, expected)


def test_bootstrap_file_is_found_from_the_project_not_the_current_folder(
    project: Project, tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    runnable(project, 'bootstrap = "sql/tables.sql"')
    (project.root / "sql").mkdir()
    (project.root / "sql" / "tables.sql").write_text("CREATE TABLE made_outside (id INT);\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = run_cli("check", "-c", str(project.ini), "--database", "sqlite", "--json", "-")
    assert run.code == 0, run.err
    assert run.json()["ok"] is True


# -- the Python API -----------------------------------------------------------------------


def test_preflight_checks_the_settings_without_a_server(project: Project) -> None:
    runnable(project, 'skip_revisions = { zzz999 = "gone" }')
    drill = Drill(project.ini, "docker:no-such-image-would-ever-start")
    with pytest.raises(ConfigError, match="skip_revisions names 'zzz999'"):
        drill.preflight()
    assert drill._server is None  # nothing started


def test_unknown_check_id_in_an_argument_names_the_valid_ones(project: Project) -> None:
    runnable(project)
    with pytest.raises(ConfigError, match=r"unknown check\(s\) upgrade-faild; known: upgrade-"):
        Drill(project.ini, checks=["upgrade-faild"])


# -- the pytest plugin --------------------------------------------------------------------

pytest_plugins = ["pytester"]


def plugin_project(pytester: pytest.Pytester) -> None:
    root = pytester.path
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text(INI.format(url="sqlite:///app.db"))
    (root / "migrations" / "env.py").write_text(
        textwrap.dedent(ENV_CONNECTION).replace("{models_import}", "target_metadata = None")
    )
    (versions / "a1_first.py").write_text(script("a1a1a1a1a1a1", None))
    (versions / "b2_second.py").write_text(script("b2b2b2b2b2b2", "a1a1a1a1a1a1"))
    pytester.makepyfile("def test_one(drill_db):\n    pass\n\ndef test_two(drill_db):\n    pass\n")


def one_usage_error(result: pytest.RunResult, *expected: str) -> None:
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    assert " passed" not in output and " failed" not in output and " error" not in output
    for text in expected:
        assert output.count(text) == 1, output


@pytest.mark.parametrize("where", ["option", "ini"])
def test_plugin_config_that_is_not_a_project(pytester: pytest.Pytester, where: str) -> None:
    plugin_project(pytester)
    if where == "option":
        result = pytester.runpytest_subprocess("--alembic-drill-config=nowhere")
    else:
        pytester.makeini("[pytest]\nalembic_drill_config = nowhere\n")
        result = pytester.runpytest_subprocess()
    one_usage_error(result, "--alembic-drill-config:", "nowhere: no such file or folder")


@pytest.mark.parametrize("generated", [True, False], ids=["generated-checks", "fixtures"])
def test_plugin_database_spec_that_is_not_one(pytester: pytest.Pytester, generated: bool) -> None:
    plugin_project(pytester)
    args = ["--alembic-drill-database=bogus"] + (["--alembic-drill"] if generated else [])
    result = pytester.runpytest_subprocess(*args)
    one_usage_error(result, "alembic-drill: invalid database spec")


def test_plugin_settings_naming_an_unknown_revision(pytester: pytest.Pytester) -> None:
    plugin_project(pytester)
    (pytester.path / "pyproject.toml").write_text(
        '[tool.alembic-drill]\noldest_downgrade = "ffffffffffff"\n'
    )
    result = pytester.runpytest_subprocess("--alembic-drill")
    one_usage_error(result, "oldest_downgrade 'ffffffffffff' is not a revision")


def test_plugin_hook_naming_an_unknown_check(pytester: pytest.Pytester) -> None:
    plugin_project(pytester)
    pytester.makeconftest(
        """
        def pytest_alembic_drill_modify_checks(config, checks):
            checks.append("model-drfit")
        """
    )
    result = pytester.runpytest_subprocess("--alembic-drill")
    one_usage_error(
        result, "pytest_alembic_drill_modify_checks: unknown check(s) model-drfit; known: "
    )
