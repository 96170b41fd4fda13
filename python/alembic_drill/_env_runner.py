"""How env.py is called: the async patterns real env.py files use, each needing its
caller to be in a certain place.

- ``direct``: called here. Plain env.py files, and async ones that call
  ``asyncio.run(...)`` or ``connection.run_sync(...)``, when no event loop runs in this
  thread.
- ``thread``: called from a worker thread of its own, with an event loop set for it:
  chosen automatically when this thread runs an event loop (an async test, a notebook),
  where ``asyncio.run()`` refuses to start, and for env.py files that reach for
  ``asyncio.get_event_loop()``.
- ``anyio``: called from an AnyIO worker thread (``anyio.to_thread.run_sync`` inside
  ``anyio.run``), for env.py files that hand their async work back with
  ``anyio.from_thread.run(...)``, as applications that drive Alembic from an AnyIO app do.

``auto`` (the default) reads env.py: ``anyio.from_thread`` or ``from_thread.run`` means
``anyio``, ``get_event_loop()`` means ``thread``, anything else ``direct``. The
``env_runner`` setting names one when reading env.py cannot tell.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

RUNNERS = ("auto", "direct", "thread", "anyio")

T = TypeVar("T")


def detect(env_py: str | Path | None) -> str:
    """The runner an env.py file needs, read from its source."""
    try:
        source = Path(env_py).read_text(encoding="utf-8") if env_py else ""
    except OSError:
        return "direct"
    if re.search(r"\bfrom_thread\b", source) and "anyio" in source:
        return "anyio"
    if re.search(r"\bget_event_loop\s*\(", source):
        return "thread"
    return "direct"


def runner_for(runner: str) -> str:
    """How ``runner`` calls env.py from here: ``direct`` only where no event loop runs in
    this thread."""
    if runner == "direct" and _loop_running():
        return "thread"
    return runner


def run(function: Callable[[], T], runner: str) -> T:
    """Calls ``function`` (Alembic's ``run_env``) as ``runner`` says."""
    runner = runner_for(runner)
    if runner == "anyio":
        return _in_thread(functools.partial(_anyio_worker, function))
    if runner == "thread":
        return _in_thread(function)
    return function()


def _loop_running() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _in_thread(function: Callable[[], T]) -> T:
    """``function`` in a worker thread that has an event loop set (and closed after)."""
    import asyncio
    import concurrent.futures

    def with_loop() -> T:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            return function()
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        return executor.submit(with_loop).result()


def _anyio_worker(function: Callable[[], T]) -> T:
    try:
        import anyio
        import anyio.to_thread
    except ImportError as exc:  # env.py uses anyio, so the project has it
        raise RuntimeError("env.py uses anyio, which is not installed") from exc

    async def main() -> Any:
        return await anyio.to_thread.run_sync(function)

    result: T = anyio.run(main)
    return result
