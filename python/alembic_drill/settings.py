"""alembic-drill's settings: ``[tool.alembic-drill]`` in pyproject.toml, overridden by
command-line flags or keyword arguments.

```toml
[tool.alembic-drill]
database = "docker:postgres:16-alpine"   # the spec to rehearse on (default: auto)
checks = ["upgrade-failed", "roundtrip-failed"]  # run only these (default: all)
skip = ["model-drift"]                    # never run these
url_env = "DATABASE_URL"                  # env.py reads the URL from this variable
bootstrap = "myapp.db:create_base_tables" # callable(connection), or a .sql file, run on
                                          # each fresh database before the walk
oldest_downgrade = "1a2b3c4d5e6f"         # downgrades at or below it are not required
step_timeout = 300                        # seconds a step may take (0: no limit)

[tool.alembic-drill.skip_revisions]        # revision = reason
"3c4d5e6f7081" = "data fix, runs once by hand"

[tool.alembic-drill.seeds."4d5e6f708192"]  # rows present before that revision upgrades
books = [{ id = 1, title = "Dune" }]
```
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from alembic_drill import _core
from alembic_drill._core import ConfigError

DRILL_CHECKS = tuple(_core.DRILL_CHECKS)
STATIC_CHECKS = tuple(_core.STATIC_CHECKS)


@dataclass(frozen=True)
class Settings:
    database: str = "auto"
    checks: tuple[str, ...] = DRILL_CHECKS
    skip: tuple[str, ...] = ()
    url_env: str | None = None
    bootstrap: str | None = None
    oldest_downgrade: str | None = None
    skip_revisions: dict[str, str] = field(default_factory=dict)
    seeds: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    #: Seconds one Alembic step may take before it is cancelled on the server (0: none).
    step_timeout: float = 300.0
    #: Where the settings came from (None: defaults only).
    source: str | None = None

    @property
    def enabled_checks(self) -> tuple[str, ...]:
        return tuple(c for c in self.checks if c not in self.skip)

    def override(self, **values: Any) -> Settings:
        """These settings with every non-None value replaced (flags win)."""
        given = {k: v for k, v in values.items() if v is not None}
        for key in ("checks", "skip"):
            if key in given:
                given[key] = tuple(_check_ids(given[key], key, "the command line"))
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
    for key in ("database", "url_env", "bootstrap", "oldest_downgrade"):
        if key in table:
            if not isinstance(table[key], str):
                raise ConfigError(f"{where}: {key} must be a string")
            values[key] = table[key]
    for key in ("checks", "skip"):
        if key in table:
            values[key] = tuple(_check_ids(table[key], key, where))
    if "skip_revisions" in table:
        skips = table["skip_revisions"]
        if not isinstance(skips, dict) or not all(isinstance(v, str) for v in skips.values()):
            raise ConfigError(f"{where}: skip_revisions must map revision ids to reasons")
        values["skip_revisions"] = dict(skips)
    if "seeds" in table:
        values["seeds"] = _seeds(table["seeds"], where)
    if "step_timeout" in table:
        values["step_timeout"] = step_timeout(table["step_timeout"], where)
    return Settings(**values)


def _check_ids(value: Any, key: str, where: str) -> list[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a list of check ids")
    allowed = DRILL_CHECKS if key == "checks" else DRILL_CHECKS + STATIC_CHECKS
    unknown = [v for v in value if v not in allowed]
    if unknown:
        raise ConfigError(
            f"{where}: unknown check(s) {', '.join(unknown)}; known: {', '.join(allowed)}"
        )
    return list(value)


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
