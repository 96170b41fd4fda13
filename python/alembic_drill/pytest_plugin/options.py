"""The plugin's options, resolved once: command line > pytest ini > [tool.alembic-drill]
in pyproject.toml > default."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

INI_ENABLED = "alembic_drill"
INI_CONFIG = "alembic_drill_config"
INI_DATABASE = "alembic_drill_database"
INI_KEEP = "alembic_drill_keep_server"
INI_STEP_TIMEOUT = "alembic_drill_step_timeout"


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("alembic-drill", "alembic-drill: migration checks")
    group.addoption(
        "--alembic-drill",
        action="store_true",
        default=None,
        dest="alembic_drill",
        help="add alembic-drill's migration checks as test items (off by default)",
    )
    group.addoption(
        "--alembic-drill-config",
        default=None,
        dest="alembic_drill_config",
        metavar="PATH",
        help="alembic.ini, pyproject.toml or project folder (default: the rootdir)",
    )
    group.addoption(
        "--alembic-drill-database",
        default=None,
        dest="alembic_drill_database",
        metavar="SPEC",
        help="database spec for the checks and fixtures (default: the setting, else auto)",
    )
    group.addoption(
        "--alembic-drill-keep-server",
        action="store_true",
        default=None,
        dest="alembic_drill_keep_server",
        help="reuse a kept server (alembic-drill db start) and leave it running, with its "
        "migrated templates, for the next run",
    )
    group.addoption(
        "--alembic-drill-step-timeout",
        default=None,
        dest="alembic_drill_step_timeout",
        metavar="SECONDS",
        help="cancel a migration step that runs longer, as that step's failure (default: "
        "the step_timeout setting, else 300; 0: no limit)",
    )
    parser.addini(INI_STEP_TIMEOUT, "seconds a migration step may take (0: no limit)")
    parser.addini(INI_KEEP, "reuse and keep the server between runs", type="bool", default=False)
    parser.addini(
        INI_ENABLED, "add alembic-drill's checks as test items", type="bool", default=False
    )
    parser.addini(INI_CONFIG, "alembic.ini, pyproject.toml or project folder", default="")
    parser.addini(INI_DATABASE, "database spec for the checks and fixtures", default="")


@dataclass(frozen=True)
class PluginOptions:
    enabled: bool
    config: Path
    #: None: the [tool.alembic-drill] setting or auto.
    database: str | None
    #: Reuse a kept server and leave it (and its templates) running.
    keep_server: bool
    #: None: the [tool.alembic-drill] setting or 300 s.
    step_timeout: float | None = None


def resolve(config: pytest.Config) -> PluginOptions:
    enabled = config.getoption("alembic_drill")
    if enabled is None:
        enabled = bool(config.getini(INI_ENABLED))
    path = config.getoption("alembic_drill_config") or config.getini(INI_CONFIG)
    project = Path(path) if path else Path(config.rootpath)
    if not project.is_absolute():
        project = Path(config.rootpath) / project
    if path:
        _check_project(project)
    database = config.getoption("alembic_drill_database") or config.getini(INI_DATABASE)
    keep = config.getoption("alembic_drill_keep_server")
    if keep is None:
        keep = bool(config.getini(INI_KEEP))
    timeout = config.getoption("alembic_drill_step_timeout") or config.getini(INI_STEP_TIMEOUT)
    step_timeout = None
    if timeout:
        from alembic_drill._core import ConfigError
        from alembic_drill.settings import step_timeout as parse_seconds

        where = "--alembic-drill-step-timeout / alembic_drill_step_timeout"
        try:
            step_timeout = parse_seconds(timeout, where)
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
    return PluginOptions(bool(enabled), project, database or None, bool(keep), step_timeout)


def _check_project(project: Path) -> None:
    """A project named explicitly must be one: one usage error now, rather than an
    internal error at collection or a failure in every test that uses a fixture."""
    from alembic_drill._core import ConfigError
    from alembic_drill._project import find_project

    try:
        find_project(project)
    except ConfigError as exc:
        raise pytest.UsageError(f"--alembic-drill-config: {exc}") from None
