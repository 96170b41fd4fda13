"""What a step's DDL did to the tables on PostgreSQL, measured on the engine itself: which
tables it rewrote, which it scanned, which locks it took and how long it held the ACCESS
EXCLUSIVE ones. The Rust core (``src/drill/hazards.rs``) turns these observations into
the production-hazard findings (``table-rewrite``, ``blocking-index``,
``validating-constraint``, ``not-null-scan``, ``exclusive-lock``).

The measurement runs on the step's OWN connection, around each DDL statement: a catalog
read before and after it, in the statement's transaction, so it sees what the transaction
has done before it commits:

- ``pg_class.relfilenode``: a new file means the table was rewritten;
- the table's sequential scan counters (``pg_stat_get_numscans`` and the backend's own
  ``pg_stat_get_xact_numscans``): a scan the statement made (validating a constraint,
  proving NOT NULL);
- ``pg_locks`` of the backend (``pid = pg_backend_pid()``): the locks the statement took,
  held until commit. An inspection connection would see the same rows, but only while the
  step waits at a point it cannot choose; the step's own backend sees them after every
  statement, which is what attributes each lock to its statement.

An ACCESS EXCLUSIVE lock is timed from the start of the statement that took it to the
commit (or rollback) that released it: the time production's queries on that table would
queue behind the step.

Only catalog views are read (no user table is locked by the reads), only after a
statement that succeeded or before one on a transaction that is not aborted: the reads
never change what the step does. Statements in ``autocommit_block()`` release their locks
as they end, so their locks are not seen; rewrites and scans still are.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:
    from alembic_drill._core import HazardObservation, HazardTable

__all__ = ["HazardWatch"]

#: Statements that can rewrite, scan or lock a table for long: DDL and its kin. Data
#: statements are not read around (their locks are row locks), but they count in the time
#: an ACCESS EXCLUSIVE lock taken before them is held.
_WATCHED = re.compile(
    r"^(ALTER|CREATE|DROP|LOCK|CLUSTER|VACUUM|REINDEX|TRUNCATE|DO|CALL|REFRESH|COMMENT)\b",
    re.IGNORECASE,
)
_LEADING_COMMENTS = re.compile(r"^(\s+|--[^\n]*\n?|/\*.*?\*/)*", re.DOTALL)

#: Every user table: its file, its sequential scans (those the server has counted plus
#: those this backend has not reported yet: the sum does not move when the backend flushes
#: its counters between two statements in autocommit), and the relation locks this
#: backend holds on it (granted).
_READING = """
WITH held AS (
    SELECT relation, string_agg(mode, ',') AS modes FROM pg_catalog.pg_locks
    WHERE locktype = 'relation' AND granted AND pid = pg_catalog.pg_backend_pid()
    GROUP BY relation
)
SELECT c.oid::bigint, c.relfilenode::bigint,
       pg_catalog.pg_stat_get_numscans(c.oid) + pg_catalog.pg_stat_get_xact_numscans(c.oid),
       h.modes
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN held h ON h.relation = c.oid
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
"""

#: oid -> (relfilenode, scans, lock modes)
_Reading = dict[int, tuple[int, int, frozenset[str]]]


class HazardWatch:
    """Observes the DDL statements of one step on PostgreSQL connections (SQLAlchemy
    events on every Engine, like ``_steps._Capture``). ``observations`` holds, per DDL
    statement, the tables it rewrote, scanned or locked (see ``StepOutcome.hazards`` in
    ``_core.pyi``); ``unobserved`` says why the measurement is incomplete, if it is."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.observations: list[HazardObservation] = []
        self.unobserved: str | None = None
        #: Per DBAPI connection: the statement under way (start, autocommit, reading).
        self._pending: dict[int, tuple[float, bool, _Reading]] = {}
        #: Per DBAPI connection: ACCESS EXCLUSIVE locks held, oid -> (table entry, since).
        self._holds: dict[int, dict[int, tuple[HazardTable, float]]] = {}
        #: Connections whose reads failed: no longer read (their transaction is theirs).
        self._broken: set[int] = set()

    def __enter__(self) -> HazardWatch:
        if self.enabled:
            event.listen(Engine, "before_cursor_execute", self._before)
            event.listen(Engine, "after_cursor_execute", self._after)
            event.listen(Engine, "commit", self._released)
            event.listen(Engine, "rollback", self._released)
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.enabled:
            return
        event.remove(Engine, "before_cursor_execute", self._before)
        event.remove(Engine, "after_cursor_execute", self._after)
        event.remove(Engine, "commit", self._released)
        event.remove(Engine, "rollback", self._released)
        # Held to the end of the step (a connection closed without commit): the lock
        # went when the connection did.
        for key in list(self._holds):
            self._release(key)

    # -- events ---------------------------------------------------------------------------

    def _before(
        self,
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        dbapi = _watched(conn, statement)
        if dbapi is None or id(dbapi) in self._broken:
            return
        if _in_failed_transaction(dbapi):
            return
        reading = self._read(dbapi)
        if reading is not None:
            autocommit = bool(getattr(dbapi, "autocommit", False))
            self._pending[id(dbapi)] = (time.perf_counter(), autocommit, reading)

    def _after(
        self,
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        dbapi = _watched(conn, statement)
        if dbapi is None:
            return
        pending = self._pending.pop(id(dbapi), None)
        if pending is None:
            return
        started, autocommit, before = pending
        seconds = time.perf_counter() - started
        after = self._read(dbapi)
        if after is None:
            return
        tables: list[HazardTable] = []
        holds = self._holds.setdefault(id(dbapi), {})
        for oid, (filenode, scans, modes) in after.items():
            old = before.get(oid)
            if old is None:  # made by this statement: not a table that held rows
                continue
            entry: HazardTable = {
                "oid": oid,
                "rewritten": filenode != old[0],
                "scans": max(scans - old[1], 0),
                "locks": sorted(modes - old[2]),
                "held_ms": None,
            }
            if entry["rewritten"] or entry["scans"] or entry["locks"]:
                tables.append(entry)
                if "AccessExclusiveLock" in entry["locks"]:
                    holds[oid] = (entry, started)
        self.observations.append(
            {
                "statement": statement,
                "seconds": seconds,
                "autocommit": autocommit,
                "tables": tables,
            }
        )

    def _released(self, conn: Connection) -> None:
        dbapi = _dbapi(conn)
        if dbapi is not None:
            self._release(id(dbapi))

    # -- internals ------------------------------------------------------------------------

    def _release(self, key: int) -> None:
        now = time.perf_counter()
        for entry, since in self._holds.pop(key, {}).values():
            entry["held_ms"] = (now - since) * 1000.0

    def _read(self, dbapi: Any) -> _Reading | None:
        """The catalog reading, or None once it failed on this connection (recorded)."""
        try:
            cursor = dbapi.cursor()
            try:
                cursor.execute(_READING)
                rows = cursor.fetchall()
            finally:
                cursor.close()
        except Exception as exc:
            self._broken.add(id(dbapi))
            self.unobserved = (
                f"the catalog could not be read on the step's connection ({type(exc).__name__})"
            )
            return None
        return {
            int(oid): (int(filenode), int(scans), frozenset(modes.split(",") if modes else ()))
            for oid, filenode, scans, modes in rows
        }


def _watched(conn: Connection, statement: str) -> Any:
    """The DBAPI connection to read around this statement on, or None."""
    if conn.dialect.name != "postgresql":
        return None
    if not _WATCHED.match(_LEADING_COMMENTS.sub("", statement, count=1)):
        return None
    return _dbapi(conn)


def _dbapi(conn: Connection) -> Any:
    try:
        return conn.connection.dbapi_connection
    except Exception:  # closed or invalidated
        return None


def _in_failed_transaction(dbapi: Any) -> bool:
    """Whether the connection's transaction is aborted (a read would fail, and must not
    stand in for the statement's own error): psycopg 3 and psycopg2 tell; pg8000 and the
    async adapters do not, and a read failing there is caught and recorded."""
    info = getattr(dbapi, "info", None)
    status = getattr(info, "transaction_status", None)
    if status is None and hasattr(dbapi, "get_transaction_status"):
        try:
            status = dbapi.get_transaction_status()
        except Exception:
            return False
    # INERROR is 3 in both libpq wrappers.
    return status is not None and int(status) == 3
