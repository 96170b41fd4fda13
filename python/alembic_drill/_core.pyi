"""The native core of alembic-drill (Rust, built with PyO3)."""

from os import PathLike
from typing import Any, Literal, Protocol, TypedDict, final, type_check_only

__version__: str

Severity = Literal["error", "warning", "info"]
BodyKind = Literal["implemented", "stub", "irreversible", "missing"]

class AlembicDrillError(Exception):
    """Base class of every error alembic-drill raises."""

class ConfigError(AlembicDrillError):
    """The path is not a usable Alembic project (missing or unreadable configuration)."""

class RevisionError(AlembicDrillError):
    """A revision, prefix or branch label that names no revision, or an impossible path."""

class ServerError(AlembicDrillError):
    """A database server could not be started, reached or used."""

class SpecError(ServerError):
    """A database spec that names no usable kind of server."""

class ServerStartError(ServerError):
    """A server did not start: Docker or binaries missing, image absent, timeout, port taken."""

class NotOurDatabaseError(ServerError):
    """Refused: alembic-drill only drops databases it created."""

class DrillError(AlembicDrillError):
    """The drill stopped before its report was complete (a failing migration is a finding,
    never this)."""

class DrillHostError(DrillError):
    """The code running the Alembic steps failed outside a migration; what it raised is
    the ``__cause__``."""

class DrillInspectionError(DrillError):
    """One of the drill's databases could not be read, fingerprinted or seeded."""

class DrillRebuildError(DrillError):
    """A database the drill had to make again could not be: a revision no longer upgrades."""

class DrillOptionsError(AlembicDrillError):
    """Options for run_drill() that name an unknown key or check, or hold a value of the
    wrong type."""

class ForeignDatabaseError(AlembicDrillError):
    """env.py sent a statement to a database alembic-drill did not create."""

def load_history(config: str | PathLike[str] | None = None) -> History:
    """Loads the Alembic project at ``config`` and runs the static checks.

    ``config`` is an alembic.ini, a pyproject.toml with ``[tool.alembic]``, or a folder
    holding one (default: the current folder). Every revision script is imported through
    this interpreter; scripts that fail to import become ``script-error`` findings.

    Raises ConfigError when ``config`` is not an Alembic project.
    """

@final
class History:
    """A loaded revision history: its graph and what the static checks found."""

    @property
    def config_file(self) -> str: ...
    @property
    def script_location(self) -> str: ...
    @property
    def version_locations(self) -> list[str]: ...
    @property
    def heads(self) -> list[str]: ...
    @property
    def bases(self) -> list[str]: ...
    @property
    def order(self) -> list[str]:
        """Revision ids base first; every revision after its parents and dependencies."""
    @property
    def revisions(self) -> list[Revision]:
        """Every loaded revision, base first."""
    @property
    def findings(self) -> list[Finding]:
        """Static findings, most severe first."""
    @property
    def ok(self) -> bool:
        """True when no finding has error severity."""
    def __len__(self) -> int: ...
    def __contains__(self, id: str) -> bool: ...
    def __getitem__(self, target: str) -> Revision: ...
    def get(self, target: str) -> Revision:
        """The revision with this id, unique id prefix or branch label (RevisionError if none)."""
    def parents(self, target: str) -> list[str]: ...
    def children(self, target: str) -> list[str]: ...
    def upgrade_path(self, end: str, start: str | None = None) -> list[str]:
        """Revisions to apply, in order, from ``start`` (None: empty database) up to ``end``."""
    def render(self, format: Literal["text", "mermaid", "dot"] = "text") -> str:
        """Draws the history."""
    def to_dict(self) -> dict[str, Any]:
        """The ``lint --json`` document as plain data."""
    def to_json(self, indent: int | None = None) -> str:
        """The ``lint --json`` document."""
    def graph_json(self, indent: int | None = None) -> str:
        """The ``graph --format json`` document."""

