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
        Finding,
        History,
        Revision,
        RevisionError,
        __version__,
        load_history,
    )

__all__ = [
    "AlembicDrillError",
    "ConfigError",
    "Finding",
    "History",
    "Revision",
    "RevisionError",
    "__version__",
    "load_history",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from alembic_drill import _core

        value = getattr(_core, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'alembic_drill' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
