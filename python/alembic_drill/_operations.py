"""The operation lint: what ``upgrade()`` does to a database that a downgrade, a rolling
deploy or a full table cannot take back, read from the syntax tree of the script's
operation calls (``op.*``, the ``batch_op.*`` of ``with op.batch_alter_table(...)``, and
the SQL text ``op.execute`` runs), never by searching the file's text.

Each finding is a dict ``{"check", "line", "message"}`` the core turns into a ``lint``
finding with its check's severity. Only ``upgrade()`` is judged (dropping a column is what
a ``downgrade()`` normally does); ``downgrade()`` is read to see whether it reverses raw
SQL or an enum value. What a revision does to a table it creates itself touches no rows
and is never reported. An ``# alembic-drill: ignore[CHECK]`` comment (``_ignores``)
declares a finding intended.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from alembic_drill import _bodies, _ignores

#: Dialects on which ``index-without-concurrently`` means nothing (PostgreSQL's
#: ``CREATE INDEX CONCURRENTLY`` has no counterpart there).
_NOT_POSTGRESQL = {"sqlite", "mysql", "mariadb", "mssql", "oracle"}

#: Raw SQL that changes the schema or the rows, by its first word: what a downgrade has
#: to reverse. (SELECT, SET, PRAGMA, COMMIT... change nothing to reverse.)
_CHANGING_SQL = {
    "ALTER",
    "COMMENT",
    "CREATE",
    "DELETE",
    "DROP",
    "GRANT",
    "INSERT",
    "RENAME",
    "REVOKE",
    "TRUNCATE",
    "UPDATE",
}
_ENUM_ADD_VALUE = re.compile(r"^ALTER\s+TYPE\s+(\S+)\s+ADD\s+VALUE\b", re.IGNORECASE)
_ENUM_RECREATE = re.compile(
    r"^(CREATE\s+TYPE|DROP\s+TYPE|ALTER\s+TYPE\s+\S+\s+RENAME\s+TO)\b", re.IGNORECASE
)
_DROP_TABLE = re.compile(r"^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?([\w.\"`\[\]]+)", re.IGNORECASE)
_CREATE_TABLE = re.compile(
    r"^CREATE\s+(?:TEMP\w*\s+|UNLOGGED\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([\w.\"`\[\]]+)",
    re.IGNORECASE,
)
_CREATE_INDEX = re.compile(
    r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(CONCURRENTLY\s+)?.*?\bON\s+(?:ONLY\s+)?([\w.\"`\[\]]+)",
    re.IGNORECASE | re.DOTALL,
)
_UPDATE = re.compile(r"^UPDATE\s+(?:ONLY\s+)?([\w.\"`\[\]]+)", re.IGNORECASE)
#: A statement that empties a table: what later operations do to it touches no rows.
_EMPTIES = re.compile(
    r"^(?:DELETE\s+FROM\s+(?:ONLY\s+)?([\w.\"`\[\]]+)\s*$"
    r"|TRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?([\w.\"`\[\]]+))",
    re.IGNORECASE,
)
#: What a statement makes or changes, which its reverse has to name: the object a CREATE
#: makes, the column or constraint an ALTER TABLE adds, the table rows go into or out of.
_CREATED_OBJECT = re.compile(
    r"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:UNIQUE\s+|MATERIALIZED\s+|TEMP\w*\s+|UNLOGGED\s+)*"
    r"\w+\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?([\w.\"`\[\]]+)",
    re.IGNORECASE,
)
_ADDED_TO_TABLE = re.compile(
    r"^ALTER\s+TABLE\s+(?:ONLY\s+)?\S+\s+ADD\s+(?:COLUMN\s+|CONSTRAINT\s+)?"
    r"(?:IF\s+NOT\s+EXISTS\s+)?([\w\"`\[\]]+)",
    re.IGNORECASE,
)
_ROWS_OF = re.compile(
    r"^(?:INSERT\s+INTO|DELETE\s+FROM)\s+(?:ONLY\s+)?([\w.\"`\[\]]+)", re.IGNORECASE
)
_SET_CLAUSE = re.compile(
    r"^UPDATE\s+\S+\s+SET\s+(.*?)(?:\bWHERE\b|\bFROM\b|\bRETURNING\b|$)",
    re.IGNORECASE | re.DOTALL,
)
_ASSIGNED = re.compile(r"([\w\"`\[\]]+)\s*=(?!=)")
#: Calls that move rows through an ORM session: data work the tree cannot read.
_ORM_DATA_WORK = {
    "query",
    "bulk_save_objects",
    "bulk_insert_mappings",
    "bulk_update_mappings",
    "add_all",
}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Types whose widening (a longer length, or unbounded text) keeps every value and, on
#: PostgreSQL, rewrites nothing.
_LENGTH_TYPES = {"String", "VARCHAR", "Unicode", "NVARCHAR", "CHAR", "NCHAR"}
_UNBOUNDED_TEXT = {"Text", "TEXT", "UnicodeText"}


def lint(
    module: ast.Module,
    upgrade: ast.FunctionDef | ast.AsyncFunctionDef | None,
    downgrade: ast.FunctionDef | ast.AsyncFunctionDef | None,
    ignored: Mapping[int, frozenset[str]],
    dialect: str | None,
    never_null: frozenset[tuple[str, str]] = frozenset(),
) -> list[dict[str, object]]:
    """The operation findings of one script, in line order, less those its ``ignore``
    comments (``ignored``, from ``_ignores.ignored_by_line``) declare intended.
    ``dialect`` is the project's configured one (``postgresql``, ``sqlite``...), None
    when it is not known."""
    if upgrade is None:
        return []
    names = _op_names(module)
    helpers = {
        n.name for n in module.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    reader = _Upgrade(
        ops=_operations(upgrade, names, helpers, dialect),
        downgrade=(
            _operations(downgrade, names, helpers, dialect) if downgrade is not None else []
        ),
        downgrade_strings=_strings(downgrade) if downgrade is not None else set(),
        downgrade_reverses=downgrade is not None and _does_work(downgrade),
        postgresql=dialect not in _NOT_POSTGRESQL,
        never_null=never_null,
    )
    return [
        {"check": f.check, "line": f.op.line, "message": f.message}
        for f in reader.findings()
        if not _ignores.is_ignored(f.check, f.op.lines, upgrade.lineno, ignored)
    ]


@dataclass(frozen=True)
class _Op:
    """One operation call: ``op.<method>(...)``, ``batch_op.<method>(...)`` or any
    ``<connection>.execute(...)``."""

    method: str
    call: ast.Call
    #: The table a ``batch_alter_table`` block is about (None outside one).
    batch_table: str | None = None
    in_batch: bool = False
    #: Called on ``op`` (or a batch): an Alembic operation, not a connection's execute.
    alembic: bool = True

    @property
    def line(self) -> int:
        return self.call.lineno

    @property
    def lines(self) -> range:
        return range(self.call.lineno, (self.call.end_lineno or self.call.lineno) + 1)

    def arg(self, index: int, name: str) -> ast.expr | None:
        """Argument ``index`` of the ``op.`` form (a batch form has no table argument,
        so its arguments come one place earlier), or the keyword ``name``."""
        for keyword in self.call.keywords:
            if keyword.arg == name:
                return keyword.value
        if self.in_batch:
            index -= 1
        return self.call.args[index] if 0 <= index < len(self.call.args) else None

    def table(self, index: int = 0) -> str | None:
        if self.in_batch:
            return self.batch_table
        return _text(self.arg(index, "table_name"))

    def keyword(self, name: str) -> ast.expr | None:
        return _keyword(self.call, name)


@dataclass(frozen=True)
class _Finding:
    check: str
    op: _Op
    message: str


@dataclass
class _Upgrade:
    """Reads ``upgrade()``'s operations in order, remembering what the revision itself
    created (tables, columns) and which tables it backfilled with SQL."""

    ops: list[_Op]
    downgrade: list[_Op]
    #: Every string constant in ``downgrade()``, lower-cased: the names it touches.
    downgrade_strings: set[str]
    #: ``downgrade()`` does work (not a stub, not ``raise NotImplementedError``): only
    #: then can it be asked to reverse raw SQL (the other cases have their own checks).
    downgrade_reverses: bool
    postgresql: bool
    #: Columns NOT NULL wherever the history makes them (see ``never_null``).
    never_null: frozenset[tuple[str, str]] = frozenset()
    created_tables: set[str] = field(default_factory=set)
    #: Tables this upgrade emptied (``DELETE FROM t`` without WHERE, ``TRUNCATE``).
    emptied_tables: set[str] = field(default_factory=set)
    #: (table, column) -> whether the column was added with a server default.
    added_columns: dict[tuple[str, str], bool] = field(default_factory=dict)
    #: Identifiers the upgrade's SQL named so far (a copy reads what a drop removes).
    sql_words: set[str] = field(default_factory=set)
    #: Tables an UPDATE (or SQL the tree cannot read) may have backfilled so far.
    backfilled: set[str | None] = field(default_factory=set)
    #: Data work the tree cannot read ran so far (a helper of the script, an ORM
    #: session, SQL built at run time): it may have copied or emptied anything.
    opaque: bool = False

    def findings(self) -> Iterator[_Finding]:
        handlers = {
            "create_table": self._create_table,
            "drop_table": self._drop_table,
            "drop_column": self._drop_column,
            "rename_table": self._rename_table,
            "add_column": self._add_column,
            "alter_column": self._alter_column,
            "create_index": self._create_index,
            "execute": self._execute,
            "helper": self._helper,
        }
        for op in self.ops:
            handler = handlers.get(op.method)
            if handler is not None and (op.alembic or op.method in ("execute", "helper")):
                yield from handler(op)

    # -- tables and columns -------------------------------------------------------------

    def _helper(self, op: _Op) -> Iterator[_Finding]:
        self._opaque()
        return iter(())

    def _opaque(self) -> None:
        self.opaque = True
        self.backfilled.add(None)

    def _create_table(self, op: _Op) -> Iterator[_Finding]:
        self._created(op.table())
        return iter(())

    def _drop_table(self, op: _Op) -> Iterator[_Finding]:
        table = op.table()
        if self._is_empty(table) or _norm(table) in self.sql_words or self.opaque:
            return  # made or emptied here, or (maybe) copied by this upgrade first
        yield _Finding(
            "drop-table",
            op,
            f"upgrade() drops table {_name(table)}: its rows are lost, and no downgrade can "
            "bring them back (a downgrade recreates it empty). Copy the rows first if they "
            "may be needed, or drop it in a later release once nothing reads it; if the loss "
            "is intended, say so with `# alembic-drill: ignore[drop-table]` on this line",
        )

    def _drop_column(self, op: _Op) -> Iterator[_Finding]:
        table = op.table()
        column = _text(op.arg(1, "column_name"))
        if self._is_empty(table) or (_norm(table), _norm(column)) in self.added_columns:
            return
        if (column is not None and _norm(column) in self.sql_words) or self.opaque:
            return  # a copy-then-drop: this upgrade read the column first (or may have)
        yield _Finding(
            "drop-column",
            op,
            f"upgrade() drops column {_name(table)}.{_name(column)}: its values are lost, "
            "and no downgrade can bring them back (a downgrade re-adds it empty). Copy the "
            "values first if they may be needed, or drop it in a later release once no "
            "deployed code reads it; if the loss is intended, say so with "
            "`# alembic-drill: ignore[drop-column]` on this line",
        )

    def _rename_table(self, op: _Op) -> Iterator[_Finding]:
        old = _text(op.arg(0, "old_table_name"))
        new = _text(op.arg(1, "new_table_name"))
        if self._is_new(old):
            self._renamed(old, new)
            return
        reversed_ = any(
            d.method == "rename_table"
            and _norm(_text(d.arg(0, "old_table_name"))) == _norm(new)
            and _norm(_text(d.arg(1, "new_table_name"))) == _norm(old)
            for d in self.downgrade
        )
        back = "" if reversed_ else "; downgrade() does not rename it back"
        yield _Finding(
            "rename-table",
            op,
            f"upgrade() renames table {_name(old)} to {_name(new)}{back}. The application "
            "still running during the migration queries the old name and fails until the "
            "new code is deployed; deploy both at once with the application stopped, or "
            "create the new table (or a view under the old name) and move over in steps; "
            "if this is intended, say so with `# alembic-drill: ignore[rename-table]`",
        )
        self._renamed(old, new)

    def _add_column(self, op: _Op) -> Iterator[_Finding]:
        table = op.table()
        column = op.arg(1, "column")
        if not (isinstance(column, ast.Call) and _callee(column) == "Column"):
            return
        name = _text(column.args[0]) if column.args else _text(_keyword(column, "name"))
        has_default = _given(_keyword(column, "server_default"))
        self.added_columns[(_norm(table), _norm(name))] = has_default
        if (
            self._is_empty(table)
            or self.opaque
            or has_default
            or not _is_false(_keyword(column, "nullable"))
        ):
            return
        if any(
            _callee(a) in ("Computed", "Identity") for a in column.args if isinstance(a, ast.Call)
        ):
            return  # the database fills it
        python_default = (
            " (`default=` is applied by SQLAlchemy on new inserts, never to existing rows)"
            if _given(_keyword(column, "default"))
            else ""
        )
        yield _Finding(
            "not-null-without-default",
            op,
            f"upgrade() adds NOT NULL column {_name(table)}.{_name(name)} without a server "
            f"default{python_default}: it fails on a table that holds rows (MySQL and "
            "MariaDB give those rows the type's implicit default, 0 or '', instead). Give it "
            "`server_default=...`, or add it nullable, backfill it, then set it NOT NULL",
        )

    def _alter_column(self, op: _Op) -> Iterator[_Finding]:
        table = op.table()
        column = _text(op.arg(1, "column_name"))
        key = (_norm(table), _norm(column))
        if self._is_new(table):
            return
        new_name = op.keyword("new_column_name")
        if _given(new_name) and not self._swapped(table, column, _text(new_name)):
            yield self._renamed_column(op, table, column, _text(new_name))
        if self._is_empty(table):
            return
        if (
            _is_false(op.keyword("nullable"))
            and not self._filled(op, key)
            and key not in self.never_null
        ):
            yield _Finding(
                "not-null-without-default",
                op,
                f"upgrade() sets column {_name(table)}.{_name(column)} NOT NULL without "
                "filling it first: if it could hold NULL until now, it fails on a table where "
                "a row holds NULL there (if it already is NOT NULL, say so with "
                "`existing_nullable=False`). "
                'Backfill it in the same upgrade (`op.execute("UPDATE ... SET '
                f'{column or "column"} = ... WHERE {column or "column"} IS NULL")`) before '
                "this line, or give `server_default=...`",
            )
        type_ = op.keyword("type_")
        existing = op.keyword("existing_type")
        if (
            type_ is not None
            and existing is not None
            and ast.dump(type_) != ast.dump(existing)
            and key not in self.added_columns
            and not _widens(type_, existing)
        ):
            yield _Finding(
                "type-change",
                op,
                f"upgrade() changes the type of column {_name(table)}.{_name(column)} from "
                f"{_source(existing)} to {_source(type_)}: existing values are converted "
                "(a value that does not fit fails the upgrade or is cut, and downgrade() "
                "must convert back), and "
                "PostgreSQL and MySQL rewrite the table under a lock for most changes. "
                "Check the values on a copy of production, give `postgresql_using=` where "
                "the cast is not implicit, or add a new column and move the values over; "
                "if it is intended, say so with `# alembic-drill: ignore[type-change]`",
            )

    def _swapped(self, table: str | None, old: str | None, new: str | None) -> bool:
        """Whether a rename is one half of a column swap: the new name was dropped in this
        upgrade, or the old one is added again, so the running application's column is
        there before and after (add ``x_new``, copy, drop ``x``, rename ``x_new`` to ``x``)."""

        def touches(method: str, index: int, name: str, column: str | None) -> bool:
            return any(
                o.method == method
                and _norm(o.table()) == _norm(table)
                and _norm(_text(o.arg(index, name))) == _norm(column)
                for o in self.ops
            )

        added_back = any(
            o.method == "add_column"
            and _norm(o.table()) == _norm(table)
            and isinstance(column_node := o.arg(1, "column"), ast.Call)
            and _norm(_text(column_node.args[0] if column_node.args else None)) == _norm(old)
            for o in self.ops
        )
        return touches("drop_column", 1, "column_name", new) or added_back

    def _renamed_column(
        self, op: _Op, table: str | None, old: str | None, new: str | None
    ) -> _Finding:
        reversed_ = any(
            d.method == "alter_column"
            and _norm(d.table()) == _norm(table)
            and _norm(_text(d.arg(1, "column_name"))) == _norm(new)
            and _norm(_text(d.keyword("new_column_name"))) == _norm(old)
            for d in self.downgrade
        )
        back = "" if reversed_ else "; downgrade() does not rename it back"
        return _Finding(
            "rename-column",
            op,
            f"upgrade() renames column {_name(table)}.{_name(old)} to {_name(new)}{back}. "
            "The application still running during the migration reads and writes the old "
            "name and fails until the new code is deployed; deploy both at once with the "
            "application stopped, or add the new column, write both, backfill, and drop "
            "the old one later; if this is intended, say so with "
            "`# alembic-drill: ignore[rename-column]`",
        )

    def _create_index(self, op: _Op) -> Iterator[_Finding]:
        table = op.table(1)
        if not self.postgresql or self._is_empty(table):
            return
        if _is_true(op.keyword("postgresql_concurrently")):
            return
        name = _text(op.arg(0, "index_name"))
        yield self._blocking_index(op, name, table)

    def _blocking_index(self, op: _Op, name: str | None, table: str | None) -> _Finding:
        return _Finding(
            "index-without-concurrently",
            op,
            f"upgrade() builds index {_name(name)} on existing table {_name(table)} without "
            "CONCURRENTLY: on PostgreSQL, writes to the table wait until the build ends, "
            "which on a large table in use is an outage. Build it with "
            "`op.create_index(..., postgresql_concurrently=True)` inside "
            "`with op.get_context().autocommit_block():` (drop it the same way); "
            "this is advice: on a small table or with the application stopped it does not "
            "matter",
        )

    # -- raw SQL ------------------------------------------------------------------------

    def _execute(self, op: _Op) -> Iterator[_Finding]:
        argument = op.call.args[0] if op.call.args else op.keyword("sqltext")
        sql = _sql(argument)
        if sql is None:
            self._opaque()
            # An f-string's constant parts still name what it reads (a copy's source).
            self.sql_words |= {w.lower() for w in _WORD.findall(_constant_parts(argument))}
            return
        for statement in _statements(sql):
            yield from self._statement(op, statement)

    def _statement(self, op: _Op, sql: str) -> Iterator[_Finding]:
        first = sql.split(None, 1)[0].upper()
        words = {w.lower() for w in _WORD.findall(sql)}
        try:
            enum = _ENUM_ADD_VALUE.match(sql)
            if enum:
                if not self._downgrade_recreates_enum():
                    yield _Finding(
                        "enum-value-added",
                        op,
                        f"upgrade() adds a value to PostgreSQL enum type {enum.group(1)}: "
                        "PostgreSQL cannot remove a value from an enum, and downgrade() does "
                        "not recreate the type, so downgrading past this revision keeps it. "
                        "In downgrade(), move the rows off the value, then rename the type, "
                        "create it again without the value, convert the columns "
                        "(`USING col::text::<type>`) and drop the old type",
                    )
                return
            dropped = _DROP_TABLE.match(sql)
            if dropped:
                table = _unquote(dropped.group(1))
                if not self._is_empty(table) and table not in self.sql_words:
                    yield _Finding(
                        "drop-table",
                        op,
                        f"upgrade() drops table {table} (raw SQL): its rows are lost, and no "
                        "downgrade can bring them back. Copy the rows first if they may be "
                        "needed; if the loss is intended, say so with "
                        "`# alembic-drill: ignore[drop-table]` on this line",
                    )
                return
            emptied = _EMPTIES.match(sql)
            if emptied:
                self.emptied_tables.add(_unquote(emptied.group(1) or emptied.group(2)))
            created = _CREATE_TABLE.match(sql)
            if created:
                self._created(_unquote(created.group(1)))
            updated = _UPDATE.match(sql)
            if updated:
                self.backfilled.add(_unquote(updated.group(1)))
            index = _CREATE_INDEX.match(sql)
            if index and not index.group(1) and self.postgresql:
                table = _unquote(index.group(2))
                if not self._is_empty(table):
                    yield self._blocking_index(op, None, table)
            if first in _CHANGING_SQL and not self._reverses(_subject(sql) or words):
                yield _Finding(
                    "raw-sql-without-reverse",
                    op,
                    f"upgrade() runs `{_abridged(sql)}`, and downgrade() runs no SQL and "
                    "touches nothing it names: downgrading past this revision keeps what it "
                    "did. Write its reverse in downgrade() (`op.execute(...)`), or declare "
                    "the revision irreversible with `raise NotImplementedError(...)`",
                )
        finally:
            self.sql_words |= words

    def _reverses(self, subject: set[str]) -> bool:
        """Whether ``downgrade()`` plausibly reverses a statement about ``subject``: it
        runs SQL of its own, or names something in ``subject`` (the column an UPDATE set,
        dropped again by ``op.drop_column``). Generous on purpose: a finding must be true,
        so only a downgrade that does nothing of the kind is reported."""
        if not self.downgrade_reverses:
            return True
        if any(d.method == "execute" for d in self.downgrade):
            return True
        return bool(subject & self.downgrade_strings)

    def _downgrade_recreates_enum(self) -> bool:
        for d in self.downgrade:
            if d.method == "execute":
                sql = _sql(d.call.args[0] if d.call.args else d.keyword("sqltext"))
                if sql is None or any(_ENUM_RECREATE.match(s) for s in _statements(sql)):
                    return True
            if d.method in ("create", "drop", "sync_enum_values"):
                return True  # sa.Enum(...).create(bind), alembic-postgresql-enum
        return False

    # -- what this revision made --------------------------------------------------------

    def _created(self, table: str | None) -> None:
        if table is not None:
            self.created_tables.add(_norm(table))

    def _renamed(self, old: str | None, new: str | None) -> None:
        if _norm(old) in self.created_tables:
            self._created(new)
        if _norm(old) in self.emptied_tables and new is not None:
            self.emptied_tables.add(_norm(new))

    def _is_new(self, table: str | None) -> bool:
        return table is not None and _norm(table) in self.created_tables

    def _is_empty(self, table: str | None) -> bool:
        """Whether ``table`` holds no rows here: created or emptied by this upgrade."""
        return self._is_new(table) or (table is not None and _norm(table) in self.emptied_tables)

    def _filled(self, op: _Op, key: tuple[str, str]) -> bool:
        """Whether nothing can be NULL when ``op`` sets the column NOT NULL."""
        if _is_false(op.keyword("existing_nullable")) or _given(op.keyword("server_default")):
            return True
        if self.added_columns.get(key):
            return True  # added with a server default: every row got it
        return None in self.backfilled or key[0] in self.backfilled


# -- reading the tree -----------------------------------------------------------------------


def _op_names(module: ast.Module) -> set[str]:
    """The names ``alembic.op`` is bound to (``from alembic import op [as x]``)."""
    names = {"op"}
    for node in module.body:
        if isinstance(node, ast.ImportFrom) and node.module == "alembic":
            names.update(a.asname or a.name for a in node.names if a.name == "op")
    return names


def never_null(trees: Iterable[ast.Module]) -> frozenset[tuple[str, str]]:
    """(table, column) pairs, lower-cased, that every script of the history makes NOT NULL
    (``nullable=False`` or part of a primary key, in ``create_table`` or ``add_column``)
    and none ever alters to ``nullable=True``: setting NOT NULL on one restates it, and
    cannot fail. Read from every script at once, without their order: a column made
    nullable anywhere is left out."""
    made: set[tuple[str, str]] = set()
    loosened: set[tuple[str, str]] = set()
    for tree in trees:
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            method = call.func.attr if isinstance(call.func, ast.Attribute) else None
            table = _norm(_text(call.args[0] if call.args else _keyword(call, "table_name")))
            if method == "create_table" and table:
                keyed = set()
                for item in call.args[1:]:
                    if isinstance(item, ast.Call) and _callee(item) == "PrimaryKeyConstraint":
                        keyed |= {_norm(_text(a)) for a in item.args}
                for item in call.args[1:]:
                    name = _column_name(item)
                    if name and (_not_null_column(item) or name in keyed):
                        made.add((table, name))
            elif method == "add_column" and table and len(call.args) > 1:
                name = _column_name(call.args[1])
                if name and _not_null_column(call.args[1]):
                    made.add((table, name))
            elif method == "alter_column" and table and _is_true(_keyword(call, "nullable")):
                name = _norm(_text(call.args[1] if len(call.args) > 1 else None))
                loosened.add((table, name))
    return frozenset(made - loosened)


def _column_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call) and _callee(node) == "Column" and node.args:
        return _norm(_text(node.args[0]))
    return ""


def _not_null_column(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and (
        _is_false(_keyword(node, "nullable")) or _is_true(_keyword(node, "primary_key"))
    )


#: Dialect names a script compares against to choose what runs where.
_DIALECTS = frozenset({"postgresql", "mysql", "mariadb", "sqlite", "mssql", "oracle"})


def _runs_on(test: ast.expr, dialect: str | None) -> bool | None:
    """Whether an ``if`` on the dialect (``dialect.name == "mysql"``, ``!=``, ``in``,
    ``not in``) is taken on ``dialect``; None when the test is not one, or the dialect is
    not known."""
    if dialect is None or not isinstance(test, ast.Compare) or len(test.ops) != 1:
        return None
    if "dialect" not in ast.unparse(test.left).lower():
        return None
    right = test.comparators[0]
    items = right.elts if isinstance(right, (ast.Tuple, ast.List, ast.Set)) else [right]
    names = {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)}
    if not names or not names <= _DIALECTS or len(names) != len(items):
        return None
    current = {dialect, "mysql"} if dialect == "mariadb" else {dialect}
    hit = bool(names & current)
    op = test.ops[0]
    if isinstance(op, (ast.Eq, ast.In)):
        return hit
    if isinstance(op, (ast.NotEq, ast.NotIn)):
        return not hit
    return None


def _operations(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    op_names: set[str],
    helpers: set[str],
    dialect: str | None = None,
) -> list[_Op]:
    """The function's operation calls in source order, less those in branches for other
    dialects than ``dialect`` (and after an early ``return`` taken on it). Calls of the
    module's own functions are ``helper`` operations: what they do is not followed, only
    that they may fill columns."""
    found: list[_Op] = []
    for statement in function.body:
        _visit(statement, op_names, {}, found, dialect)
        if (
            isinstance(statement, ast.If)
            and _runs_on(statement.test, dialect)
            and statement.body
            and isinstance(statement.body[-1], ast.Return)
        ):
            break
    found.extend(
        _Op("helper", node, alembic=False)
        for node in ast.walk(function)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in helpers
    )
    found.sort(key=lambda o: (o.call.lineno, o.call.col_offset))
    return found


def _visit(
    node: ast.AST,
    op_names: set[str],
    batches: dict[str, str | None],
    out: list[_Op],
    dialect: str | None = None,
) -> None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
        return
    if isinstance(node, ast.If):
        taken = _runs_on(node.test, dialect)
        if taken is not None:
            for statement in node.body if taken else node.orelse:
                _visit(statement, op_names, batches, out, dialect)
            return
    if isinstance(node, ast.Call):
        found = _operation(node, op_names, batches)
        if found is not None:
            out.append(found)
    if isinstance(node, (ast.With, ast.AsyncWith)):
        inner = dict(batches)
        for item in node.items:
            _visit(item.context_expr, op_names, batches, out, dialect)
            context = item.context_expr
            if (
                isinstance(context, ast.Call)
                and _attribute_of(context, op_names) == "batch_alter_table"
                and isinstance(item.optional_vars, ast.Name)
            ):
                table = context.args[0] if context.args else _keyword(context, "table_name")
                inner[item.optional_vars.id] = _text(table)
        for statement in node.body:
            _visit(statement, op_names, inner, out, dialect)
        return
    for child in ast.iter_child_nodes(node):
        _visit(child, op_names, batches, out, dialect)


def _operation(call: ast.Call, op_names: set[str], batches: dict[str, str | None]) -> _Op | None:
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    receiver = func.value
    if isinstance(receiver, ast.Name) and receiver.id in op_names:
        return _Op(func.attr, call)
    if isinstance(receiver, ast.Name) and receiver.id in batches:
        return _Op(func.attr, call, batch_table=batches[receiver.id], in_batch=True)
    if func.attr in _ORM_DATA_WORK:
        return _Op("helper", call, alembic=False)
    if func.attr == "execute":  # a connection's: op.get_bind().execute(...), conn.execute
        return _Op("execute", call, alembic=False)
    if func.attr in ("create", "drop") and isinstance(receiver, ast.Call):
        if _callee(receiver) in ("Enum", "ENUM"):
            return _Op(func.attr, call, alembic=False)
    return None


def _attribute_of(call: ast.Call, op_names: set[str]) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        if func.value.id in op_names:
            return func.attr
    return None


def _strings(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    return {
        _norm(node.value)
        for node in ast.walk(function)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def _does_work(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return _bodies.kind(function.body) == "implemented"


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _callee(call: ast.Call) -> str | None:
    """``Column`` for ``sa.Column(...)``, ``Column(...)`` or ``sqlalchemy.Column(...)``."""
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _text(node: ast.expr | None) -> str | None:
    """A name or SQL written as a string, or as ``op.f("name")`` (autogenerate's form)."""
    if isinstance(node, ast.Call) and _callee(node) == "f" and len(node.args) == 1:
        node = node.args[0]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _sql(node: ast.expr | None) -> str | None:
    """The SQL of ``"..."``, ``sa.text("...")`` or ``text("...")``; None for SQL built at
    run time (an f-string, a variable, a SQLAlchemy construct)."""
    if isinstance(node, ast.Call) and _callee(node) == "text" and node.args:
        node = node.args[0]
    return _text(node)


def _constant_parts(node: ast.expr | None) -> str:
    """The literal text of an f-string (also inside ``text(f"...")``), else ''."""
    if isinstance(node, ast.Call) and _callee(node) == "text" and node.args:
        node = node.args[0]
    if not isinstance(node, ast.JoinedStr):
        return ""
    return " ".join(
        v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
    )


def _statements(sql: str) -> list[str]:
    """The statements of a SQL string, comments dropped. A ``;`` inside a string literal
    or a function body splits wrongly, which only makes the checks read less."""
    without_comments = re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.DOTALL)
    return [s.strip() for s in without_comments.split(";") if s.strip()]


