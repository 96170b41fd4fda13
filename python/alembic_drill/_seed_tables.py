"""Which tables the revision scripts can make, read from their source without running
them: a seed for a table that appears in none of them is a mistake (a misspelt name, a
table that was renamed) that would otherwise pass silently, the rows never inserted.

A table counts as made when a script names it in a string: ``op.create_table("t")``,
``op.rename_table("old", "t")``, ``sa.table("t")``, a constant ``T = "t"``, or raw SQL
(``op.execute("CREATE TABLE t ...")``). When a script names a table in a way that cannot
be read without running it (``op.create_table(prefix + "_t")``), or a script did not
load, every seed table is accepted: a refusal must be certain.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

#: Calls whose table-name argument tells which table a script makes or renames.
_NAMING_CALLS = {"create_table": (0,), "rename_table": (0, 1), "table": (0,), "Table": (0,)}
_WORD = re.compile(r"\w+")


def known_tables(paths: Iterable[str]) -> set[str] | None:
    """The lower-cased names the scripts at ``paths`` mention, or None when some script
    names a table in a way that cannot be read (or cannot be read at all)."""
    words: set[str] = set()
    for path in paths:
        try:
            tree = ast.parse(Path(path).read_bytes(), filename=path)
        except (OSError, SyntaxError, ValueError):
            return None
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                words.update(w.lower() for w in _WORD.findall(node.value))
            elif isinstance(node, ast.Call) and not _readable_name(node):
                return None
    return words


def _readable_name(call: ast.Call) -> bool:
    function = call.func
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
    for index in _NAMING_CALLS.get(name, ()):
        if index < len(call.args) and not isinstance(call.args[index], (ast.Constant, ast.Name)):
            return False
    return True


def unknown(seeds: Mapping[str, Mapping[str, object]], known: set[str]) -> list[tuple[str, str]]:
    """(revision, table) pairs of ``seeds`` whose table is not in ``known``."""
    return [
        (revision, table)
        for revision, tables in seeds.items()
        for table in tables
        if table.rsplit(".", 1)[-1].lower() not in known
    ]
