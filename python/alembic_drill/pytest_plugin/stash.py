"""What the plugin keeps on ``config.stash`` for a test session."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from alembic_drill._checks import CheckPlan
    from alembic_drill.pytest_plugin.session import DrillSession

#: The session's server, templates, settings and report.
DRILL_SESSION: pytest.StashKey[DrillSession] = pytest.StashKey()
#: The checks the generated items run: the settings' selection as the
#: ``pytest_alembic_drill_modify_checks`` hooks left it, computed once.
CHECK_PLAN: pytest.StashKey[CheckPlan] = pytest.StashKey()
