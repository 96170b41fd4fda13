"""Loads an Alembic project's revision scripts through the interpreter.

The Rust core calls :func:`load_project` once per run. Alembic's own ``Config`` and
``ScriptDirectory.from_config`` read the configuration, so ``script_location``,
``version_locations``, ``prepend_sys_path``, ``%(here)s`` and ``[tool.alembic]`` mean
exactly what they mean to Alembic. The scripts themselves are imported here, one by one,
rather than through ``ScriptDirectory.walk_revisions()``: Alembic stops at the first
broken script or graph, and we must report every problem at once.

Each script is parsed once: the syntax tree tells whether ``upgrade()`` / ``downgrade()``
are stubs and where ``revision`` is assigned, and the same tree is compiled and executed,
so checking costs no second parse.

When env.py chooses the version folders itself (one tree per dialect), the scripts come
from the folders it chooses for the engine the run rehearses on (``for_engine``; lint:
the project's own URL), see ``alembic_drill._version_folders``.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import os
import re
import traceback
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from types import ModuleType
from typing import Any

from alembic_drill import _bodies, _ignores, _operations, _version_folders
from alembic_drill._core import ConfigError
from alembic_drill._project import Project, find_project

# The same file filters Alembic applies (alembic/script/base.py): Emacs lock files and
# __init__ are skipped; with `sourceless`, compiled files count too.
_SOURCE_FILE = re.compile(r"(?!\.\#|__init__)(.*\.py)$")
_SOURCELESS_FILE = re.compile(r"(?!\.\#|__init__)(.*\.py)(c|o)?$")
# Alembic 0.1 named files after their revision and had no `revision` variable.
_LEGACY_REVISION_FILE = re.compile(r"([a-f0-9]+)\.py$")
#: The URL env.py is run with to see which version folders it chooses (None: the
#: project's own ``sqlalchemy.url``).
_ENGINE_URL: ContextVar[str | None] = ContextVar("alembic_drill_engine_url", default=None)


@contextlib.contextmanager
def for_engine(url: str | None) -> Iterator[None]:
    """Projects loaded inside the block read the version folders env.py chooses for the
    engine of ``url`` (a stand-in URL: see alembic_drill._stand_in)."""
    token = _ENGINE_URL.set(url)
    try:
        yield
    finally:
        _ENGINE_URL.reset(token)


def load_project(path: str | None) -> dict[str, Any]:
    """Finds the Alembic environment at ``path`` and loads every revision script.

    Returns plain data for the Rust core: where the configuration and scripts are, the
    revisions that loaded, and the scripts that did not (with path, line and reason).
    Raises ``ConfigError`` when ``path`` is not an Alembic project.
    """
    project = find_project(path)
    script = _script_directory(project)
    # The operation lint judges for the engine rehearsed on, when a check names one.
    dialect = _dialect(_ENGINE_URL.get()) or _dialect(_project_url(project))
    chosen = _version_folders.chosen(project, script, _ENGINE_URL.get())
    locations = chosen if chosen is not None else [Path(p) for p in script._version_locations]
    sourceless = bool(getattr(script, "sourceless", False))
    recursive = bool(getattr(script, "recursive_version_locations", False))

    revisions: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    seen: set[Path] = set()
    files = [
        file
        for location in locations
        if location.is_dir()
        for file in _list_scripts(location, recursive, sourceless)
    ]
    # What the whole history says of each column, for the operation lint of each script.
    never_null = _operations.never_null(_trees(files))
    for location in locations:
        if not location.is_dir():
            continue
        for file in _list_scripts(location, recursive, sourceless):
            real = file.resolve()
            if real in seen:  # the same folder listed twice in version_locations
                continue
            seen.add(real)
            try:
                loaded = _load_script(real, dialect, never_null)
            except _ScriptFailure as failure:
                errors.append({"path": str(real), "line": failure.line, "message": str(failure)})
                continue
            if loaded is not None:
                revisions.append(loaded)

    return {
        "config_file": str(project.config_file),
        "script_location": str(Path(script.dir).resolve()),
        "version_locations": [str(p) for p in locations],
        "revisions": revisions,
        "errors": errors,
    }


def _script_directory(project: Project) -> Any:
    """Alembic's own reading of the configuration, with its errors made ours."""
    import configparser

    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(project.alembic_config())
    except configparser.Error as exc:
        raise ConfigError(
            f"{project.config_file}: cannot be read as an ini file: {_one_line(str(exc))}"
        ) from None
    except CommandError as exc:
        raise ConfigError(f"{project.config_file}: {_one_line(str(exc))}") from None
    except Exception as exc:
        # A `package:folder` script_location imports the package: the application's own
        # start-up runs, and what it raises is the environment's failure, not a finding.
        raise ConfigError(
            f"{project.config_file}: importing the package of script_location failed: "
            f"{_describe_exception(exc)}"
        ) from None


