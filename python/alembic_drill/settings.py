"""alembic-drill's settings: ``[tool.alembic-drill]`` in pyproject.toml, overridden by
command-line flags or keyword arguments.

```toml
[tool.alembic-drill]
database = "docker:postgres:16-alpine"   # the spec to rehearse on (default: auto)
checks = ["upgrade-failed", "roundtrip-failed"]  # run only these (default: all)
skip = ["model-drift"]                    # never run these
url_env = "DATABASE_URL"                  # env.py reads the URL from this variable; it
                                          # holds a stand-in URL from before the project
                                          # is imported (see _stand_in.py)
env_runner = "anyio"                      # how env.py is called: auto (read from env.py),
                                          # direct, thread or anyio (see _env_runner.py)
prepare = "myapp.migrations:app_context"  # run once before the scripts load; a context
                                          # manager it returns stays open for the run
bootstrap = "myapp.db:create_base_tables" # callable(connection), or a .sql file (found
                                          # from this file's folder), run on each fresh
                                          # database before the walk
oldest_downgrade = "1a2b3c4d5e6f"         # downgrades at or below it are not required
step_timeout = 300                        # seconds a step may take (0: no limit)
hazard_rows = 10000                       # rows per table on the seeded database, where
                                          # production hazards are measured (default: off)
hazard_lock_ms = 1000                     # exclusive-lock: ms an ACCESS EXCLUSIVE lock
                                          # may be held (default 1000)

[tool.alembic-drill.severity]              # a drill check's severity instead of its own
table-rewrite = "error"

[tool.alembic-drill.skip_revisions]        # revision = reason
"3c4d5e6f7081" = "data fix, runs once by hand"

[tool.alembic-drill.seeds."4d5e6f708192"]  # rows present before that revision upgrades
books = [{ id = 1, title = "Dune" }]

[tool.alembic-drill.accept."5e6f70819203"] # findings a revision accepts: check = reason
destroys-data = "the legacy table was archived by hand"   # reported as info
```
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic_drill._checks import CheckPlan, known_checks, parse_check_ids, select_checks
from alembic_drill._core import ConfigError
from alembic_drill._env_runner import RUNNERS

if TYPE_CHECKING:
    from alembic_drill._core import History


def _every_drill_check() -> tuple[str, ...]:
    return known_checks().drill


@dataclass(frozen=True)
class Settings:
    database: str = "auto"
    checks: tuple[str, ...] = field(default_factory=_every_drill_check)
    skip: tuple[str, ...] = ()
    url_env: str | None = None
    env_runner: str = "auto"
    prepare: str | None = None
    bootstrap: str | None = None
    oldest_downgrade: str | None = None
    skip_revisions: dict[str, str] = field(default_factory=dict)
    seeds: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    #: Findings a revision accepts: revision -> check id -> why (reported as info).
    accept: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Seconds one Alembic step may take before it is cancelled on the server (0: none).
    step_timeout: float = 300.0
    #: Severity of a drill check's findings instead of its own: check id -> level.
    severity: dict[str, str] = field(default_factory=dict)
    #: Rows per table on the seeded database, where production hazards are measured.
    hazard_rows: int | None = None
    #: exclusive-lock: milliseconds an ACCESS EXCLUSIVE lock may be held.
    hazard_lock_ms: float = 1000.0
    #: Where the settings came from (None: defaults only).
    source: str | None = None

    @property
    def check_plan(self) -> CheckPlan:
        """The checks these settings run."""
        return select_checks(self.checks, self.skip)

    @property
    def where(self) -> str:
        """Where these settings come from, for error messages."""
        return f"{self.source} [tool.alembic-drill]" if self.source else "alembic-drill settings"

    def checked_against(self, history: History) -> Settings:
        """These settings once what they name exists: the revisions (in ``history``) and
        the bootstrap. A ``.sql`` bootstrap is made absolute: relative to the
        pyproject.toml that holds the settings, else to the Alembic configuration's
        folder, never to the current folder. Raises ``ConfigError`` (before any database
        starts)."""
        _check_revisions(self, history)
        _check_seed_tables(self, history)
        if self.bootstrap is None:
            return self
        base = Path(self.source or history.config_file).parent
        return replace(self, bootstrap=_checked_bootstrap(self.bootstrap, base, self.where))

    def override(self, **values: Any) -> Settings:
        """These settings with every non-None value replaced (flags win)."""
        given = {k: v for k, v in values.items() if v is not None}
        for key in ("checks", "skip"):
            if key in given:
                given[key] = parse_check_ids(given[key], key, "the command line")
        if "accept" in given:
            given["accept"] = _accept(given["accept"], "the arguments")
        return replace(self, **given)


def load_settings(start: Path) -> Settings:
    """The ``[tool.alembic-drill]`` table of the nearest pyproject.toml at or above
    ``start`` (a folder or a file in it)."""
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.resolve().parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            table = _read(pyproject).get("tool", {}).get("alembic-drill")
            if table is not None:
                return _parse(table, pyproject)
    return Settings()


def _read(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def _parse(table: Any, path: Path) -> Settings:
    where = f"{path} [tool.alembic-drill]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    known = {f.name for f in fields(Settings)} - {"source"}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known keys: "
            f"{', '.join(sorted(known))}"
        )
    values: dict[str, Any] = {"source": str(path)}
    for key in ("database", "url_env", "env_runner", "prepare", "bootstrap", "oldest_downgrade"):
        if key in table:
            if not isinstance(table[key], str):
                raise ConfigError(f"{where}: {key} must be a string")
            values[key] = table[key]
    if values.get("env_runner", "auto") not in RUNNERS:
        raise ConfigError(
            f"{where}: env_runner must be one of {', '.join(RUNNERS)}, not {values['env_runner']!r}"
        )
    for key in ("checks", "skip"):
        if key in table:
            values[key] = parse_check_ids(table[key], key, where)
    if "skip_revisions" in table:
        skips = table["skip_revisions"]
        if not isinstance(skips, dict) or not all(isinstance(v, str) for v in skips.values()):
            raise ConfigError(f"{where}: skip_revisions must map revision ids to reasons")
        values["skip_revisions"] = dict(skips)
    if "seeds" in table:
        values["seeds"] = _seeds(table["seeds"], where)
    if "accept" in table:
        values["accept"] = _accept(table["accept"], where)
    if "step_timeout" in table:
        values["step_timeout"] = step_timeout(table["step_timeout"], where)
    values.update(_hazard_settings(table, where))
    return Settings(**values)


_LEVELS = ("error", "warning", "info")


def _hazard_settings(table: dict[str, Any], where: str) -> dict[str, Any]:
    """``severity``, ``hazard_rows`` and ``hazard_lock_ms``, checked."""
    values: dict[str, Any] = {}
    if "severity" in table:
        levels = table["severity"]
        if not isinstance(levels, dict):
            raise ConfigError(f"{where}: severity must map check ids to error, warning or info")
        parse_check_ids(list(levels), "checks", f"{where} severity")
        wrong = [f"{k} = {v!r}" for k, v in levels.items() if v not in _LEVELS]
        if wrong:
            raise ConfigError(f"{where}: severity {', '.join(wrong)}: one of {', '.join(_LEVELS)}")
        values["severity"] = dict(levels)
    if "hazard_rows" in table:
        rows = table["hazard_rows"]
        if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= 1_000_000:
            raise ConfigError(f"{where}: hazard_rows must be a number of rows, 1 to 1000000")
        values["hazard_rows"] = rows
    if "hazard_lock_ms" in table:
        ms = table["hazard_lock_ms"]
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not ms >= 0:
            raise ConfigError(f"{where}: hazard_lock_ms must be a number of milliseconds >= 0")
        values["hazard_lock_ms"] = float(ms)
    return values


def step_timeout(value: Any, where: str) -> float:
    """A step timeout in seconds: a number >= 0 (0: no limit)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigError(f"{where}: step_timeout must be a number of seconds >= 0 (0: none)")
    return float(value)


