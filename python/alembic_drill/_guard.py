"""The foreign-database guard: while alembic-drill runs a project's code (an Alembic step
through env.py, a bootstrap, a model comparison), no connection may open to a database
alembic-drill did not create.

The guard sits at the lowest layer Python reaches, below SQLAlchemy, so that it also sees
an env.py that builds its own engine, calls a driver directly, or retries after an error:

- every SQLite open, through the interpreter's audit hook ``sqlite3.connect``, which fires
  before the file is opened (so a refused path is not even created); aiosqlite opens
  through it too;
- the connect funnel of every PostgreSQL and MySQL driver that is installed, patched in
  place where every import style of that driver goes through it (``psycopg2._connect``,
  psycopg 3's ``generators.connect``, asyncpg's ``connect_utils._connect_addr``, pg8000's
  and PyMySQL's connection classes, MySQLdb, mysql.connector (sync and asyncio),
  aiomysql, asyncmy): the driver's own connection arguments are checked before a socket
  is opened, so not a byte reaches the other server;
- as a backstop for pure-Python drivers reached some other way: Python socket
  connections (audit hook ``socket.connect``) to a database port (5432, 3306, or the port
  of the project's own ``sqlalchemy.url``) that is not the rehearsal server.

A connection is allowed when it reaches the rehearsal database: same engine, the same
host (compared by resolved address), port and database name, or the same SQLite file.
Once one connection is refused, every later one of that guarded block is refused too
(a wait-for-the-database retry loop gets nowhere), and the block's owner stops the run
after the block even if the project's code caught the error (``raise_if_refused``).

Not guarded: programs env.py starts (a subprocess), native extensions other than the
drivers above that open their own connections, and the drill's own Rust connections
(which only ever reach databases alembic-drill created).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.abc
import inspect
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy.engine.url import URL

from alembic_drill._core import ForeignDatabaseError

__all__ = ["ConnectionGuard", "ForeignDatabaseError", "Requested", "guarded"]

_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


@dataclass(frozen=True)
class Requested:
    """Where a driver was asked to connect."""

    family: str  # "postgresql", "mysql" or "sqlite"
    driver: str
    host: str | None = None  # None: the driver's default (a Unix socket or localhost)
    port: int | None = None
    database: str | None = None
    unix_socket: str | None = None
    path: str | None = None  # SQLite

    def describe(self) -> str:
        if self.family == "sqlite":
            return f"sqlite:///{self.path}"
        where = self.unix_socket or f"{self.host or 'localhost'}:{self.port or '(default)'}"
        return f"{self.family}://{where}/{self.database or ''} (through {self.driver})"


class _Target:
    """The rehearsal database, in the forms the checks compare."""

    def __init__(self, url: URL) -> None:
        self.url = url
        backend = url.get_backend_name()
        self.family = "mysql" if backend in ("mysql", "mariadb") else backend
        self.port = url.port or _DEFAULT_PORTS.get(self.family)
        self.database = url.database
        self.path = _sqlite_path(url.database) if self.family == "sqlite" else None
        self.addresses = _addresses(url.host or "localhost") if self.family != "sqlite" else set()

    def admits(self, requested: Requested) -> bool:
        if requested.family != self.family:
            return False
        if self.family == "sqlite":
            # A private in-memory database reaches no database at all.
            return requested.path in (self.path, ":memory:")
        if requested.unix_socket or requested.database != self.database:
            return False
        port = requested.port or _DEFAULT_PORTS.get(self.family)
        addresses = _addresses(requested.host or "localhost")
        return port == self.port and bool(addresses & self.addresses)

    def admits_socket(self, host: str, port: int) -> bool:
        return port == self.port and bool(_addresses(host) & self.addresses)


class ConnectionGuard:
    """Refuses every connection to a database other than ``target`` while active.

    ``foreign_ports`` are ports whose Python socket connections are refused unless they
    reach the rehearsal server (the backstop described in the module docstring)."""

    def __init__(self, target: URL, *, hint: str, foreign_ports: frozenset[int] = frozenset()):
        self.target = _Target(target)
        self.hint = hint
        self.foreign_ports = frozenset(foreign_ports) | frozenset(_DEFAULT_PORTS.values())
        self.refused: list[str] = []

    def __enter__(self) -> ConnectionGuard:
        _install()
        with _LOCK:
            _ACTIVE.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with _LOCK:
            _ACTIVE.remove(self)

    def check(self, requested: Requested) -> None:
        """Raises ForeignDatabaseError unless ``requested`` is the rehearsal database (and
        nothing was refused before)."""
        if not self.refused and self.target.admits(requested):
            return
        self._refuse(requested.describe())

    def check_socket(self, host: str, port: int) -> None:
        if port not in self.foreign_ports:
            return
        if not self.refused and self.target.admits_socket(host, port):
            return
        self._refuse(f"{host}:{port} (a Python socket to a database port)")

    def raise_if_refused(self) -> None:
        """Stops the run after the guarded block if any connection was refused, even when
        the project's code caught the refusal (a retry loop, a bare ``except:``)."""
        if self.refused:
            raise ForeignDatabaseError(self.message())

    def _refuse(self, what: str) -> None:
        # Every refusal names the first one: a later connection (even to the rehearsal
        # database) is refused only because of it.
        if not self.refused:
            self.refused.append(what)
        raise ForeignDatabaseError(self.message())

    def message(self) -> str:
        """What was refused first, and what to change."""
        return self._message(self.refused[0] if self.refused else "another database")

    def _message(self, what: str) -> str:
        ours = self.target.url.render_as_string(hide_password=True)
        return (
            f"env.py connected to {what}, not to alembic-drill's database {ours}; the "
            "connection was refused before it opened, and alembic-drill never runs "
            f"migrations on a database it did not create. {self.hint}"
        )