def _subject(sql: str) -> set[str]:
    """The names a statement's reverse has to touch (see ``_CREATED_OBJECT``), empty when
    the statement is of another kind (then any name it mentions counts)."""
    for pattern in (_CREATED_OBJECT, _ADDED_TO_TABLE, _ROWS_OF):
        found = pattern.match(sql)
        if found:
            return {_unquote(found.group(1))}
    assignments = _SET_CLAUSE.match(sql)
    if assignments:
        return {_unquote(a) for a in _ASSIGNED.findall(assignments.group(1))}
    return set()


def _given(node: ast.expr | None) -> bool:
    """A keyword given a value other than None."""
    return node is not None and not (isinstance(node, ast.Constant) and node.value is None)


def _is_false(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _widens(new: ast.expr | None, old: ast.expr | None) -> bool:
    """Whether the change keeps every value and rewrites nothing: ``String(50)`` to
    ``String(200)`` or to ``Text``."""
    new_name = _type_name(new)
    old_name = _type_name(old)
    if new_name == old_name == "Enum" and isinstance(new, ast.Call) and isinstance(old, ast.Call):
        # An enum given more values: the stored ones all stay valid.
        return _labels(old) <= _labels(new) and bool(_labels(old))
    if new_name is None or old_name not in _LENGTH_TYPES:
        return False
    if new_name in _UNBOUNDED_TEXT:
        return True
    new_length, old_length = _length(new), _length(old)
    return (
        new_name == old_name
        and new_length is not None
        and old_length is not None
        and new_length >= old_length
    )


def _labels(call: ast.Call) -> set[str]:
    return {a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)}


def _type_name(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Call):
        return _callee(node)
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def _length(node: ast.expr | None) -> int | None:
    if not isinstance(node, ast.Call):
        return None
    value = node.args[0] if node.args else _keyword(node, "length")
    if isinstance(value, ast.Constant) and isinstance(value.value, int):
        return value.value
    return None


def _norm(name: str | None) -> str:
    return (name or "").lower()


def _unquote(name: str) -> str:
    return _norm(name.split(".")[-1].strip('"`[]'))


def _name(name: str | None) -> str:
    return name if name else "<computed>"


def _source(node: ast.expr) -> str:
    return _abridged(ast.unparse(node))


def _abridged(text: str, limit: int = 60) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 3] + "..."
