"""Finds an Alembic project and builds its Alembic ``Config``: one place for the script
loader, the steps and the servers, so that every part of a run reads the same files."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic_drill._core import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

INI_NAME = "alembic.ini"
PYPROJECT_NAME = "pyproject.toml"


@dataclass(frozen=True)
class Project:
    """An Alembic project's configuration files (at least one of them is set)."""

    ini: Path | None
    #: A pyproject.toml with ``[tool.alembic]`` (Alembic >= 1.16 reads it).
    toml: Path | None

    @property
    def config_file(self) -> Path:
        """The file that names the project: alembic.ini, else pyproject.toml."""
        found = self.ini or self.toml
        assert found is not None
        return found

    def alembic_config(self, section: str = "alembic") -> Config:
        """Alembic's own ``Config`` of the project, reading ``section`` of the ini file."""
        from alembic.config import Config

        kwargs: dict[str, Any] = {"toml_file": str(self.toml)} if self.toml else {}
        try:
            return Config(str(self.ini) if self.ini else None, ini_section=section, **kwargs)
        except TypeError as exc:
            if "toml_file" in str(exc):
                raise ConfigError(
                    f"{self.toml}: [tool.alembic] needs alembic >= 1.16; upgrade "
                    "alembic or use an alembic.ini"
                ) from None
            raise

    def sqlalchemy_url(self) -> str | None:
        """The project's ``sqlalchemy.url``, or None when it names none."""
        from alembic.util import CommandError

        try:
            return self.alembic_config().get_main_option("sqlalchemy.url") or None
        except CommandError:  # an ini file without an [alembic] section
            raise ConfigError(
                f"{self.config_file}: not an Alembic configuration (no [alembic] section); "
                "pass -c with your alembic.ini, or the folder holding it"
            ) from None


def find_project(path: str | os.PathLike[str] | None) -> Project:
    """The project at ``path`` (an ini file, a pyproject.toml or a folder; None or empty:
    the current folder). Raises ``ConfigError`` when it is not an Alembic project."""
    ini, toml = find_config(Path(path) if path else Path.cwd())
    return Project(ini, toml)


def find_config(path: Path) -> tuple[Path | None, Path | None]:
    """Resolves ``path`` (an ini file, a pyproject.toml or a folder) to (ini, toml) files."""
    if not path.exists():
        raise ConfigError(
            f"{path}: no such file or folder; pass -c with an alembic.ini, "
            "a pyproject.toml with [tool.alembic] or the folder holding one"
        )
    if path.is_dir():
        ini = path / INI_NAME
        pyproject = path / PYPROJECT_NAME
        toml = pyproject.resolve() if _has_tool_alembic(pyproject) else None
        if ini.is_file():
            return ini.resolve(), toml
        if toml:
            return None, toml
        raise ConfigError(
            f"{path}: not an Alembic project (no {INI_NAME} and no {PYPROJECT_NAME} with "
            "[tool.alembic]); pass -c with the right path, or run `alembic init` to create one"
        )
    if path.name.endswith(".toml"):
        if not _has_tool_alembic(path):
            raise ConfigError(
                f"{path}: has no [tool.alembic] table; pass -c with your "
                f"{INI_NAME} instead, or add [tool.alembic] with script_location"
            )
        ini = path.parent / INI_NAME
        return (ini.resolve() if ini.is_file() else None), path.resolve()
    sibling_toml = path.parent / PYPROJECT_NAME
    toml_or_none = sibling_toml.resolve() if _has_tool_alembic(sibling_toml) else None
    return path.resolve(), toml_or_none


def _has_tool_alembic(toml: Path) -> bool:
    if not toml.is_file():
        return False
    data = _read_toml(toml)
    tool = data.get("tool")
    return isinstance(tool, dict) and "alembic" in tool


def _read_toml(toml: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.9/3.10
        import tomli as tomllib
    try:
        with toml.open("rb") as f:
            return tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{toml}: not valid TOML ({exc}); fix the file") from None
