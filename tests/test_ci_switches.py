"""The switches CI runs the suite with: ALEMBIC_DRILL_REQUIRE_DOCKER / _LOCAL (a missing
server fails instead of skipping; the same spellings as the Rust tests accept, and
nonsense stops the run) and --fail-on-skip (a skipped test fails the run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from servers_support import REQUIRE_DOCKER, REQUIRE_LOCAL, parse_switch

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "True", "yes", "Yes", "on", "ON", " 1 "])
def test_on(value: str) -> None:
    assert parse_switch(REQUIRE_LOCAL, value) is True


@pytest.mark.parametrize("value", [None, "", "0", "false", "False", "no", "NO", "off", "Off", "  "])
def test_off(value: str | None) -> None:
    assert parse_switch(REQUIRE_LOCAL, value) is False


@pytest.mark.parametrize("value", ["2", "ture", "enabled", "y"])
def test_nonsense_is_refused(value: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_switch(REQUIRE_DOCKER, value)
    assert str(raised.value) == (
        f"ALEMBIC_DRILL_REQUIRE_DOCKER={value!r} is neither on (1, true, yes, on) "
        "nor off (0, false, no, off, empty)"
    )


def run_suite(
    tmp_path: Path, source: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """pytest on one test file, with this suite's conftest.py loaded as a plugin."""
    (tmp_path / "test_sample.py").write_text(source)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path]), **env}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


SAMPLE = """
import pytest

def test_runs():
    pass

def test_skips():
    pytest.skip("no server here")

@pytest.mark.xfail(strict=True, reason="a known bug")
def test_known_bug():
    assert False
"""


def test_a_skip_fails_the_run_with_fail_on_skip(tmp_path: Path) -> None:
    relaxed = run_suite(tmp_path, SAMPLE)
    assert relaxed.returncode == 0, relaxed.stdout
    strict = run_suite(tmp_path, SAMPLE, "--fail-on-skip")
    assert strict.returncode == 1, strict.stdout
    # Only the skip is named: an expected failure is not a skip.
    assert "--fail-on-skip: 1 test(s) skipped, so the run fails: test_sample.py::test_skips" in (
        strict.stdout
    )


def test_no_skip_passes_with_fail_on_skip(tmp_path: Path) -> None:
    run = run_suite(tmp_path, "def test_runs():\n    pass\n", "--fail-on-skip")
    assert run.returncode == 0, run.stdout


@pytest.mark.parametrize("switch", [REQUIRE_DOCKER, REQUIRE_LOCAL])
def test_a_misspelt_switch_stops_the_run(tmp_path: Path, switch: str) -> None:
    run = run_suite(tmp_path, "def test_runs():\n    pass\n", **{switch: "ture"})
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    assert f"{switch}='ture' is neither on" in run.stderr
