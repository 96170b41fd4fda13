"""The native core of alembic-drill (Rust, built with PyO3)."""

from os import PathLike
from typing import Any, Literal, final

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

DRILL_CHECKS: list[str]
"""The drill checks, in the order a walk runs them."""
STATIC_CHECKS: list[str]
"""The static checks of ``lint``."""

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

def run_drill(
    history: History, server: _Server, host: object, options: dict[str, Any]
) -> DrillReport:
    """Runs the drill checks; ``host`` runs the Alembic steps (alembic_drill._steps)."""

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
