"""Running a revision's upgrade() a second time on the data it already migrated: the
not-idempotent check, as users mean it (a data migration retried after a partial run, or
run again by hand, must not break or change the data once more).

The upgrade runs again through env.py, as Alembic would run it, with its Python code
(guards that look for a row before inserting it included) but without touching the
version table. When the first run also changed the schema, the schema operations
(``op.add_column``, ``op.create_table``, batch operations, ...) are left out, so the data
part runs again on the schema it left. Whether that is sound depends on the revision: a
copy-then-drop (``UPDATE ... SET new = old`` then ``drop_column(old)``) cannot run its data
part again, and the check is then skipped with the reason, never reported as a defect.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

#: Statements that change the schema (the version table's own excepted by the caller).
SCHEMA_STATEMENT = re.compile(
    r"^\s*(CREATE|ALTER|DROP|RENAME|TRUNCATE|COMMENT\s+ON)\b", re.IGNORECASE
)


@contextlib.contextmanager
def data_operations_only() -> Iterator[None]:
    """While active, Alembic operations other than ``op.execute`` and ``op.bulk_insert``
    do nothing; ``op.create_table`` still returns its Table (for a ``bulk_insert`` into
    it)."""
    from alembic.operations import ops
    from alembic.operations.base import AbstractOperations

    original = AbstractOperations.invoke

    def invoke(self: AbstractOperations, operation: Any) -> Any:
        if isinstance(operation, (ops.ExecuteSQLOp, ops.BulkInsertOp)):
            return original(self, operation)
        if isinstance(operation, ops.CreateTableOp):
            return operation.to_table(self.migration_context)
        return None

    AbstractOperations.invoke = invoke  # type: ignore[method-assign]
    try:
        yield
    finally:
        AbstractOperations.invoke = original  # type: ignore[method-assign]


def takes_arguments(function: Any) -> bool:
    """Whether ``upgrade`` needs arguments (Alembic's multi-database template passes
    ``engine_name``): it cannot be called again on its own."""
    import inspect

    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        for p in parameters
    )
