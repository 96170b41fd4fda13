"""One env.py run per database for a whole walk, fed the walk's steps one at a time.

Alembic calls the migration function env.py's environment was configured with and
iterates what it returns, each item in a transaction of its own when
``transaction_per_migration`` is set. A session therefore runs env.py once, and its
migration function is a generator that waits for the next request (a step, a replay, a
model comparison) and yields the steps Alembic must run for it. env.py's own work (its
imports, its settings, the engine it builds, the dialect handshake, the version table
check) is paid once per database instead of once per step.

The session runs env.py in a greenlet of the calling thread: a request switches into it,
and the migration function switches back once the request's steps are committed. Nothing
runs in another thread, so a signal interrupts a step exactly where it would interrupt
env.py run directly, and the watchdog cancels a step's statements as before.

What a session keeps right:

- Each step is its own transaction: ``context.configure`` gets
  ``transaction_per_migration=True`` (env.py's outer ``begin_transaction()`` then does
  nothing; Alembic begins and commits one transaction per step), so between two steps
  everything is committed and the walk may inspect the database from its own connection.
  Where env.py hands Alembic a connection already in a transaction of its own, no step
  can be committed alone: the session serves one request and ends, as a direct run would.
- The version table: Alembic reads the heads once per run and maintains them step by
  step; only steps of this session touch the table while it lives. A failed step raises
  out of env.py, which ends the session (its transaction is rolled back as in a direct
  run); the next request starts a new one, which reads the heads again.
- What Alembic's DDL layer remembers within a run (``impl.memo``) is cleared at each
  request, as a run per step starts afresh.
- Module state that Alembic and asyncio keep per process (``alembic.context`` and
  ``alembic.op``, bound to the session's environment while it runs; the running event
  loop of an async env.py) is swapped in and out at every switch, so that sessions on
  several databases, and the caller, each see their own.

Only env.py files run directly in the caller's thread use sessions (see
``alembic_drill._env_runner``); the others, and everything when
``ALEMBIC_DRILL_ENV_SESSIONS=0``, run env.py once per step.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["EnvSession", "available", "suits"]

#: Set to 0 to run env.py once per step (the benchmarks measure both).
SWITCH = "ALEMBIC_DRILL_ENV_SESSIONS"

#: The work of a request, given env.py's MigrationContext: the steps Alembic must run, or
#: (a call) nothing.
Work = Callable[[Any], Iterable[Any]]

_STOP = object()


def available() -> bool:
    """Whether sessions can be used here: not switched off, and greenlet installed."""
    if os.environ.get(SWITCH, "1").strip().lower() in ("0", "off", "false", "no"):
        return False
    try:
        _greenlet()
    except ImportError:
        return False
    return True


def suits(env_py: str | Path | None) -> bool:
    """Whether env.py may run as a session. Not an async one: its engine (its own, or the
    application's made once at import) keeps connections on the event loop of the run that
    opened them, the sessions of several databases are alive at once and share it, and a
    connection then outlives the session that opened it (seen on PostgreSQL with asyncpg).
    Such an env.py runs once per step, as before."""
    try:
        source = Path(env_py).read_text(encoding="utf-8") if env_py else ""
    except OSError:
        return True
    return not re.search(r"\basync\s+def\b|\basyncio\b", source)


def _greenlet() -> Any:
    """The greenlet module (untyped: imported by name)."""
    import importlib

    return importlib.import_module("greenlet")


class EnvSession:
    """env.py running on one database, between two requests waiting in its migration
    function. ``attributes`` is the ``config.attributes`` env.py sees (built with the
    session's exit stack, which closes when env.py ends)."""

    def __init__(
        self,
        config: Any,
        script: Any,
        attributes: Callable[[contextlib.ExitStack[Any]], dict[str, Any]],
    ) -> None:
        self._config = config
        self._script = script
        self._stack = contextlib.ExitStack()
        self._attributes = attributes(self._stack)
        self._greenlet = _greenlet().greenlet(self._main)
        #: Where the migration function waits for the next request, and who asked last.
        self._paused: Any = None
        self._caller: Any = None
        self._env: Any = None
        #: The module state of the session while it waits (see the module docstring).
        self._state = _State.empty()
        self._pending: Any = None
        #: Whether env.py is still running (a request may be sent).
        self.alive = True

    def run(self, work: Work, destination: str | None, *, call: bool) -> None:
        """Runs ``work`` in env.py's migration context: a step request (``call`` false)
        returns the steps Alembic then runs, each in a transaction of its own, and what
        they raise ends the session as it ends env.py; a call runs statements itself, in
        one transaction, rolled back and raised here if it fails (the session goes on)."""
        assert self.alive, "a session that ended takes no request"
        self._settle(self._switch((work, destination, call)))

    def close(self) -> None:
        """Lets env.py end (its migration function returns). Raises what env.py raised
        on the way out."""
        if not self.alive:
            return
        if self._greenlet:  # started: env.py waits in the migration function
            self._settle(self._switch(_STOP))
        else:  # never started: there is no env.py run to end
            self.alive = False
            self._stack.close()

    # -- the caller's side ---------------------------------------------------------------

    def _switch(self, message: Any) -> tuple[str, BaseException | None]:
        self._caller = _greenlet().getcurrent()
        # When env.py ends, its greenlet returns to whoever asked last.
        self._greenlet.parent = self._caller
        target = self._paused if self._paused is not None else self._greenlet
        outer = _State.now()
        self._state.install()
        attributes = self._config.attributes
        self._config.__dict__["attributes"] = self._attributes
        try:
            reply: tuple[str, BaseException | None] = target.switch(message)
        finally:
            self._state = _State.now()
            outer.install()
            self._config.__dict__["attributes"] = attributes
        return reply

    def _settle(self, reply: tuple[str, BaseException | None]) -> None:
        kind, raised = reply
        if kind == "ended":
            self.alive = False
        if raised is not None:
            raise raised

    # -- inside the session --------------------------------------------------------------

    def _main(self, message: Any) -> tuple[str, BaseException | None]:
        from alembic.runtime.environment import EnvironmentContext

        self._pending = message
        try:
            with self._stack:
                env = EnvironmentContext(self._config, self._script, fn=self._migrations)
                # Per instance: Alembic binds its module proxy to the instance's methods.
                env.configure = _per_migration(env.configure)  # type: ignore[method-assign]
                self._env = env
                with env:
                    self._script.run_env()
        except BaseException as exc:  # handed to the caller, which raises it
            return ("ended", exc)
        return ("ended", None)

    def _migrations(self, heads: Any, context: Any) -> Iterator[Any]:
        # A connection in a transaction env.py began itself: Alembic commits nothing
        # before env.py ends, so one request per run.
        single = getattr(context, "_in_external_transaction", True)
        message = self._pending
        while message is not _STOP:
            work, destination, call = message
            self._env.context_opts["destination_rev"] = destination
            # What Alembic's DDL layer remembers within a run (the PostgreSQL enum types it
            # created, so a second table using one does not create it again) is forgotten
            # at each request, as a run per step forgets it: an enum type a downgrade
            # dropped must be created again by the next upgrade.
            context.impl.memo.clear()
            if not call:
                yield from list(work(context))
                reply: tuple[str, BaseException | None] = ("waiting", None)
            else:
                # Work of the tool's own (a replay, a comparison): its failure is rolled
                # back and reported, and touches neither the version table nor the session.
                try:
                    with context.begin_transaction(_per_migration=True):
                        work(context)
                    reply = ("waiting", None)
                except Exception as exc:
                    if single:
                        raise
                    reply = ("failed", exc)
            if single:
                return
            message = self._wait(reply)

    def _wait(self, reply: tuple[str, BaseException | None]) -> Any:
        self._paused = _greenlet().getcurrent()
        return self._caller.switch(reply)


def _per_migration(configure: Callable[..., None]) -> Callable[..., None]:
    def configure_per_migration(*args: Any, **kwargs: Any) -> None:
        kwargs["transaction_per_migration"] = True
        configure(*args, **kwargs)

    return configure_per_migration


class _State:
    """Process-wide state a running env.py sets: Alembic's ``context`` and ``op`` module
    proxies, and asyncio's running loop (an async env.py waits inside its loop)."""

    def __init__(self, context: Any, op: Any, loop: Any) -> None:
        self.context, self.op, self.loop = context, op, loop

    @classmethod
    def empty(cls) -> _State:
        return cls(None, None, None)

    @classmethod
    def now(cls) -> _State:
        import alembic.context
        import alembic.op

        return cls(_proxy(alembic.context), _proxy(alembic.op), _running_loop())

    def install(self) -> None:
        import alembic.context
        import alembic.op

        _put_proxy(alembic.context, self.context)
        _put_proxy(alembic.op, self.op)
        asyncio = sys.modules.get("asyncio")
        if asyncio is not None and _running_loop() is not self.loop:
            asyncio.events._set_running_loop(self.loop)


def _proxy(module: ModuleType) -> Any:
    return vars(module).get("_proxy")


def _put_proxy(module: ModuleType, proxy: Any) -> None:
    current = _proxy(module)
    if current is proxy:
        return
    if proxy is not None:
        proxy._install_proxy()
    else:
        current._remove_proxy()


def _running_loop() -> Any:
    asyncio = sys.modules.get("asyncio")
    return asyncio.events._get_running_loop() if asyncio is not None else None
