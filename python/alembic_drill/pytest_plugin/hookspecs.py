"""Hooks alembic-drill's pytest plugin calls; implement them in a conftest.py.

Each receives the pytest ``config``. Registered through ``pytest_addhooks``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from alembic_drill._core import DrillReport

hookspec = pytest.hookspec


@hookspec
def pytest_alembic_drill_prepare(config: pytest.Config) -> Any:
    """Prepare the application before the revision scripts load (once per session, before
    any of them is imported): create the app, push its context. A context manager
    returned is entered and stays open until the session ends. The ``prepare`` setting
    runs first."""


@hookspec(firstresult=True)
def pytest_alembic_drill_database(config: pytest.Config) -> str | None:
    """Return the database spec for this session (``docker:postgres:16-alpine``,
    ``local:postgresql``, a URL, ``sqlite``...), or None to use the configured one."""


@hookspec
def pytest_alembic_drill_seed_rows(
    config: pytest.Config, revision: str
) -> dict[str, list[dict[str, Any]]] | None:
    """Return rows (table -> list of rows) that must exist before ``revision`` upgrades,
    for the data checks. Results of every implementation are merged."""


@hookspec
def pytest_alembic_drill_modify_checks(config: pytest.Config, checks: list[str]) -> None:
    """Adjust the drill checks to run, in place (remove ids to skip, add ids)."""


@hookspec
def pytest_alembic_drill_report(config: pytest.Config, report: DrillReport) -> None:
    """Receive the drill report once the generated checks have run."""