_LOCK = threading.Lock()
#: The guards in force, innermost last. Process-wide, not per thread: async env.py files
#: connect from an event loop in a worker thread, aiosqlite from a thread of its own.
_ACTIVE: list[ConnectionGuard] = []
_INSTALLED = False
#: Drivers whose connect funnel could not be patched (a version whose internals moved):
#: they are not guarded; the guard tests fail on a driver listed here.
UNGUARDED: list[str] = []


def _guard() -> ConnectionGuard | None:
    return _ACTIVE[-1] if _ACTIVE else None


def _install() -> None:
    """Installs the audit hook and the driver patches, once per process: drivers loaded
    already are patched now, the others as they load. They stay: an audit hook cannot
    be removed, and outside a guarded block each costs one check of an empty list."""
    global _INSTALLED
    with _LOCK:
        if _INSTALLED:
            return
        _INSTALLED = True
    sys.addaudithook(_audit)
    sys.meta_path.insert(0, _PatchOnImport())
    for name in _DRIVER_PATCHES:
        if name in sys.modules:
            _apply(name)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _ACTIVE:
        return
    guard = _guard()
    if guard is None:
        return
    if event == "sqlite3.connect":
        guard.check(Requested("sqlite", "sqlite3", path=_sqlite_path(args[0])))
    elif event == "socket.connect":
        sock, address = args
        if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6):
            guard.check_socket(str(address[0]), int(address[1]))


# -- drivers ---------------------------------------------------------------------------


def _checked(requested_of: Callable[..., Requested], original: Callable[..., Any]) -> Any:
    """``original`` with a check of ``requested_of(*args, **kwargs)`` before it runs."""
    if getattr(original, "__alembic_drill_guarded__", False):
        return original
    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def checked_async(*args: Any, **kwargs: Any) -> Any:
            guard = _guard()
            if guard is not None:
                guard.check(requested_of(*args, **kwargs))
            return await original(*args, **kwargs)

        checked_async.__alembic_drill_guarded__ = True  # type: ignore[attr-defined]
        return checked_async

    @functools.wraps(original)
    def checked(*args: Any, **kwargs: Any) -> Any:
        guard = _guard()
        if guard is not None:
            guard.check(requested_of(*args, **kwargs))
        return original(*args, **kwargs)

    checked.__alembic_drill_guarded__ = True  # type: ignore[attr-defined]
    return checked


def _patch(owner: Any, name: str, requested_of: Callable[..., Requested]) -> None:
    setattr(owner, name, _checked(requested_of, getattr(owner, name)))


