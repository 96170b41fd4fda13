"""What the project's models say about text columns that the database cannot: the values
of an enum kept as text, JSON kept in a text column, UUIDs kept in strings. The seeded
rows follow them (``src/seed/hints.rs``), so that a revision reading such a column meets
values production could hold rather than ``status_1``.

The models are env.py's ``target_metadata`` as a step saw it: a MetaData or a sequence of
them (anything else gives no hints)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: table -> column -> hint (``values``, ``json`` or ``uuid``), as the core reads it.
Hints = dict[str, dict[str, dict[str, Any]]]


def column_hints(target_metadata: Any) -> Hints:
    """The hints of every table of ``target_metadata`` (the default schema's names)."""
    hints: Hints = {}
    for metadata in _metadatas(target_metadata):
        for table in metadata.tables.values():
            for column in table.columns:
                hint = _hint(column.type)
                if hint:
                    hints.setdefault(table.name, {})[column.name] = hint
    return hints


def _metadatas(target_metadata: Any) -> list[Any]:
    from sqlalchemy import MetaData

    if isinstance(target_metadata, MetaData):
        return [target_metadata]
    if isinstance(target_metadata, Sequence) and not isinstance(target_metadata, str):
        return [m for m in target_metadata if isinstance(m, MetaData)]
    return []


def _hint(column_type: Any) -> dict[str, Any] | None:
    from sqlalchemy import JSON, Enum, Uuid
    from sqlalchemy.types import TypeDecorator

    # A TypeDecorator says what it stores through its impl; its own name often says more
    # (a project's JSONEncodedDict, GUID or UUIDType over a string).
    inner = column_type.impl_instance if isinstance(column_type, TypeDecorator) else column_type
    name = type(column_type).__name__.upper()
    if isinstance(inner, Enum) and inner.enums:
        return {"values": [str(v) for v in inner.enums]}
    if isinstance(inner, JSON) or "JSON" in name:
        return {"json": True}
    if isinstance(inner, Uuid) or "UUID" in name or "GUID" in name:
        return {"uuid": True}
    return None