def _seeds(value: Any, where: str) -> dict[str, dict[str, list[dict[str, Any]]]]:
    problem = f"{where}: seeds must map revision ids to tables to lists of rows (tables)"
    if not isinstance(value, dict):
        raise ConfigError(problem)
    for tables in value.values():
        if not isinstance(tables, dict):
            raise ConfigError(problem)
        for rows in tables.values():
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise ConfigError(problem)
    return value


def _accept(value: Any, where: str) -> dict[str, dict[str, str]]:
    problem = f"{where}: accept must map revision ids to check ids to reasons (tables)"
    if not isinstance(value, dict):
        raise ConfigError(problem)
    known = known_checks()
    every = (*known.drill, *known.static)
    for checks in value.values():
        if not isinstance(checks, dict) or not all(isinstance(r, str) for r in checks.values()):
            raise ConfigError(problem)
        unknown = [c for c in checks if c not in every]
        if unknown:
            raise ConfigError(
                f"{where}: accept names {', '.join(repr(c) for c in unknown)}, not a check; "
                f"known checks: {', '.join(every)}"
            )
    return {rev: dict(checks) for rev, checks in value.items()}


def _check_revisions(settings: Settings, history: History) -> None:
    from alembic_drill._core import RevisionError

    hint = f"not a revision of {history.config_file} (`alembic-drill graph` lists them)"
    if settings.oldest_downgrade is not None:
        try:
            history.get(settings.oldest_downgrade)
        except RevisionError:
            raise ConfigError(
                f"{settings.where}: oldest_downgrade {settings.oldest_downgrade!r} is {hint}"
            ) from None
    for key, revisions in (
        ("skip_revisions", settings.skip_revisions),
        ("seeds", settings.seeds),
        ("accept", settings.accept),
    ):
        unknown = [r for r in revisions if r not in history]
        if unknown:
            names = ", ".join(repr(r) for r in unknown)
            raise ConfigError(f"{settings.where}: {key} names {names}: {hint}")


def _check_seed_tables(settings: Settings, history: History) -> None:
    """Seeds for a table no revision script makes (see alembic_drill._seed_tables). A
    bootstrap makes tables outside the scripts, so then any table may exist."""
    if not settings.seeds or settings.bootstrap is not None:
        return
    if any(f.check == "script-error" for f in history.findings):
        return  # a script that did not load may make it
    from alembic_drill import _seed_tables

    known = _seed_tables.known_tables(r.path for r in history.revisions)
    if known is None:
        return
    for revision, table in _seed_tables.unknown(settings.seeds, known):
        raise ConfigError(
            f'{settings.where}: seeds."{revision}" has rows for table {table!r}, which no '
            "revision script makes; check the table's name"
        )


def _checked_bootstrap(bootstrap: str, base: Path, where: str) -> str:
    if bootstrap.endswith(".sql"):
        path = base / bootstrap
        if not path.is_file():
            raise ConfigError(f"{where}: bootstrap file {path} does not exist")
        return str(path.resolve())
    module, _, function = bootstrap.partition(":")
    if not function:
        raise ConfigError(
            f"{where}: bootstrap {bootstrap!r}: name a callable as package.module:function "
            "or a .sql file"
        )
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package is missing
        found = False
    except ValueError:  # an empty or relative name
        found = False
    if not found:
        raise ConfigError(f"{where}: bootstrap module {module!r} cannot be imported")
    return bootstrap