def _libpq(driver: str, conninfo: str, parse: Callable[[str], dict[str, Any]]) -> Requested:
    """A libpq connection string (key=value or URI), with libpq's environment defaults."""
    params = {k: v for k, v in parse(conninfo or "").items() if v not in (None, "")}
    env = os.environ
    host = str(params.get("hostaddr") or params.get("host") or env.get("PGHOSTADDR") or "")
    host = host or env.get("PGHOST", "")
    port = str(params.get("port") or env.get("PGPORT") or "")
    user = params.get("user") or env.get("PGUSER")
    database = params.get("dbname") or env.get("PGDATABASE") or user
    if "," in host or "," in port:
        # Several hosts, tried in turn: refused (the rehearsal URL names one).
        return Requested("postgresql", driver, unix_socket=f"several hosts {host}")
    unix = host if not host or host.startswith(("/", "@")) else None
    return Requested(
        "postgresql",
        driver,
        host=None if unix is not None else host,
        port=int(port) if port.isdigit() else None,
        database=str(database) if database else None,
        unix_socket=(unix or "libpq's default socket") if unix is not None else None,
    )


def _patch_psycopg2() -> None:
    psycopg2 = _module("psycopg2")
    parse_dsn = _module("psycopg2.extensions").parse_dsn

    def requested(dsn: str | None = None, *_a: Any, **_k: Any) -> Requested:
        return _libpq("psycopg2", dsn or "", parse_dsn)

    _patch(psycopg2, "_connect", requested)


def _patch_psycopg() -> None:
    generators = _module("psycopg.generators")
    conninfo_to_dict = _module("psycopg.conninfo").conninfo_to_dict

    def requested(conninfo: str = "", *_a: Any, **_k: Any) -> Requested:
        return _libpq("psycopg", conninfo, conninfo_to_dict)

    _patch(generators, "connect", requested)


def _patch_asyncpg() -> None:
    connect_utils = _module("asyncpg.connect_utils")

    def requested(*, addr: Any, params: Any, **_k: Any) -> Requested:
        if isinstance(addr, str):
            return Requested("postgresql", "asyncpg", unix_socket=addr, database=params.database)
        return Requested(
            "postgresql", "asyncpg", host=addr[0], port=int(addr[1]), database=params.database
        )

    _patch(connect_utils, "_connect_addr", requested)


def _patch_pg8000() -> None:
    core = _module("pg8000.core")

    signature = inspect.signature(core.CoreConnection.__init__)

    def requested(*args: Any, **kwargs: Any) -> Requested:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        return Requested(
            "postgresql",
            "pg8000",
            host=a.get("host"),
            port=a.get("port"),
            database=a.get("database") or a.get("user"),
            unix_socket=a.get("unix_sock"),
        )

    _patch(core.CoreConnection, "__init__", requested)


def _mysql(driver: str, host: Any, port: Any, database: Any, unix_socket: Any) -> Requested:
    if isinstance(database, bytes):
        database = database.decode()
    return Requested(
        "mysql",
        driver,
        host=str(host) if host else None,
        port=int(port) if port else None,
        database=str(database) if database else None,
        unix_socket=str(unix_socket) if unix_socket else None,
    )


def _patch_pymysql() -> None:
    connections = _module("pymysql.connections")

    def requested(self: Any, *_a: Any, **_k: Any) -> Requested:
        return _mysql("pymysql", self.host, self.port, self.db, self.unix_socket)

    _patch(connections.Connection, "connect", requested)


def _patch_mysqldb() -> None:
    connections = _module("MySQLdb.connections")

    def requested(self: Any, *args: Any, **kwargs: Any) -> Requested:
        names = ("host", "user", "passwd", "db", "port", "unix_socket")
        given = {**dict(zip(names, args)), **kwargs}
        database = given.get("db") or given.get("database")
        return _mysql(
            "MySQLdb", given.get("host"), given.get("port"), database, given.get("unix_socket")
        )

    _patch(connections.Connection, "__init__", requested)


def _mysql_connector(module: str, cls: str, method: str) -> Callable[[], None]:
    """The patch of one of mysql.connector's connection classes (pure, C, asyncio)."""

    def requested(self: Any, *_a: Any, **_k: Any) -> Requested:
        return _mysql("mysql.connector", self._host, self._port, self._database, self._unix_socket)

    def patch() -> None:
        _patch(getattr(_module(module), cls), method, requested)

    patch.__name__ = f"_patch_{module}"
    return patch


