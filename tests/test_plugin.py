"""The pytest plugin is imported by every pytest run of an environment: it must cost
nothing and change nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]


def test_plugin_is_registered_and_changes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--trace-config")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*alembic_drill*pytest_plugin*"])


def test_plugin_import_loads_nothing_heavy() -> None:
    code = (
        "import sys, alembic_drill.pytest_plugin\n"
        "heavy = ('alembic', 'sqlalchemy', 'alembic_drill._core')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
