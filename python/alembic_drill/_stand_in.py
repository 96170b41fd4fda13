"""The stand-in URL: it names the rehearsal engine (and the project's driver) but no
database, and it is what the project is given where it needs a URL before a rehearsal
database exists.

- The loader runs env.py with it, offline and with every connection refused, to see which
  version folders env.py chooses for that engine (see ``alembic_drill._loader``).
- With ``url_env``, the variable holds it from before anything of the project is imported
  until the run ends: an application that reads the variable once, at import, and keeps
  the value (a settings object, a module-level engine) holds a URL alembic-drill owns.
  While a step runs, every SQLAlchemy engine made from it, whenever it was made, connects
  to the database of that step (a ``do_connect`` hook below SQLAlchemy's pool), and a
  pooled connection opened for another step's database is replaced when it is checked
  out. A connection made from it in any other way (the driver called directly) reaches
  nothing: its host is in ``.invalid``, which never resolves (RFC 6761), and the
  foreign-database guard refuses it first.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event, exc, pool
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.engine.url import URL

from alembic_drill import _drivers

#: In every stand-in URL, and in nothing else.
MARKER = "rehearsal.alembic-drill.invalid"
_DEFAULTS = {"postgresql": "postgresql", "mysql": "mysql", "sqlite": "sqlite"}
#: Where a connection record redirected to a step's database remembers which one.
_RECORD_KEY = "alembic_drill_stand_in_target"


def engine_of(spec: str, project_url: str | None) -> str | None:
    """The engine a database spec rehearses on (``postgresql``, ``mysql`` or ``sqlite``),
    before its server starts; ``auto`` follows the project's URL. None when it cannot be
    told."""
    text = spec.strip().lower()
    if text == "auto":
        return _family(project_url)
    if text.startswith("sqlite"):
        return "sqlite"
    name = text.split(":", 1)[1] if text.startswith(("docker:", "local:")) else text
    if name.startswith("postgres"):
        return "postgresql"
    if name.startswith(("mysql", "mariadb")):
        return "mysql"
    return None


def for_project(
    config: str | os.PathLike[str], spec: str, url_env: str | None, engine: str | None = None
) -> str | None:
    """The stand-in URL for a run of the project at ``config`` on ``spec`` (or on a server
    of ``engine`` already started); None when the engine cannot be told yet."""
    from alembic_drill._core import ConfigError
    from alembic_drill._project import find_project

    try:
        project_url = find_project(config).sqlalchemy_url()
    except ConfigError:
        return None  # loading the history says what is wrong
    user_url = os.environ.get(url_env) if url_env else None
    if is_stand_in(user_url):
        return user_url  # pinned already (the pytest plugin's session, then its drill)
    engine = engine or engine_of(spec, project_url or user_url)
    return url_for(engine, user_url, project_url) if engine else None


def url_for(engine: str, *like: str | None) -> str:
    """The stand-in URL of ``engine``, with the driver of the first of ``like`` (the URLs
    the project names) of that engine, else an installed one."""
    drivername = _DEFAULTS[engine]
    for candidate in like:
        parsed = _parse(candidate)
        if parsed is not None and _drivers.family(parsed) == engine:
            drivername = parsed.drivername
            break
    if engine == "sqlite":
        url = make_url(f"{drivername}:////{MARKER}/rehearsal.db")
    else:
        url = make_url(f"{drivername}://alembic-drill@{MARKER}/rehearsal")
    with contextlib.suppress(_drivers.DriverMissingError):
        url = _drivers.for_env(url, None)
    return url.render_as_string(hide_password=False)


def is_stand_in(url: str | URL | None) -> bool:
    return url is not None and MARKER in str(url)


#: The user's own values of the variables that hold the stand-in now.
_USERS_VALUES: dict[str, str | None] = {}


def users_value(variable: str) -> str | None:
    """``$variable`` as the user set it, also while it holds the stand-in."""
    current = os.environ.get(variable)
    return _USERS_VALUES.get(variable) if is_stand_in(current) else current


@contextlib.contextmanager
def in_environment(variable: str, url: str) -> Iterator[str | None]:
    """``$variable`` holds ``url`` inside the block (the user's own value is yielded and
    restored after)."""
    previous = os.environ.get(variable)
    os.environ[variable] = url
    _USERS_VALUES[variable] = previous
    try:
        yield previous
    finally:
        _USERS_VALUES.pop(variable, None)
        if previous is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = previous


_LOCK = threading.Lock()
_INSTALLED = False
#: The database of the step that runs (innermost last), with the number of its block.
_STEPS: list[tuple[URL, int]] = []
_BLOCKS = itertools.count(1)


@contextlib.contextmanager
def steering(target: URL) -> Iterator[None]:
    """Inside the block, engines made from the stand-in connect to ``target``."""
    _install()
    _STEPS.append((target, next(_BLOCKS)))
    try:
        yield
    finally:
        _STEPS.pop()


def _install() -> None:
    global _INSTALLED
    with _LOCK:
        if _INSTALLED:
            return
        _INSTALLED = True
    event.listen(Dialect, "do_connect", _do_connect)
    event.listen(pool.Pool, "checkout", _checkout)


def _do_connect(dialect: Any, record: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
    if not _STEPS or not _names_stand_in(cargs, cparams):
        return None
    target, block = _STEPS[-1]
    family = "mysql" if dialect.name == "mariadb" else dialect.name
    if _drivers.family(target) != family:
        return None  # another engine: left to fail (its host never resolves)
    url = target.set(drivername=f"{dialect.name}+{dialect.driver}")
    new_args, new_params = dialect.create_connect_args(url)
    cargs[:] = list(new_args)
    cparams.clear()
    cparams.update(new_params)
    if record is not None:
        record.info[_RECORD_KEY] = block
    return None


def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    # A pooled connection the stand-in opened in an earlier block may reach another
    # database, or one whose sessions were ended to clone or drop it: the pool opens a
    # new one instead, which do_connect sends to this block's database.
    kept = record.info.get(_RECORD_KEY)
    if kept is not None and (not _STEPS or kept != _STEPS[-1][1]):
        raise exc.DisconnectionError("a connection opened for an earlier step")


def _names_stand_in(cargs: list[Any], cparams: dict[str, Any]) -> bool:
    return any(MARKER in str(value) for value in (*cargs, *cparams.values()))


def _family(url: str | None) -> str | None:
    parsed = _parse(url)
    return _drivers.family(parsed) if parsed is not None else None


def _parse(url: str | None) -> URL | None:
    if not url or "%(" in url:
        return None
    try:
        return make_url(url)
    except Exception:
        return None
