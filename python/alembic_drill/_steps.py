"""Runs one Alembic step at a time on a database alembic-drill owns, through the project's
own env.py. The only module that drives Alembic's runtime.

The revision scripts are loaded once per runner (Alembic's ``ScriptDirectory`` keeps its
revision map), and each step is exactly one revision: the runner builds Alembic's own
``RevisionStep`` for it, so Alembic's version-table bookkeeping (merges, branches,
dependencies) applies unchanged. The walk's steps, replays and model comparison on a
database run in one env.py session per database (alembic_drill._env_session), each step
in a transaction of its own; other calls, and env.py files a session cannot serve, run
env.py once per call.

env.py files come in many styles; every step hands over the target database in all the
common ways at once: a Connection in ``config.attributes["connection"]`` (one that also
answers ``.connect()``, for env.py files written for an Engine), ``sqlalchemy.url`` in the
config, and, when the project names one, an environment variable. While a step runs,
``alembic_drill._guard`` refuses every connection to another database, below SQLAlchemy:
a user's migrations never run anywhere alembic-drill did not create.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, pool
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine.url import URL

from alembic_drill import _drivers, _env_runner, _env_session, _model_hints, _rerun, _stand_in
from alembic_drill._core import AlembicDrillError

if TYPE_CHECKING:
    from alembic_drill._core import HazardObservation, StepOutcome
from alembic_drill._engines import EngineCache, count_connections, without_sync
from alembic_drill._env_session import EnvSession
from alembic_drill._guard import ForeignDatabaseError, guarded
from alembic_drill._hazards import HazardWatch
from alembic_drill._project import find_project
from alembic_drill._step_errors import ErrorKind
from alembic_drill._step_errors import describe as _describe
from alembic_drill._step_errors import kind as _error_kind

__all__ = [
    "DrillHost",
    "EnvPyError",
    "ForeignDatabaseError",
    "StepResult",
    "StepRunner",
    "run_bootstrap",
]

_DATA_STATEMENT = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


class EnvPyError(AlembicDrillError):
    """env.py failed before Alembic ran any migration: a failure of the project's
    environment (an import, a driver, the application's start-up), never a finding
    against a revision."""


@dataclass
class StepResult:
    direction: str
    revision: str
    ok: bool
    seconds: float
    error: str | None = None
    error_type: str | None = None
    #: What raised the error: constraint, value, database or code (_step_errors).
    error_kind: ErrorKind | None = None
    #: INSERT/UPDATE/DELETE statements the step ran (with parameters), when captured.
    statements: list[tuple[str, Any]] = field(default_factory=list)
    #: Statements that changed the schema (when captured), and whether any of them was
    #: the migration's own rather than Alembic's version table.
    schema_statements: list[str] = field(default_factory=list)
    schema_changed: bool = False
    #: New database connections the step opened (0 when it reused kept ones: see
    #: alembic_drill._engines).
    connections_opened: int = 0
    version_table: str = "alembic_version"
    version_table_schema: str | None = None
    #: What the step's DDL did to the tables (PostgreSQL, when watched: _hazards).
    hazards: list[HazardObservation] | None = None
    hazards_unobserved: str | None = None


class _ReusableConnection(Connection):
    """A Connection that also answers ``.connect()``, as an Engine would: env.py files
    written as ``with connectable.connect() as connection:`` then run on the connection
    alembic-drill handed over instead of failing (SQLAlchemy 2 removed that method)."""

    def connect(self) -> Any:
        return contextlib.nullcontext(self)


class _HandedOver(dict):  # type: ignore[type-arg]
    """``config.attributes`` for one step: its ``"connection"`` is opened on first
    lookup."""

    def __init__(self, base: dict[str, Any], open_connection: Any) -> None:
        super().__init__((k, v) for k, v in base.items() if k != "connection")
        self._open = open_connection

    def _ensure(self) -> None:
        if not dict.__contains__(self, "connection"):
            dict.__setitem__(self, "connection", self._open())

    def __getitem__(self, key: str) -> Any:
        if key == "connection":
            self._ensure()
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        if key == "connection":
            self._ensure()
        return dict.get(self, key, default)

    def __contains__(self, key: object) -> bool:
        return key == "connection" or dict.__contains__(self, key)


class StepRunner:
    """Steps for one Alembic project; reusable across databases and steps."""

    def __init__(
        self,
        config: str | os.PathLike[str] | None,
        *,
        section: str = "alembic",
        url_env: str | None = None,
        env_runner: str = "auto",
        version_locations: list[str] | None = None,
    ) -> None:
        from alembic.script import ScriptDirectory

        self.config = find_project(config).alembic_config(section)
        self.project_url = self.config.get_main_option("sqlalchemy.url")
        self.script = ScriptDirectory.from_config(self.config)
        if version_locations is not None:
            # The folders the loader found env.py choosing (alembic_drill._version_folders):
            # the steps resolve revisions before env.py runs and chooses them again.
            self.script.version_locations = list(version_locations)
            self.script.__dict__.pop("_version_locations", None)
        self.url_env = url_env
        if env_runner not in _env_runner.RUNNERS:
            raise ValueError(f"env_runner {env_runner!r}: one of {', '.join(_env_runner.RUNNERS)}")
        self.env_runner = (
            _env_runner.detect(self.script.env_py_location) if env_runner == "auto" else env_runner
        )
        self.env_runs = 0
        #: env.py's target_metadata as the last step saw it (for seeding hints).
        self.target_metadata: Any = None
        self._engines = EngineCache()
        #: Live env.py sessions, by the URL env.py is given (see alembic_drill._env_session).
        self._sessions: dict[str, EnvSession] = {}
        self._sessions_usable = _env_session.available() and _env_session.suits(
            self.script.env_py_location
        )

    def database_url(self, url: str) -> str:
        """``url`` with the driver env.py gets: the project's own when it is installed
        (an env.py built for ``postgresql+asyncpg`` gets an asyncpg URL), else one that
        is (see alembic_drill._drivers)."""
        chosen = _drivers.for_env(make_url(url), self.project_url)
        return chosen.render_as_string(hide_password=False)

    def step(
        self,
        url: str,
        direction: str,
        revision: str,
        capture: bool = False,
        hazards: bool = False,
    ) -> StepResult:
        """Applies (``upgrade``) or reverts (``downgrade``) exactly ``revision``; with
        ``hazards``, measures what its DDL does to the tables (see _hazards)."""
        from alembic.runtime.migration import MigrationStep

        script = self.script.get_revision(revision)
        if script is None:
            raise ValueError(f"no revision {revision!r}")
        migration_step = (
            MigrationStep.upgrade_from_script(self.script.revision_map, script)
            if direction == "upgrade"
            else MigrationStep.downgrade_from_script(self.script.revision_map, script)
        )
        result = StepResult(direction, revision, ok=False, seconds=0.0)
        asked: list[bool] = []

        def steps(rev: Any, context: Any) -> list[Any]:
            asked.append(True)
            self.target_metadata = context.opts.get("target_metadata")
            result.version_table = context.version_table
            result.version_table_schema = context.version_table_schema
            return [migration_step]

        started = time.perf_counter()
        try:
            self._run_env(
                url,
                steps,
                destination=revision,
                result=result,
                capture=capture,
                hazards=hazards,
                session="step",
            )
            result.ok = True
            result.schema_changed = any(
                _table_of(sql) != result.version_table.lower() for sql in result.schema_statements
            )
            result.statements = [
                (sql, params)
                for sql, params in result.statements
                if not _bookkeeping(sql, result.version_table)
            ]
        except AlembicDrillError:
            raise
        except Exception as exc:
            if not asked:
                raise _env_failure(exc) from exc
            result.error = _describe(exc)
            result.error_type = type(exc).__name__
            result.error_kind = _error_kind(exc)
        result.seconds = time.perf_counter() - started
        return result

    def migrate(self, url: str, direction: str, target: str) -> None:
        """Moves the database at ``url`` to ``target`` (a revision, ``heads``, ``base``, a
        branch label, ``-1``/``+1``), as ``alembic upgrade/downgrade`` would; raises the
        migration's own error."""

        def upgrade(rev: Any, context: Any) -> list[Any]:
            return list(self.script._upgrade_revs(target, rev))

        def downgrade(rev: Any, context: Any) -> list[Any]:
            return list(self.script._downgrade_revs(target, rev))

        fn = upgrade if direction == "upgrade" else downgrade
        self._run_env(url, fn, destination=target, result=None, capture=False)

    def current(self, url: str) -> tuple[str, ...]:
        """The revisions the database at ``url`` is at."""
        heads: list[str] = []

        def read(rev: Any, context: Any) -> list[Any]:
            heads.extend(context.get_current_heads())
            return []

        self._run_env(url, read, destination=None, result=None, capture=False)
        return tuple(sorted(heads))

    def compare_models(self, url: str) -> list[str]:
        """Differences between env.py's ``target_metadata`` and the database, one line
        each (Alembic's autogenerate comparison, as ``alembic check`` runs it)."""
        from alembic.autogenerate import compare_metadata

        diffs: list[str] = []
        found_metadata: list[bool] = []

        def compare(rev: Any, context: Any) -> list[Any]:
            metadata = context.opts.get("target_metadata")
            if metadata is None:
                found_metadata.append(False)
                return []
            found_metadata.append(True)
            unusable = _unusable_metadata(metadata)
            if unusable:
                raise LookupError(unusable)
            diffs.extend(_render_diff(d) for d in compare_metadata(context, metadata))
            return []

        self._run_env(url, compare, destination=None, result=None, capture=False, session="call")
        if found_metadata and not found_metadata[0]:
            raise LookupError("env.py passes no target_metadata to context.configure()")
        return diffs

    def rerun(self, url: str, revision: str, schema_changed: bool) -> tuple[str | None, str | None]:
        """Runs ``revision``'s upgrade() again on the state it left, through env.py and
        without touching the version table (see alembic_drill._rerun). Returns (the
        error, if it failed; the reason, if it cannot tell). Its transaction is rolled
        back when it fails."""
        script = self.script.get_revision(revision)
        if script is None:
            raise ValueError(f"no revision {revision!r}")
        upgrade = script.module.upgrade
        if _rerun.takes_arguments(upgrade):
            return None, f"{revision}'s upgrade() takes arguments: it cannot be run again alone"
        asked: list[bool] = []

        def again(rev: Any, context: Any) -> list[Any]:
            asked.append(True)
            if schema_changed:
                with _rerun.data_operations_only():
                    upgrade()
            else:
                upgrade()
            return []

        try:
            self._run_env(url, again, destination=None, result=None, capture=False, session="call")
        except AlembicDrillError:
            raise
        except Exception as exc:
            if not asked:
                raise _env_failure(exc) from exc
            if schema_changed:
                return None, (
                    f"{revision}'s upgrade changes the schema and migrates data, and its "
                    f"data part cannot run again on its own ({_describe(exc)}): whether "
                    "running it twice is safe cannot be told"
                )
            return _describe(exc), None
        return None, None

    def release(self, url: str) -> None:
        """Ends the env.py session and closes the connections kept to the database at
        ``url`` (before it is cloned or dropped)."""
        target = make_url(self.database_url(url))
        try:
            self._end_sessions(target)
        finally:
            self._engines.release(lambda kept: _same_database(kept, target))

    def close(self) -> None:
        """Ends every env.py session and closes every connection kept across steps."""
        try:
            for url in list(self._sessions):
                self._end_sessions(make_url(url))
        finally:
            self._sessions.clear()
            self._engines.close()

    # -- internals -----------------------------------------------------------------------

    def _run_env(
        self,
        url: str,
        fn: Any,
        *,
        destination: str | None,
        result: StepResult | None,
        capture: bool,
        hazards: bool = False,
        session: str | None = None,
    ) -> None:
        """Runs ``fn`` in env.py's migration context on the database at ``url``. With
        ``session`` (``step``: fn returns the steps to run; ``call``: fn runs statements
        itself, which get a transaction of their own), in the database's live env.py
        session where sessions can be used (see alembic_drill._env_session): fn then gets
        no heads. Else env.py runs for this call alone."""
        url = self.database_url(url)
        target = make_url(url)
        live = self._session(url) if session is not None else None
        if live is None:
            # A run beside a live session would leave the heads it keeps stale.
            self._end_sessions(target)
            self.env_runs += 1
        with self._window(url, target, capture, hazards) as (captured, watched, connections):
            if live is not None:
                try:
                    live.run(
                        functools.partial(fn, None),
                        destination,
                        call=session == "call",
                    )
                finally:
                    if not live.alive:
                        self._sessions.pop(url, None)
            else:
                self._run_env_once(target, fn, destination)
        if result is not None:
            result.statements = captured.statements
            result.schema_statements = captured.schema_statements
            result.connections_opened = connections[0]
            if hazards:
                result.hazards = watched.observations
                result.hazards_unobserved = watched.unobserved

    def _run_env_once(self, target: URL, fn: Any, destination: str | None) -> None:
        from alembic.runtime.environment import EnvironmentContext

        previous = self.config.attributes
        try:
            with contextlib.ExitStack() as transaction:
                self.config.__dict__["attributes"] = _HandedOver(
                    previous, functools.partial(self._open_handed_over, target, transaction)
                )
                with EnvironmentContext(
                    self.config, self.script, fn=fn, destination_rev=destination
                ):
                    _env_runner.run(self.script.run_env, self.env_runner)
        finally:
            self.config.__dict__["attributes"] = previous

    def _open_handed_over(self, target: URL, stack: contextlib.ExitStack[Any]) -> Connection:
        """The Connection handed to env.py, checked out only if env.py looks it up (an
        env.py that builds its own engine then holds one connection, not two). The
        handed-over Connection is synchronous even for an async project: env.py files run
        `do_run_migrations(connection)` on it directly; sqlalchemy.url keeps the
        project's (maybe async) driver for env.py files that build their own engine."""
        engine = self._engines.handed_over(_drivers.sync_sibling(target), _reusable)
        return stack.enter_context(_committed(engine))

    @contextlib.contextmanager
    def _window(
        self, url: str, target: URL, capture: bool, hazards: bool = False
    ) -> Iterator[tuple[_Capture, HazardWatch, list[int]]]:
        """What surrounds the project's code while it runs on ``target``: the guard, the
        URL handed over, the kept engines, the statement capture, the hazard watch, the
        connection count."""
        with (
            self.guard(target),
            _Capture(capture) as captured,
            HazardWatch(hazards) as watched,
            self._handover(url),
            self._engines.intercept(lambda requested: _same_database(requested, target)),
            count_connections() as connections,
            without_sync(),
        ):
            yield captured, watched, connections

    def _session(self, url: str) -> EnvSession | None:
        """The live env.py session on the database at ``url`` (started if needed), or
        None where env.py must run once per call."""
        live = self._sessions.get(url)
        if live is not None:
            return live
        if not self._sessions_usable or _env_runner.runner_for(self.env_runner) != "direct":
            return None
        previous = self.config.attributes
        target = make_url(url)
        live = EnvSession(
            self.config,
            self.script,
            lambda stack: _HandedOver(
                previous, functools.partial(self._open_handed_over, target, stack)
            ),
        )
        self._sessions[url] = live
        self.env_runs += 1
        return live

    def _end_sessions(self, target: URL) -> None:
        """Ends the env.py sessions on the database ``target`` names."""
        for url in [u for u in self._sessions if _same_database(make_url(u), target)]:
            live = self._sessions.pop(url)
            with self._window(url, make_url(url), capture=False):
                try:
                    live.close()
                except (AlembicDrillError, KeyboardInterrupt, SystemExit):
                    raise
                except Exception as exc:
                    raise EnvPyError(
                        f"env.py failed after its migrations ran: {_describe(exc)}"
                    ) from exc

    @contextlib.contextmanager
    def guard(self, target: URL) -> Iterator[None]:
        """The foreign-database guard for a block that runs the project's code on
        ``target``; the block raises ForeignDatabaseError afterwards if any connection
        elsewhere was tried, even one the project's code caught. Engines the application
        made from the stand-in URL (alembic_drill._stand_in) connect to ``target``."""
        with (
            guarded(target, hint=self._guard_hint(), foreign_ports=self._foreign_ports()),
            _stand_in.steering(target),
        ):
            yield

    def _guard_hint(self) -> str:
        if self.url_env:
            return (
                "env.py (or the application it imports) must read its URL from "
                f"${self.url_env}, config.attributes['connection'] or the sqlalchemy.url "
                "option when alembic-drill runs it (an application imported before "
                f"alembic-drill set ${self.url_env} keeps the value it read)."
            )
        named = " or ".join(f'url_env = "{name}"' for name in _url_variables())
        if named:
            return (
                "Make env.py use config.attributes['connection'] or the sqlalchemy.url "
                "option, or, if the application reads its URL from the environment (even "
                f"once, at import), set {named} in [tool.alembic-drill]: alembic-drill "
                "then points it at the rehearsal database."
            )
        return (
            "Make env.py use config.attributes['connection'] or the sqlalchemy.url option, "
            "or, if the application reads its URL from an environment variable, name it "
            'with url_env = "VARIABLE" in [tool.alembic-drill].'
        )

    def _foreign_ports(self) -> frozenset[int]:
        """Ports of the databases the project itself points at: Python sockets to them
        are refused while a step runs (see alembic_drill._guard)."""
        ports = set()
        users = _stand_in.users_value(self.url_env) if self.url_env else None
        for url in (self.project_url, users):
            with contextlib.suppress(Exception):
                port = make_url(url).port if url else None
                if port:
                    ports.add(port)
        return frozenset(ports)

    @contextlib.contextmanager
    def _handover(self, url: str) -> Iterator[None]:
        # ConfigParser interpolation: a literal % in a password must be doubled.
        self.config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        previous = os.environ.get(self.url_env) if self.url_env else None
        if self.url_env:
            os.environ[self.url_env] = url
        try:
            yield
        finally:
            if self.url_env:
                if previous is None:
                    os.environ.pop(self.url_env, None)
                else:
                    os.environ[self.url_env] = previous


class _Capture:
    """Records the data statements (INSERT/UPDATE/DELETE) and the schema statements
    SQLAlchemy sends while a step runs: the idempotency check reruns upgrades that
    migrated data, leaving out their schema operations if they had any."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.statements: list[tuple[str, Any]] = []
        self.schema_statements: list[str] = []

    def __enter__(self) -> _Capture:
        if self.enabled:
            event.listen(Engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            event.remove(Engine, "before_cursor_execute", self._before)

    def _before(
        self,
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        if _rerun.SCHEMA_STATEMENT.match(statement):
            self.schema_statements.append(statement)
        if _DATA_STATEMENT.match(statement):
            if executemany:
                self.statements.extend((statement, p) for p in parameters)
            else:
                self.statements.append((statement, parameters))


@contextlib.contextmanager
def _committed(engine: Engine) -> Iterator[Connection]:
    """A connection handed over outside any transaction, as ``engine.connect()`` gives
    it to a plain env.py: Alembic's ``begin_transaction()`` and ``autocommit_block()``
    (``CREATE INDEX CONCURRENTLY``) then own the transaction as they expect. What env.py
    left open without Alembic's transaction is committed when the step succeeds, rolled
    back when it fails."""
    with engine.connect() as connection:
        try:
            yield connection
        except BaseException:
            if connection.in_transaction():
                connection.rollback()
            raise
        if connection.in_transaction():
            connection.commit()


def _reusable(engine: Engine) -> None:
    engine._connection_cls = _ReusableConnection


def _env_failure(exc: Exception) -> EnvPyError:
    """Alembic never asked for the step: env.py (or what it needs, a driver, the
    application's settings) failed, not the revision's code or SQL."""
    return EnvPyError(f"env.py failed before Alembic ran any migration: {_describe(exc)}")


def _bookkeeping(statement: str, version_table: str) -> bool:
    """Statements that are Alembic's, not the migration's data changes: the version table,
    and batch mode's copy of a table into its rebuilt twin (SQLite ALTER emulation)."""
    target = re.match(
        r"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+[\"`\[]?(?:\w+[\"`\]]?\.[\"`\[]?)?(\w+)",
        statement,
        re.IGNORECASE,
    )
    table = target.group(1).lower() if target else ""
    return table == version_table.lower() or table.startswith("_alembic_tmp_")


def _table_of(statement: str) -> str | None:
    """The table a CREATE/ALTER/DROP TABLE statement names (None for other statements):
    the version table's own DDL is Alembic's, not the migration's schema change."""
    target = re.match(
        r"^\s*(?:CREATE|ALTER|DROP)\s+TABLE\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?"
        r"[\"`\[]?(?:\w+[\"`\]]?\.[\"`\[]?)?(\w+)",
        statement,
        re.IGNORECASE,
    )
    return target.group(1).lower() if target else None


_DATABASE_URL = re.compile(r"^(postgres(ql)?|mysql|mariadb|sqlite)(\+\w+)?://", re.IGNORECASE)


def _url_variables() -> list[str]:
    """The environment variables that hold a database URL: what ``url_env`` could name."""
    return sorted(name for name, value in os.environ.items() if _DATABASE_URL.match(value))


def _same_database(a: URL, b: URL) -> bool:
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        return _sqlite_path(a) == _sqlite_path(b)
    return (a.host or "localhost", a.port, a.database) == (
        b.host or "localhost",
        b.port,
        b.database,
    )


def _sqlite_path(url: URL) -> str:
    database = url.database or ""
    return str(Path(database).resolve()) if database and database != ":memory:" else database


def _unusable_metadata(metadata: Any) -> str | None:
    """Why ``target_metadata`` cannot be compared, or None: Alembic accepts a MetaData
    or a sequence of them."""
    from sqlalchemy import MetaData

    if isinstance(metadata, MetaData):
        return None
    if isinstance(metadata, (list, tuple)) and all(isinstance(m, MetaData) for m in metadata):
        return None
    kind = type(metadata).__name__
    if isinstance(metadata, (list, tuple)):
        kinds = sorted({type(m).__name__ for m in metadata if not isinstance(m, MetaData)})
        kind = f"a {kind} holding {', '.join(kinds)}"
    return (
        f"env.py passes target_metadata as {kind}, not a MetaData or a sequence of "
        "MetaData, so the models cannot be compared"
    )


def _render_diff(diff: Any) -> str:
    """One autogenerate difference as a readable line."""
    if isinstance(diff, list):  # column-level changes come grouped
        return "; ".join(_render_diff(d) for d in diff)
    kind = diff[0]
    if kind == "add_table":
        return f"+ table {diff[1].name} (in the models, not in the database)"
    if kind == "remove_table":
        return f"- table {diff[1].name} (in the database, not in the models)"
    if kind == "add_column":
        return f"+ column {diff[2]}.{diff[3].name} {diff[3].type}"
    if kind == "remove_column":
        return f"- column {diff[2]}.{diff[3].name}"
    if kind == "add_index":
        return f"+ index {diff[1].name} on {diff[1].table.name}"
    if kind == "remove_index":
        return f"- index {diff[1].name} on {diff[1].table.name}"
    if kind in ("modify_nullable", "modify_type", "modify_default"):
        _, _schema, table, column, _info, old, new = diff
        what = kind.removeprefix("modify_")
        return f"~ {table}.{column} {what}: {old} -> {new}"
    if kind in ("add_fk", "remove_fk", "add_constraint", "remove_constraint"):
        sign = "+" if kind.startswith("add") else "-"
        constraint = diff[1]
        table = getattr(getattr(constraint, "table", None), "name", "?")
        return f"{sign} {kind.split('_', 1)[1]} {constraint.name or ''} on {table}".replace(
            "  ", " "
        )
    return " ".join(str(part) for part in diff)


class DrillHost:
    """What the Rust walker calls back into: steps, replays, the model comparison, the
    bootstrap and progress. What a captured upgrade did stays here, named by a number."""

    def __init__(
        self,
        runner: StepRunner,
        *,
        bootstrap: str | None = None,
        progress: Any = None,
    ) -> None:
        self.runner = runner
        self._bootstrap = bootstrap
        self._progress = progress
        #: Upgrades that migrated data: (revision, whether they also changed the schema).
        self._captures: dict[int, tuple[str, bool]] = {}
        #: Databases whose steps are measured for production hazards (watch_hazards).
        self._watched: set[str] = set()

    def watch_hazards(self, url: str, watch: bool) -> None:
        """Measures (or stops measuring) what the steps on ``url`` do to its tables."""
        if watch:
            self._watched.add(url)
        else:
            self._watched.discard(url)

    def step(self, url: str, direction: str, revision: str, capture: bool) -> StepOutcome:
        result = self.runner.step(
            url, direction, revision, capture=capture, hazards=url in self._watched
        )
        captured = None
        if capture and result.ok and result.statements:
            captured = len(self._captures) + 1
            self._captures[captured] = (revision, result.schema_changed)
        return {
            "ok": result.ok,
            "seconds": result.seconds,
            "error": result.error,
            "version_table": result.version_table,
            "capture": captured,
            "connections": result.connections_opened,
            "error_kind": result.error_kind,
            "hazards": result.hazards,
            "hazards_unobserved": result.hazards_unobserved,
        }

    def rerun(self, url: str, capture: int) -> tuple[str | None, str | None]:
        revision, schema_changed = self._captures.pop(capture)
        return self.runner.rerun(url, revision, schema_changed)

    def model_hints(self) -> _model_hints.Hints:
        """What the models (as the last step saw them) say of text columns."""
        return _model_hints.column_hints(self.runner.target_metadata)

    def compare_models(self, url: str) -> tuple[list[str] | None, str | None]:
        """The differences, or why the comparison was skipped: a comparison that fails
        costs the model-drift check, never the report."""
        try:
            return self.runner.compare_models(url), None
        except AlembicDrillError:
            raise
        except LookupError as exc:
            return None, str(exc)
        except Exception as exc:
            return None, f"the model comparison failed: {_describe(exc)}"

    def release(self, url: str) -> None:
        self.runner.release(url)

    def bootstrap(self, url: str) -> None:
        if self._bootstrap:
            url = self.runner.database_url(url)
            with self.runner.guard(make_url(url)):
                run_bootstrap(self._bootstrap, url)

    def progress(self, index: int, total: int, revision: str, activity: str) -> None:
        if self._progress is not None:
            self._progress(index, total, revision, activity)


def run_bootstrap(bootstrap: str, url: str) -> None:
    """Prepares a fresh database for a history whose base assumes tables made outside
    migrations: ``package.module:function`` is called with a SQLAlchemy Connection (in a
    transaction); a path ending in ``.sql`` is run statement by statement."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            if bootstrap.endswith(".sql"):
                script = Path(bootstrap).read_text(encoding="utf-8")
                for statement in _split_sql(script):
                    conn.exec_driver_sql(statement)
            else:
                import importlib

                module_name, _, attribute = bootstrap.partition(":")
                if not attribute:
                    raise ValueError(
                        f"bootstrap {bootstrap!r}: name a callable as package.module:function "
                        "or a .sql file"
                    )
                function = getattr(importlib.import_module(module_name), attribute)
                function(conn)
    finally:
        engine.dispose()


def _split_sql(script: str) -> list[str]:
    """Statements of a SQL file: split at semicolons that end a line."""
    statements, current = [], []
    for line in script.splitlines():
        if line.strip().startswith("--"):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return [s for s in statements if s.strip()]