def _patch_aiomysql() -> None:
    connection = _module("aiomysql.connection")

    def requested(self: Any, *_a: Any, **_k: Any) -> Requested:
        return _mysql("aiomysql", self._host, self._port, self._db, self._unix_socket)

    _patch(connection.Connection, "_connect", requested)


def _patch_asyncmy() -> None:
    # asyncmy's connection class is compiled (cannot be patched): its module-level
    # connect() is the funnel SQLAlchemy and users call.
    asyncmy = _module("asyncmy")
    connection = _module("asyncmy.connection")

    signature = inspect.signature(connection.connect)

    def requested(*args: Any, **kwargs: Any) -> Requested:
        a = signature.bind(*args, **kwargs).arguments
        return _mysql(
            "asyncmy",
            a.get("host") or "localhost",
            a.get("port") or 3306,
            a.get("database") or a.get("db"),
            a.get("unix_socket"),
        )

    guarded = _checked(requested, connection.connect)
    connection.connect = guarded
    asyncmy.connect = guarded


#: Each patch, by the module whose loading it waits for (see _PatchOnImport).
_DRIVER_PATCHES: dict[str, Callable[[], None]] = {
    "psycopg2": _patch_psycopg2,
    "psycopg.generators": _patch_psycopg,
    "asyncpg.connect_utils": _patch_asyncpg,
    "pg8000.core": _patch_pg8000,
    "pymysql.connections": _patch_pymysql,
    "MySQLdb.connections": _patch_mysqldb,
    "mysql.connector.connection": _mysql_connector(
        "mysql.connector.connection", "MySQLConnection", "_open_connection"
    ),
    "mysql.connector.connection_cext": _mysql_connector(
        "mysql.connector.connection_cext", "CMySQLConnection", "_open_connection"
    ),
    "mysql.connector.aio.connection": _mysql_connector(
        "mysql.connector.aio.connection", "MySQLConnection", "connect"
    ),
    "aiomysql.connection": _patch_aiomysql,
    "asyncmy": _patch_asyncmy,
}


def _apply(name: str) -> None:
    patch = _DRIVER_PATCHES[name]
    try:
        patch()
    except Exception as exc:  # a driver version whose internals moved
        UNGUARDED.append(f"{name}: {exc}")


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches a driver module right after it loads, so that importing every installed
    driver up front (a second or more) is not the price of the guard."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in _DRIVER_PATCHES or name in sys.modules:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            original(module)
            _apply(name)

        spec.loader = _PatchingLoader(loader, exec_module)
        return spec


class _PatchingLoader(importlib.abc.Loader):
    """A driver module's own loader, with the guard's patch applied after it runs."""

    def __init__(self, loader: Any, exec_module: Callable[[Any], None]) -> None:
        self._loader = loader
        self._exec = exec_module

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._exec(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


# -- helpers -----------------------------------------------------------------------------


def _module(name: str) -> Any:
    """A driver module (untyped: its internals are what the patches reach)."""
    return importlib.import_module(name)


@functools.lru_cache(maxsize=256)
def _addresses(host: str) -> frozenset[str]:
    """The addresses ``host`` resolves to (the name itself when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return frozenset({host})
    return frozenset(str(info[4][0]) for info in infos) | {host}


def _sqlite_path(database: Any) -> str:
    """A comparable form of a SQLite database argument: the resolved file path, or
    ``:memory:`` for private in-memory databases (which reach no existing database)."""
    if isinstance(database, bytes):
        database = os.fsdecode(database)
    text = str(database or "")
    if text.startswith("file:"):
        parts = urlsplit(text)
        if "mode=memory" in parts.query or parts.path in ("", ":memory:"):
            return ":memory:"
        text = unquote(parts.path)
    if text in ("", ":memory:"):
        return ":memory:"
    return str(Path(text).resolve())


@contextlib.contextmanager
def guarded(
    target: URL, *, hint: str, foreign_ports: frozenset[int] = frozenset()
) -> Iterator[ConnectionGuard]:
    """A guarded block that stops the run afterwards if anything was refused, whatever
    the project's code made of the refusal (caught it, or raised another error)."""
    with ConnectionGuard(target, hint=hint, foreign_ports=foreign_ports) as guard:
        try:
            yield guard
        except Exception as exc:
            if guard.refused and not isinstance(exc, ForeignDatabaseError):
                raise ForeignDatabaseError(guard.message()) from exc
            raise
    guard.raise_if_refused()
