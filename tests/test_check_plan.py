"""Which checks run: one plan from the settings, the flags and the plugin's hook."""

from __future__ import annotations

import textwrap

import pytest
from drill_support import ENV_CONNECTION, HAZARD_CHECKS, INI

from alembic_drill import ConfigError, _core
from alembic_drill._checks import known_checks, parse_check_ids, select_checks
from alembic_drill.settings import Settings
from conftest import script

pytest_plugins = ["pytester"]


def test_known_checks_are_the_cores() -> None:
    known = known_checks()
    assert known.drill == tuple(_core.DRILL_CHECKS)
    assert known.static == tuple(_core.STATIC_CHECKS)
    assert "roundtrip-failed" in known.drill and "multiple-heads" in known.static


def test_default_settings_run_every_drill_check_and_hide_no_finding() -> None:
    plan = Settings().check_plan
    assert plan.drill == known_checks().drill
    assert plan.core_options() == {"checks": list(known_checks().drill), "skip_findings": []}


def test_skip_removes_drill_checks_and_hides_static_findings() -> None:
    plan = select_checks(
        ("model-drift", "upgrade-failed", "roundtrip-failed", "upgrade-failed"),
        ("roundtrip-failed", "stub-upgrade", "multiple-heads"),
    )
    # The order asked for, once each.
    assert plan.drill == ("model-drift", "upgrade-failed")
    assert plan.core_options()["skip_findings"] == ["multiple-heads", "stub-upgrade"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("checks", ["upgrade-faild"], r"unknown check\(s\) upgrade-faild; known: upgrade-failed"),
        # A static check can be skipped, not run as a drill check.
        ("checks", ["multiple-heads"], r"unknown check\(s\) multiple-heads"),
        ("skip", "model-drift, multiple-headz", r"unknown check\(s\) multiple-headz; known: "),
        ("skip", [1], "skip must be a list of check ids"),
    ],
)
def test_unknown_ids_are_errors(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_check_ids(value, key, "here")


def test_hook_result_is_checked_like_a_setting() -> None:
    plan = Settings().check_plan
    assert plan.with_drill(["not-idempotent"], "hook").drill == ("not-idempotent",)
    with pytest.raises(ConfigError, match=r"^hook: unknown check\(s\) not-idempotant"):
        plan.with_drill(["not-idempotant"], "hook")


def test_plugin_plans_once_and_runs_its_plan(pytester: pytest.Pytester) -> None:
    root = pytester.path
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text(INI.format(url="sqlite:///app.db"))
    (root / "migrations" / "env.py").write_text(
        textwrap.dedent(ENV_CONNECTION).replace("{models_import}", "target_metadata = None")
    )
    (versions / "a1_first.py").write_text(script("a1a1a1a1a1a1", None))
    # The production hazards are left out too: on SQLite they are skipped with the reason.
    skip = ["model-drift", "data-dependent-failure", *HAZARD_CHECKS]
    (root / "pyproject.toml").write_text(f"[tool.alembic-drill]\nskip = {skip!r}\n")
    pytester.makeconftest(
        """
        CALLS = []

        def pytest_alembic_drill_modify_checks(config, checks):
            CALLS.append(list(checks))
            checks.remove("not-idempotent")

        def pytest_alembic_drill_report(config, report):
            ran = sorted({c["check"] for c in report.to_dict()["checks"]})
            print("HOOK CALLS", len(CALLS), CALLS[0])
            print("RAN", ran)
        """
    )
    result = pytester.runpytest_subprocess("--alembic-drill", "-s", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    out = result.stdout.str()
    assert (
        "HOOK CALLS 1 ['upgrade-failed', 'downgrade-failed', 'roundtrip-failed', "
        "'downgrade-leaves-trace', 'destroys-data', 'downgrade-loses-data', 'not-idempotent']"
    ) in out
    assert (
        "RAN ['destroys-data', 'downgrade-failed', 'downgrade-leaves-trace', "
        "'downgrade-loses-data', 'roundtrip-failed', 'upgrade-failed']"
    ) in out
