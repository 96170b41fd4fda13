"""Database servers alembic-drill starts and owns, and the throwaway databases in them.

>>> from alembic_drill import Server
>>> with Server("docker:postgres:16-alpine") as server:
...     template = server.create_database()
...     # migrate `template` once, then for each test:
...     db = server.clone_database(template)
...     engine = sqlalchemy.create_engine(db.url)

Every server is stopped when its ``with`` block ends, at interpreter exit, and on SIGTERM;
what a killed process leaves behind is removed by the next run.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import weakref
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any

from alembic_drill import _core
from alembic_drill._project import find_project

__all__ = ["Database", "Server", "list_servers", "reap_stale_servers", "stop_kept_servers"]


@dataclass(frozen=True)
class Database:
    """A throwaway database on a :class:`Server`."""

    name: str
    #: The SQLAlchemy URL (password included: it is for connecting; never printed).
    url: str
    engine: str

    def __repr__(self) -> str:
        return f"Database(name={self.name!r}, engine={self.engine!r})"

    __str__ = __repr__


class Server:
    """A database server from a spec: ``auto``, ``sqlite``, ``docker:IMAGE``,
    ``local:postgresql``, ``local:mysql``, or the URL of an existing server.

    It starts when created. ``keep=True`` leaves it running after :meth:`stop` so the next
    run reuses it (``alembic-drill db stop`` ends it). ``config`` (an alembic.ini or
    project folder) lets ``auto`` pick the engine of the project's ``sqlalchemy.url``.
    """

    def __init__(
        self,
        spec: str = "auto",
        *,
        keep: bool = False,
        startup_timeout: float = 120.0,
        config: str | os.PathLike[str] | None = None,
        driver: str | None = None,
    ) -> None:
        project_url = _project_url(config) if spec.strip() == "auto" else None
        self._driver = driver
        self._core = _core._Server.start(
            spec,
            keep=keep,
            startup_timeout=startup_timeout,
            project_url=project_url,
            postgres_image=os.environ.get("ALEMBIC_DRILL_POSTGRES_IMAGE"),
            mysql_image=os.environ.get("ALEMBIC_DRILL_MYSQL_IMAGE"),
        )
        _track(self)

    @property
    def spec(self) -> str:
        return self._core.spec

    @property
    def engine(self) -> str:
        """``postgresql``, ``mysql`` or ``sqlite``."""
        return self._core.engine

    @property
    def description(self) -> str:
        return self._core.description

    @property
    def reason(self) -> str | None:
        """Why ``auto`` chose this server (None for an explicit spec)."""
        return self._core.reason

    @property
    def reused(self) -> bool:
        return self._core.reused

    @property
    def masked_url(self) -> str | None:
        """The admin URL with its password masked (None for SQLite)."""
        return self._core.masked_url

    def admin_url(self) -> str | None:
        """The admin URL, password included: for connecting or a private file, never for
        printing."""
        return self._core.admin_url_with_password()

    @property
    def stopped(self) -> bool:
        return self._core.stopped

    def create_database(self, name: str | None = None) -> Database:
        """A new empty database (named ``drill_...``)."""
        return self._database(self._core.create_database(name))

    def clone_database(self, template: Database | str, name: str | None = None) -> Database:
        """A new database holding a copy of ``template`` (one of this server's)."""
        source = template.name if isinstance(template, Database) else template
        return self._database(self._core.clone_database(source, name))

    def drop_database(self, database: Database | str) -> None:
        """Drops one of alembic-drill's databases; any other name is refused."""
        self._core.drop_database(database.name if isinstance(database, Database) else database)

    def database(self, name: str) -> Database:
        """An existing alembic-drill database on this server, by name."""
        if name not in self.databases():
            raise LookupError(f"no database {name!r} on {self.description}")
        return self._database(name)

    def keep_database(self, database: Database | str) -> None:
        """Leaves the database in place when a kept server stops, for the next run."""
        self._core.keep_database(database.name if isinstance(database, Database) else database)

    def databases(self) -> list[str]:
        """alembic-drill's databases on this server."""
        return self._core.list_databases()

    def stop(self) -> None:
        """Stops the server and removes what it made (a kept server stays running; the
        databases this object created are dropped either way)."""
        self._core.stop()

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self.stopped else "running"
        return f"<Server {self.description} ({state})>"

    def _database(self, name: str) -> Database:
        return Database(name, self._core.sqlalchemy_url(name, self._driver), self.engine)


def list_servers() -> list[dict[str, Any]]:
    """Servers alembic-drill owns on this machine (containers, local servers and SQLite
    folders), passwords masked."""
    return [*_core.list_servers(), *_core.list_sqlite_folders()]


def stop_kept_servers(spec: str | None = None) -> list[str]:
    """Stops servers kept alive between runs (all, or those of one spec)."""
    return _core.stop_kept_servers(spec)


def reap_stale_servers() -> list[str]:
    """Removes servers (and SQLite folders) left behind by runs that were killed."""
    return [*_core.reap_stale_servers(), *_core.reap_sqlite_folders()]


def _project_url(config: str | os.PathLike[str] | None) -> str | None:
    """The project's ``sqlalchemy.url`` (for ``auto``), or None when it names none."""
    if config is None:
        return None
    return find_project(config).sqlalchemy_url()


# Cleanup: every live server is stopped at exit and on SIGTERM, so that a CI job that is
# cancelled leaves nothing running. (SIGKILL cannot be caught: the next run reaps.)
_live: weakref.WeakSet[Server] = weakref.WeakSet()
_installed = False
_lock = threading.Lock()


def _track(server: Server) -> None:
    global _installed
    with _lock:
        _live.add(server)
        if _installed:
            return
        _installed = True
    atexit.register(_stop_all)
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGTERM)
        if previous in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _on_sigterm)


def _stop_all() -> None:
    for server in list(_live):
        try:
            server.stop()
        except Exception:
            pass


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
