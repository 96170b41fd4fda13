"""Which DB-API driver the URLs handed to env.py name: one that is installed.

A bare ``postgresql://`` means psycopg 3 to SQLAlchemy 2.1 and psycopg2 to 2.0, and the
servers alembic-drill starts hand out ``postgresql+psycopg://`` and ``mysql+pymysql://``.
A project that works with ``alembic upgrade head`` has some driver installed; it must get
that one, not a ``No module named ...`` reported against its first revision:

1. the driver the project's own ``sqlalchemy.url`` names, when it is installed;
2. else the driver the database URL names (a ``--database postgresql+psycopg2://...``);
3. else the first installed of the usual ones (psycopg, psycopg2, pg8000; PyMySQL,
   mysqlclient, mysql-connector);

and, for the Connection alembic-drill opens itself, the synchronous sibling of an async
driver. With none installed the run stops (exit 2) naming the package to install.
"""

from __future__ import annotations

import functools

from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL

from alembic_drill._core import AlembicDrillError

#: Synchronous drivers, in the order they are tried, and the package that installs each.
_SYNC = {
    "postgresql": (
        ("psycopg", "psycopg[binary]"),
        ("psycopg2", "psycopg2-binary"),
        ("pg8000", "pg8000"),
    ),
    "mysql": (
        ("pymysql", "PyMySQL"),
        ("mysqldb", "mysqlclient"),
        ("mysqlconnector", "mysql-connector-python"),
    ),
    "sqlite": (("pysqlite", "(part of Python)"),),
}


class DriverMissingError(AlembicDrillError):
    """No installed DB-API driver can reach the rehearsal database."""


def family(url: URL) -> str:
    """``postgresql``, ``mysql`` (MariaDB included) or ``sqlite``."""
    backend = url.get_backend_name()
    return "mysql" if backend == "mariadb" else backend


@functools.lru_cache(maxsize=64)
def installed(drivername: str) -> bool:
    """Whether SQLAlchemy can load the DB-API module of ``drivername``
    (``postgresql+psycopg2``, ``sqlite``, ...)."""
    try:
        make_url(f"{drivername}://").get_dialect().import_dbapi()
    except Exception:  # ImportError, or a dialect name SQLAlchemy does not know
        return False
    return True


def for_env(url: URL, project_url: str | None) -> URL:
    """``url`` (a rehearsal database) with the driver env.py should get."""
    backend = url.get_backend_name()
    candidates = []
    theirs = _parse(project_url)
    if theirs is not None and family(theirs) == family(url):
        candidates.append(theirs.drivername)
    candidates.append(url.drivername)
    candidates.extend(f"{backend}+{driver}" for driver, _ in _SYNC.get(family(url), ()))
    for drivername in candidates:
        if installed(drivername):
            return url.set(drivername=drivername)
    raise DriverMissingError(_missing(family(url)))


def sync_sibling(url: URL) -> URL:
    """``url`` itself when its driver is synchronous, else the same database with the
    first installed synchronous driver (env.py files run ``do_run_migrations`` on the
    Connection alembic-drill hands over, which must be synchronous)."""
    if not url.get_dialect().is_async:
        return url
    backend = url.get_backend_name()
    for driver, _ in _SYNC.get(family(url), ()):
        candidate = url.set(drivername=f"{backend}+{driver}")
        if installed(candidate.drivername):
            return candidate
    raise DriverMissingError(
        f"the project uses the async driver {url.drivername}; alembic-drill also needs a "
        f"synchronous one for {backend}: {_missing(family(url))}"
    )


def _missing(engine: str) -> str:
    packages = " or ".join(package for _, package in _SYNC.get(engine, ()))
    return f"no {engine} driver is installed for SQLAlchemy: pip install {packages}"


def _parse(url: str | None) -> URL | None:
    if not url or "%(" in url:
        return None
    try:
        return make_url(url)
    except Exception:
        return None