def _list_scripts(location: Path, recursive: bool, sourceless: bool) -> list[Path]:
    """Script files in one version location, in Alembic's order (sorted, folders sorted)."""
    pattern = _SOURCELESS_FILE if sourceless else _SOURCE_FILE
    found: list[Path] = []
    for root, dirs, files in os.walk(location):
        dirs.sort()
        if os.path.basename(root) == "__pycache__":
            dirs[:] = []
            continue
        names = {f for f in files if pattern.match(f)}
        for name in sorted(names):
            # Prefer the source when a compiled twin sits beside it, as Alembic does.
            if name.endswith(("c", "o")) and name[:-1] in names:
                continue
            found.append(Path(root, name))
        if not recursive:
            break
    return found


class _ScriptFailure(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def _project_url(project: Project) -> str | None:
    try:
        return project.sqlalchemy_url()
    except ConfigError:
        return None


def _dialect(url: str | None) -> str | None:
    """The dialect of ``url`` (``postgresql``, ``sqlite``...), None when it names none;
    the URL itself (and its password) goes no further."""
    if not url or "://" not in url:
        return None
    return url.split("://", 1)[0].split("+", 1)[0].lower() or None


def _trees(files: list[Path]) -> list[ast.Module]:
    """The syntax trees of the scripts that parse (the others are reported when loaded)."""
    trees = []
    for file in files:
        if file.suffix != ".py":
            continue
        try:
            trees.append(ast.parse(file.read_bytes(), filename=str(file)))
        except (OSError, SyntaxError, ValueError):
            continue
    return trees


def _load_script(
    path: Path, dialect: str | None, never_null: frozenset[tuple[str, str]] = frozenset()
) -> dict[str, Any] | None:
    if path.suffix != ".py":
        module = _exec_compiled(path)
        return _describe(module, path, None, dialect, never_null=never_null)
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise _ScriptFailure(f"cannot read: {exc.strerror}", None) from None
    try:
        # Bytes, not text: the parser honours PEP 263 coding declarations like import does.
        tree = ast.parse(source, filename=str(path))
        code = compile(tree, str(path), "exec")
    except SyntaxError as exc:
        msg = exc.msg
        if "codec can't decode" in msg or "unicode error" in msg:
            msg = f"{msg}; save the file as UTF-8 or declare its encoding (PEP 263)"
        raise _ScriptFailure(f"SyntaxError: {msg}", exc.lineno) from None
    except ValueError as exc:  # e.g. "source code string cannot contain null bytes"
        raise _ScriptFailure(f"cannot parse: {exc}", None) from None
    module = _new_module(path)
    try:
        exec(code, module.__dict__)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit included: a script must never end our run
        raise _ScriptFailure(_describe_exception(exc), _line_in(exc, path)) from None
    return _describe(module, path, tree, dialect, _bodies.comments(source), never_null)


def _new_module(path: Path) -> ModuleType:
    # Named like Alembic names revision modules, and like Alembic not put in sys.modules.
    spec = importlib.util.spec_from_file_location(re.sub(r"\W", "_", path.name), path)
    assert spec is not None
    return importlib.util.module_from_spec(spec)


def _exec_compiled(path: Path) -> ModuleType:
    module = _new_module(path)
    try:
        assert module.__spec__ is not None and module.__spec__.loader is not None
        module.__spec__.loader.exec_module(module)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        raise _ScriptFailure(_describe_exception(exc), None) from None
    return module


def _describe_exception(exc: BaseException) -> str:
    text = _one_line(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _line_in(exc: BaseException, path: Path) -> int | None:
    """The line of the failing script where the exception passed through last."""
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == str(path):
            line = lineno
    return line


def _describe(
    module: ModuleType,
    path: Path,
    tree: ast.Module | None,
    dialect: str | None,
    comments: Mapping[int, str] | None = None,
    never_null: frozenset[tuple[str, str]] = frozenset(),
) -> dict[str, Any]:
    comments = comments or {}
    lines = _assignment_lines(tree) if tree is not None else {}
    revision = getattr(module, "revision", None)
    if revision is None:
        legacy = _LEGACY_REVISION_FILE.match(path.name)
        if not legacy:
            raise _ScriptFailure(
                'no `revision` variable; declare `revision = "<id>"` at module level', None
            )
        revision = legacy.group(1)
    if not isinstance(revision, str) or not revision:
        raise _ScriptFailure(
            f"`revision` must be a non-empty string, not {revision!r}", lines.get("revision")
        )

    functions = _functions(tree) if tree is not None else {}
    ignored = _ignores.ignored_by_line(comments)
    operations = (
        _operations.lint(
            tree,
            functions.get("upgrade"),
            functions.get("downgrade"),
            ignored,
            dialect,
            never_null,
        )
        if tree is not None
        else []
    )
    return {
        "id": revision,
        "down_revisions": _id_list(module, "down_revision", lines),
        "branch_labels": _id_list(module, "branch_labels", lines),
        "depends_on": _id_list(module, "depends_on", lines),
        "path": str(path),
        "doc": module.__doc__,
        "revision_line": lines.get("revision"),
        "down_revision_line": lines.get("down_revision"),
        "depends_on_line": lines.get("depends_on"),
        "upgrade": _function_info(module, "upgrade", functions, comments, ignored),
        "downgrade": _function_info(module, "downgrade", functions, comments, ignored),
        "operations": operations,
    }


def _id_list(module: ModuleType, name: str, lines: dict[str, int]) -> list[str]:
    """None, a string, or a tuple/list of strings, as Alembic accepts them."""
    value = getattr(module, name, None)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (tuple, list, set, frozenset)) and all(isinstance(v, str) for v in value):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise _ScriptFailure(
        f"`{name}` must be None, a string or a tuple of strings, not {value!r}", lines.get(name)
    )


def _assignment_lines(tree: ast.Module) -> dict[str, int]:
    lines: dict[str, int] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Name):
                lines[target.id] = node.lineno
    return lines


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    # The last module-level definition wins, as it does at run time.
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }


def _function_info(
    module: ModuleType,
    name: str,
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef],
    comments: Mapping[int, str],
    ignored: Mapping[int, frozenset[str]],
) -> dict[str, Any]:
    if not callable(getattr(module, name, None)):
        return {"kind": "missing", "line": None}
    node = functions.get(name)
    if node is None:  # built at run time (a factory, an import): nothing to judge
        return {"kind": "implemented", "line": None}
    return {
        "kind": _bodies.kind(node.body),
        "line": node.lineno,
        "data_only": _bodies.data_only(node),
        "explained": _bodies.explained(node, comments),
        "ignores": _ignores.in_function(node, ignored),
    }


def _one_line(text: str) -> str:
    return " ".join(text.split())
