"""``prepare``: the project's own start-up, run once in the process before its revision
scripts load. Some applications must exist before their scripts import: a Flask app and
its context, an "instance" global that the application's own upgrade command sets.

``prepare = "pkg.module:callable"`` names a callable taking no argument. It is imported
with the project on ``sys.path`` (the folder of its configuration file, and Alembic's
``prepend_sys_path``). What it returns, if it is a context manager, is entered and stays
open for the whole run (an application context), and is closed when the run ends.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from pathlib import Path
from typing import Any

from alembic_drill._core import ConfigError


def enter(prepare: str, config: Path, stack: contextlib.ExitStack) -> None:
    """Runs ``prepare`` for the project at ``config`` (a folder or its configuration
    file) and keeps what it returns open on ``stack``."""
    project_dir = (config if config.is_dir() else config.parent).resolve()
    module_name, _, attribute = prepare.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"prepare {prepare!r}: name a callable as package.module:function")
    with _on_path(project_dir):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(f"prepare {prepare!r}: cannot import {module_name}: {exc}") from exc
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ConfigError(f"prepare {prepare!r}: {module_name} has no callable {attribute}")
    try:
        result: Any = function()
    except Exception as exc:
        raise ConfigError(f"prepare {prepare!r} failed: {type(exc).__name__}: {exc}") from exc
    if hasattr(result, "__enter__") and hasattr(result, "__exit__"):
        stack.enter_context(result)


@contextlib.contextmanager
def _on_path(project_dir: Path) -> Any:
    """The project's folder on ``sys.path`` while ``prepare`` is imported (Alembic adds
    ``prepend_sys_path`` itself when the scripts load; the folder stays if it was there)."""
    entry = str(project_dir)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)
