"""What the body of a migration function says, read from its syntax tree: whether it
does anything, declares itself irreversible, only migrates data, or explains in a comment
why it does nothing. The static checks (``stub-downgrade``, ``stub-upgrade``) weigh their
findings with it."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Collection

#: ``op`` calls that change data, not the schema (or read the context).
_DATA_OPERATIONS = {"execute", "get_bind", "bulk_insert", "get_context", "inline_literal", "f"}
#: ``op`` calls that remove a schema object: with ``if_exists=True`` they are a clean-up
#: of something that may not be there, which no downgrade can know to restore.
_REMOVALS = {"drop_index", "drop_table", "drop_constraint", "drop_column"}
_DDL_TEXT = re.compile(r"^\s*(CREATE|ALTER|DROP|RENAME|TRUNCATE)\b", re.IGNORECASE)


def kind(body: list[ast.stmt]) -> str:
    """``stub`` (only ``pass``, ``...`` or a docstring), ``irreversible`` (raises
    ``NotImplementedError`` first) or ``implemented``."""
    work = [
        stmt
        for stmt in body
        if not isinstance(stmt, ast.Pass)
        and not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))
    ]
    if not work:
        return "stub"
    first = work[0]
    if isinstance(first, ast.Raise) and _is_not_implemented(first.exc):
        return "irreversible"
    return "implemented"


def data_only(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether the function's Alembic operations only migrate data (``op.execute`` of
    statements other than DDL, ``op.bulk_insert``, the bound connection) or clean up
    with ``if_exists=True``: there is then no schema change for a downgrade to undo."""
    operations = 0
    for call in ast.walk(node):
        if isinstance(call, ast.Constant) and isinstance(call.value, str):
            if _DDL_TEXT.match(call.value):
                return False
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        if not (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "op"
        ):
            continue
        operations += 1
        if func.attr in _DATA_OPERATIONS:
            continue
        if func.attr in _REMOVALS and _keyword_true(call, "if_exists"):
            continue
        return False
    return operations > 0


def comments(source: bytes) -> dict[int, str]:
    """The comments of ``source``, by line."""
    found: dict[int, str] = {}
    try:
        for token in tokenize.tokenize(io.BytesIO(source).readline):
            if token.type == tokenize.COMMENT:
                found[token.start[0]] = token.string
    except (tokenize.TokenError, SyntaxError):
        pass
    return found


def explained(node: ast.FunctionDef | ast.AsyncFunctionDef, comments: Collection[int]) -> bool:
    """Whether a comment inside the function says why it is as it is (a generated
    docstring does not count)."""
    end = node.end_lineno or node.lineno
    return any(node.lineno < line <= end for line in comments)


def _keyword_true(call: ast.Call, name: str) -> bool:
    return any(
        k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )


def _is_not_implemented(exc: ast.expr | None) -> bool:
    if isinstance(exc, ast.Call):
        exc = exc.func
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
