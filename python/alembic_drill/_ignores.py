"""``# alembic-drill: ignore[CHECK, ...]`` comments: how a script declares that what a
static check would report is intended (a column dropped on purpose, an index built while
the application is down).

One design for every operation check: the comment goes on the operation's line (any line
of a call written over several lines) and silences that operation's findings of the named
checks, or on the ``def upgrade()`` / ``def downgrade()`` line and silences them in the
whole function. A comment that names a check which does not apply changes nothing, so a
typo leaves the finding in place rather than hiding it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping

_MARKER = re.compile(r"alembic-drill:\s*ignore\[([^\]]*)\]")


def ignored_by_line(comments: Mapping[int, str]) -> dict[int, frozenset[str]]:
    """The check ids each line's ``ignore`` comment names (lines without one left out)."""
    found: dict[int, frozenset[str]] = {}
    for line, text in comments.items():
        ids = frozenset(
            check.strip()
            for marker in _MARKER.finditer(text)
            for check in marker.group(1).split(",")
            if check.strip()
        )
        if ids:
            found[line] = ids
    return found


def in_function(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ignored: Mapping[int, frozenset[str]]
) -> list[str]:
    """Every check id an ``ignore`` comment names from the ``def`` line to the function's
    end, sorted: what its author declared intended anywhere in it."""
    end = node.end_lineno or node.lineno
    return sorted({c for line, ids in ignored.items() if node.lineno <= line <= end for c in ids})


def is_ignored(
    check: str, lines: Iterable[int], def_line: int, ignored: Mapping[int, frozenset[str]]
) -> bool:
    """Whether ``check`` is declared intended on one of an operation's ``lines`` or on the
    ``def`` line of the function holding it."""
    return any(check in ignored.get(line, ()) for line in (def_line, *lines))