@final
class Revision:
    """One revision script."""

    @property
    def id(self) -> str: ...
    @property
    def parents(self) -> list[str]:
        """The ``down_revision`` ids (empty for a base, several for a merge)."""
    @property
    def children(self) -> list[str]: ...
    @property
    def branch_labels(self) -> list[str]: ...
    @property
    def depends_on(self) -> list[str]: ...
    @property
    def path(self) -> str: ...
    @property
    def doc(self) -> str | None: ...
    @property
    def is_head(self) -> bool: ...
    @property
    def is_base(self) -> bool: ...
    @property
    def is_merge(self) -> bool: ...
    @property
    def upgrade_kind(self) -> BodyKind: ...
    @property
    def downgrade_kind(self) -> BodyKind: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class Finding:
    """One problem found in the history."""

    @property
    def check(self) -> str:
        """The stable check id, e.g. ``multiple-heads``."""
    @property
    def severity(self) -> Severity: ...
    @property
    def revision(self) -> str | None: ...
    @property
    def path(self) -> str | None: ...
    @property
    def line(self) -> int | None: ...
    @property
    def message(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class _Server:
    """A started database server; use ``alembic_drill.Server``, which wraps it."""

    @staticmethod
    def start(
        spec: str = "auto",
        *,
        keep: bool = False,
        startup_timeout: float = 120.0,
        project_url: str | None = None,
        postgres_image: str | None = None,
        mysql_image: str | None = None,
    ) -> _Server: ...
    @property
    def spec(self) -> str: ...
    @property
    def engine(self) -> Literal["postgresql", "mysql", "sqlite"]: ...
    @property
    def description(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def reused(self) -> bool: ...
    @property
    def masked_url(self) -> str | None: ...
    @property
    def stopped(self) -> bool: ...
    def create_database(self, name: str | None = None) -> str: ...
    def clone_database(self, template: str, name: str | None = None) -> str: ...
    def drop_database(self, name: str) -> None: ...
    def list_databases(self) -> list[str]: ...
    def keep_database(self, name: str) -> None: ...
    def sqlalchemy_url(self, name: str, driver: str | None = None) -> str: ...
    def admin_url_with_password(self) -> str | None: ...
    def stop(self) -> None: ...

def list_servers() -> list[dict[str, Any]]:
    """Servers alembic-drill owns on this machine, passwords masked."""

def stop_kept_servers(spec: str | None = None) -> list[str]:
    """Stops servers kept alive between runs; returns what was stopped."""

def reap_stale_servers() -> list[str]:
    """Removes what killed runs left behind; returns what was removed."""

@final
class CheckInfo:
    """One check alembic-drill knows."""

    @property
    def id(self) -> str:
        """The stable id, e.g. ``not-idempotent``."""
    @property
    def kind(self) -> Literal["drill", "static"]:
        """``drill``: needs a database; ``static``: reads the scripts only."""
    @property
    def scope(self) -> Literal["revision", "head"] | None:
        """Drill checks: once per ``revision``, or once at ``head``; None for static ones."""
    @property
    def severity(self) -> Severity:
        """The severity of its findings."""

CHECKS: tuple[CheckInfo, ...]
"""Every check: the drill checks in the order a walk runs them, then the static ones."""
DRILL_CHECKS: list[str]
"""The drill checks' ids, in the order a walk runs them."""
STATIC_CHECKS: list[str]
"""The static checks' ids (``lint``)."""
DEFAULT_ROWS_PER_TABLE: int
"""Synthetic rows per table for the data checks when the options give none."""

@final
class DrillReport:
    """What ``check`` found: static and drill findings, checks run, step timings."""

    @property
    def ok(self) -> bool:
        """True when no finding has error severity."""
    @property
    def findings(self) -> list[Finding]: ...
    @property
    def database(self) -> str:
        """The database the drills ran on (password masked)."""
    @property
    def seconds(self) -> float: ...
    @property
    def summary(self) -> dict[str, int]: ...
    def to_dict(self) -> dict[str, Any]:
        """Everything: findings, checks run (with skips), steps with timings, time by
        activity (``phases``), database."""
    def to_json(self, indent: int | None = None) -> str: ...
    def to_junit(self) -> str:
        """JUnit XML: one suite per check, one case per revision."""

# The protocol between the walk (Rust) and the Python side that runs Alembic steps: these
# types mirror what src/py/drill.rs reads, and exist for type checkers only.

@type_check_only
class DrillOptions(TypedDict, total=False):
    """What ``run_drill`` is asked to do; every key is optional. An unknown key or check
    id raises DrillOptionsError."""

    checks: list[str]
    """Drill checks to run (default: every one of DRILL_CHECKS)."""
    skip_findings: list[str]
    """Static checks whose findings are left out of the report."""
    skip_revisions: dict[str, str]
    """Revisions whose checks are skipped (still applied), with the reason."""
    oldest_downgrade: str | None
    """Downgrades at or below this revision are not required (failures are info)."""
    seeds: dict[str, dict[str, list[dict[str, Any]]]]
    """Rows present before a revision upgrades: revision -> table -> rows."""
    rows_per_table: int
    """Synthetic rows per table for the data checks (default: DEFAULT_ROWS_PER_TABLE)."""
    bootstrap: bool
    """Call the host's ``bootstrap`` on every fresh database (default: False)."""
    accept: dict[str, dict[str, str]]
    """Findings a revision accepts: revision -> check id -> why (reported as info)."""
    severity: dict[str, str]
    """Severity of a drill check's findings instead of its default, by check id."""
    hazard_rows: int | None
    """Rows per table on the seeded database (measured for production hazards), when
    more than ``rows_per_table`` (default: None)."""
    hazard_lock_ms: float
    """``exclusive-lock``: how long an ACCESS EXCLUSIVE lock may be held (default 1000)."""

@type_check_only
class StepOutcome(TypedDict):
    """What ``Host.step`` returns. A failing migration is ``ok: False``, not an exception."""

    ok: bool
    seconds: float
    error: str | None
    """The database's (or the script's) error, one line."""
    version_table: str
    """The version table env.py configured."""
    capture: int | None
    """A number naming an upgrade that migrated data, for ``rerun`` (None: none)."""
    connections: int
    """Database connections the step opened."""
    error_kind: Literal["constraint", "value", "code", "database"] | None
    """What raised the error: a constraint over rows, a value the database refused, the
    script's own code, any other database error (None: the step passed)."""
    hazards: list[HazardObservation] | None
    """When the step was watched (``Host.watch_hazards``): per DDL statement, what it did
    to the tables (alembic_drill._hazards)."""
    hazards_unobserved: str | None
    """Why the measurement is incomplete, if it is."""

@type_check_only
class HazardTable(TypedDict):
    oid: int
    rewritten: bool
    """Its relfilenode changed."""
    scans: int
    """Scans the statement made of it (seq + index, this transaction)."""
    locks: list[str]
    """Lock modes the statement took on it (pg_locks' names)."""
    held_ms: float | None
    """For an ACCESS EXCLUSIVE lock it took: from the statement's start to its release."""

@type_check_only
class HazardObservation(TypedDict):
    statement: str
    seconds: float
    autocommit: bool
    tables: list[HazardTable]

@type_check_only
class Host(Protocol):
    """What the walk calls back into (alembic_drill._steps.DrillHost). An exception raised
    here stops the walk: alembic-drill's own errors and interruptions come out as they
    are, anything else as a DrillHostError whose ``__cause__`` it is."""

    def step(
        self, url: str, direction: Literal["upgrade", "downgrade"], revision: str, capture: bool
    ) -> StepOutcome:
        """Runs exactly one revision's upgrade or downgrade on the database at ``url``."""
    def rerun(self, url: str, capture: int) -> tuple[str | None, str | None]:
        """Runs a captured upgrade's data migration again on the state it left: (the
        error, if it failed; the reason, if it cannot tell)."""
    def compare_models(self, url: str) -> tuple[list[str] | None, str | None]:
        """(differences, None), or (None, why the comparison cannot run)."""
    def model_hints(self) -> dict[str, dict[str, dict[str, Any]]]:
        """What the models say of text columns: table -> column -> ``{"values": [...]}``,
        ``{"json": True}`` or ``{"uuid": True}``."""
    def release(self, url: str) -> object:
        """Closes the connections kept to the database at ``url``."""
    def watch_hazards(self, url: str, watch: bool) -> object:
        """Measures (or stops measuring) what the steps on ``url`` do to its tables."""
    def bootstrap(self, url: str) -> object:
        """Prepares a fresh database (tables made outside migrations)."""
    def progress(self, index: int, total: int, revision: str, activity: str) -> object:
        """Live progress; an exception here is ignored."""

def run_drill(history: History, server: _Server, host: Host, options: DrillOptions) -> DrillReport:
    """Runs the drill checks; ``host`` runs the Alembic steps (alembic_drill._steps).

    Raises DrillOptionsError for bad options, a ServerError when the server fails, a
    DrillError subclass when the walk cannot go on."""

class _Canceller:
    """Cancels the statements running on a server's drill databases (PostgreSQL
    ``pg_cancel_backend``, MySQL/MariaDB ``KILL QUERY``; nothing for SQLite), on a
    connection of its own and without the server's lock: for the watchdog thread
    (alembic_drill._watchdog)."""

    def __init__(self, server: _Server) -> None: ...
    def cancel(self, databases: list[str], timeout: float = 2.0) -> int:
        """Cancels every statement running on ``databases`` (alembic-drill's names only);
        returns how many. Callable from any thread; waits without the GIL."""

def list_sqlite_folders() -> list[dict[str, Any]]:
    """The SQLite folders on this machine, as rows shaped like ``list_servers()``'s."""

def reap_sqlite_folders() -> list[str]:
    """Removes the SQLite folders whose owner is gone; returns them."""

def list_marked_databases(server: _Server) -> list[dict[str, Any]]:
    """alembic-drill's databases on a server with their owner marks: ``name``,
    ``owner_pid``, ``owner_host``, ``run_id``, ``owner_alive`` (None: unmarked), ``stale``."""

def reap_stale_databases(server: _Server) -> list[str]:
    """Drops the drill_ databases that killed runs of this host left on a server given by
    URL; returns their names."""
