"""alembic-drill: rehearse Alembic migrations before they reach production.

>>> from alembic_drill import load_history
>>> history = load_history("path/to/alembic.ini")
>>> history.heads, [f.check for f in history.findings]

The names below are loaded from the native core on first use, not on import: pytest
imports this package (for the plugin) in every run of an environment that has it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic_drill._core import (
        AlembicDrillError,
        ConfigError,
        DrillReport,
        Finding,
        ForeignDatabaseError,
        History,
        NotOurDatabaseError,
        Revision,
        RevisionError,
        ServerError,
        ServerStartError,
        SpecError,
        __version__,
        load_history,
    )
    from alembic_drill.drill import Drill
    from alembic_drill.servers import Database, Server

__all__ = [
    "AlembicDrillError",
    "ConfigError",
    "Database",
    "Drill",
    "DrillReport",
    "Finding",
    "ForeignDatabaseError",
    "History",
    "NotOurDatabaseError",
    "Revision",
    "RevisionError",
    "Server",
    "ServerError",
    "ServerStartError",
    "SpecError",
    "__version__",
    "load_history",
]
_FROM_SERVERS = {"Database", "Server"}
_FROM_DRILL = {"Drill"}
_FROM_CORE = set(__all__) - _FROM_SERVERS - _FROM_DRILL


def __getattr__(name: str) -> Any:
    if name in _FROM_CORE:
        from alembic_drill import _core

        value = getattr(_core, name)
        globals()[name] = value
        return value
    if name in _FROM_SERVERS | _FROM_DRILL:
        import importlib

        module = importlib.import_module(
            "alembic_drill.servers" if name in _FROM_SERVERS else "alembic_drill.drill"
        )
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'alembic_drill' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
