"""Engines kept across Alembic steps, so that a step costs its own statements and not a
new connection plus SQLAlchemy's dialect handshake: on PostgreSQL that is ~16 ms, half of
a typical step, and a drill runs four steps per revision.

Two kinds of engines are kept, both only for databases alembic-drill created:

- the one whose Connection is handed to env.py as ``config.attributes["connection"]``;
- the ones env.py builds itself. Alembic's own template calls ``engine_from_config(...,
  poolclass=NullPool)`` on every run, so while a step runs ``sqlalchemy.create_engine``
  and ``sqlalchemy.engine_from_config`` are wrapped: a call for the database under test
  with the same arguments as an earlier call returns the earlier engine, pooled (one
  connection kept, pinged before reuse). A call for any other URL, or with arguments
  that cannot be compared (a ``creator`` function, a listener), goes through unchanged,
  and async engines (bound to the event loop of one run) are never kept.

``release`` closes a database's engines: before it is cloned or dropped (PostgreSQL
refuses both while sessions are open), and ``close`` all of them when the runner ends.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import sqlalchemy
import sqlalchemy.engine
from sqlalchemy import event, pool
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.engine.url import URL

#: Reused connections per kept engine: one; a second one opened at the same time (an
#: env.py that also opens the handed-over Connection) is closed when returned.
_POOL = {"poolclass": pool.QueuePool, "pool_size": 1, "max_overflow": 4, "pool_pre_ping": True}


class EngineCache:
    """Kept engines, by the database they reach and the arguments that built them."""

    def __init__(self) -> None:
        self._engines: dict[Hashable, tuple[URL, Engine]] = {}

    def handed_over(self, url: URL, prepare: Callable[[Engine], None]) -> Engine:
        """The engine whose Connection is handed over for ``url`` (sync driver)."""
        key = ("handed-over", url.render_as_string(hide_password=False))
        kept = self._engines.get(key)
        if kept is None:
            engine = sqlalchemy.create_engine(url, **_POOL)
            prepare(engine)
            kept = self._engines[key] = (url, engine)
        return kept[1]

    @contextlib.contextmanager
    def intercept(self, is_target: Callable[[URL], bool]) -> Iterator[None]:
        """While a step runs: env.py's ``create_engine``/``engine_from_config`` calls for
        the database under test return kept engines."""
        original_create = sqlalchemy.create_engine
        original_from_config = sqlalchemy.engine_from_config

        def create_engine(url: Any, **kwargs: Any) -> Any:
            key = _key("create", str(url), kwargs)
            target = _url(url)
            if key is None or target is None or kwargs.get("_is_async") or not is_target(target):
                return original_create(url, **kwargs)
            return self._kept(key, target, lambda: original_create(url, **{**kwargs, **_POOL}))

        def engine_from_config(
            configuration: dict[str, Any], prefix: str = "sqlalchemy.", **kwargs: Any
        ) -> Any:
            options = {k: v for k, v in configuration.items() if k.startswith(prefix)}
            key = _key("config", prefix, {**options, **kwargs})
            target = _url(options.get(f"{prefix}url"))
            if key is None or target is None or not is_target(target):
                return original_from_config(configuration, prefix, **kwargs)
            return self._kept(
                key,
                target,
                lambda: original_from_config(configuration, prefix, **{**kwargs, **_POOL}),
            )

        modules = (sqlalchemy, sqlalchemy.engine)
        for module in modules:
            setattr(module, "create_engine", create_engine)  # noqa: B010
            setattr(module, "engine_from_config", engine_from_config)  # noqa: B010
        try:
            yield
        finally:
            for module in modules:
                setattr(module, "create_engine", original_create)  # noqa: B010
                setattr(module, "engine_from_config", original_from_config)  # noqa: B010

    def release(self, is_database: Callable[[URL], bool]) -> None:
        """Closes and forgets the engines of the databases ``is_database`` names."""
        for key, (url, engine) in list(self._engines.items()):
            if is_database(url):
                del self._engines[key]
                engine.dispose()

    def close(self) -> None:
        self.release(lambda _url: True)

    def _kept(self, key: Hashable, url: URL, build: Callable[[], Engine]) -> Engine:
        kept = self._engines.get(key)
        if kept is None:
            kept = self._engines[key] = (url, build())
        return kept[1]


@contextlib.contextmanager
def count_connections() -> Iterator[list[int]]:
    """Counts the DBAPI connections opened (by any engine) inside the block."""
    opened = [0]

    def connected(*_args: Any) -> None:
        opened[0] += 1

    event.listen(pool.Pool, "connect", connected)
    try:
        yield opened
    finally:
        event.remove(pool.Pool, "connect", connected)


@contextlib.contextmanager
def without_sync() -> Iterator[None]:
    """SQLite connections opened inside the block do not wait for the disk at each commit
    (``PRAGMA synchronous = OFF``): the databases a step may reach are throwaway files
    alembic-drill made (the guard refuses any other), which need no durability, as the
    servers alembic-drill starts run with ``fsync = off``. A commit then costs what its
    statements cost, not a flush of the disk (~15 ms each on a slow one)."""

    def connected(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.execute("PRAGMA synchronous = OFF")

    event.listen(pool.Pool, "connect", connected)
    try:
        yield
    finally:
        event.remove(pool.Pool, "connect", connected)


def _url(url: Any) -> URL | None:
    """The URL, if it names a synchronous driver (async engines are never kept)."""
    try:
        parsed = make_url(url) if url is not None else None
        return parsed if parsed is not None and not parsed.get_dialect().is_async else None
    except Exception:
        return None


def _key(kind: str, first: str, arguments: dict[str, Any]) -> Hashable | None:
    """A comparable form of an engine's arguments, without its pool class (replaced by
    ours); None when an argument cannot be compared."""
    try:
        frozen = tuple(
            sorted((k, _freeze(v)) for k, v in arguments.items() if not k.endswith("poolclass"))
        )
    except TypeError:
        return None
    return (kind, first, frozen)


def _freeze(value: Any) -> Hashable:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    raise TypeError(type(value).__name__)
