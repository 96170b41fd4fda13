"""Writes a synthetic Alembic project with a long revision history, for benchmarks.

Deterministic from a seed: a mostly linear history with a branch and its merge every
``--branch-every`` revisions, as a long-lived project has. Two mixes of operations:

- ``simple`` (the default, what the lint and check-vs-floor benchmarks have always used):
  a fixed cycle of create table / add column / create index, no ``target_metadata``.
- ``realistic`` (the peers benchmark): a seeded mix of tables, columns with and without
  server defaults, indexes, foreign keys, enums (a PostgreSQL type created and dropped;
  a plain column on MySQL and SQLite), and data backfills written idempotently
  (``UPDATE ... WHERE col IS NULL``). Every downgrade undoes its upgrade exactly, no
  upgrade fails on tables that hold rows, and a ``models.py`` describing the head schema
  is written and given to Alembic as env.py's ``target_metadata``, so model-drift checks
  have something real to compare.

env.py takes the database from the Alembic config (``sqlalchemy.url``), or the connection
a tool hands over in ``config.attributes["connection"]``, so every tool can point it at
its own database.

    python bench/generate_history.py OUT_DIR --revisions 10000
    python bench/generate_history.py OUT_DIR --revisions 100 --mix realistic --branch-every 25
"""

from __future__ import annotations

import argparse
import random
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

INI = """\
[alembic]
script_location = %(here)s/migrations
sqlalchemy.url = sqlite:///%(here)s/bench.db
"""

ENV_PY = """\
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
target_metadata = None

connectable = engine_from_config(
    config.get_section(config.config_ini_section, {}),
    prefix="sqlalchemy.",
    poolclass=pool.NullPool,
)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
"""

SCRIPT = '''\
"""{message}

Revision ID: {rev}
Revises: {down_comment}
Create Date: 2026-01-01 00:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''


def revision_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(48):012x}"


def operations(n: int) -> tuple[str, str, str]:
    """(message, upgrade body, downgrade body) for revision number n."""
    table = f"t{n // 3}"
    if n % 3 == 0:
        up = f"""\
            op.create_table(
                {table!r},
                sa.Column("id", sa.Integer(), primary_key=True),
                sa.Column("name", sa.String(100), nullable=False),
                sa.Column("created_at", sa.DateTime(), server_default=sa.func.now()),
            )"""
        down = f"op.drop_table({table!r})"
        msg = f"create table {table}"
    elif n % 3 == 1:
        up = f'op.add_column({table!r}, sa.Column("note", sa.Text(), nullable=True))'
        down = f'op.drop_column({table!r}, "note")'
        msg = f"add {table}.note"
    else:
        up = f'op.create_index("ix_{table}_name", {table!r}, ["name"])'
        down = f'op.drop_index("ix_{table}_name", table_name={table!r})'
        msg = f"index {table}.name"
    return msg, textwrap.indent(textwrap.dedent(up), "    "), textwrap.indent(down, "    ")


def generate(
    out: Path, revisions: int, branch_every: int, seed: int, *, mix: str = "simple"
) -> list[str]:
    """Writes the project into ``out``; returns the revision ids in the order written.
    ``realistic-reimport``: the realistic mix, whose env.py imports its models module
    again on every run (as an env.py that builds the application's models does)."""
    if mix in ("realistic", "realistic-reimport"):
        ids = generate_realistic(out, revisions, branch_every, seed)
        if mix == "realistic-reimport":
            (out / "migrations" / "env.py").write_text(REIMPORTING_ENV_PY)
        return ids
    if mix != "simple":
        raise ValueError(f"unknown mix {mix!r}: simple, realistic or realistic-reimport")
    rng = random.Random(seed)
    versions = out / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (out / "alembic.ini").write_text(INI)
    (out / "migrations" / "env.py").write_text(ENV_PY)
    ids: list[str] = []
    head: str | tuple[str, ...] | None = None
    n = 0
    # The main line's own count: its revisions build on each other's tables, so branch
    # revisions must not take numbers from it.
    main = 0
    while n < revisions:
        if branch_every and n and n % branch_every == 0 and revisions - n >= 3:
            # Two revisions off the same parent, then a merge of both.
            fork = head
            left, right = revision_id(rng), revision_id(rng)
            for rev in (left, right):
                # Each side of the branch works on a table of its own, as parallel
                # feature branches do.
                write(versions, n, rev, fork, branch_table=f"b{n}")
                ids.append(rev)
                n += 1
            merge = revision_id(rng)
            write(versions, n, merge, (left, right), merge=True)
            ids.append(merge)
            n += 1
            head = merge
            continue
        rev = revision_id(rng)
        write(versions, n, rev, head, step=main)
        ids.append(rev)
        head = rev
        n += 1
        main += 1
    return ids


def write(
    versions: Path,
    n: int,
    rev: str,
    down: str | tuple[str, ...] | None,
    merge: bool = False,
    branch_table: str | None = None,
    step: int = 0,
) -> None:
    if merge:
        msg, up, dn = "merge heads", "    pass", "    pass"
    elif branch_table:
        msg = f"create table {branch_table}"
        up = f'    op.create_table({branch_table!r}, sa.Column("id", sa.Integer, primary_key=True))'
        dn = f"    op.drop_table({branch_table!r})"
    else:
        msg, up, dn = operations(step)
    down_comment = ", ".join(down) if isinstance(down, tuple) else down
    text = SCRIPT.format(
        message=msg, rev=rev, down=down, down_comment=down_comment, upgrade=up, downgrade=dn
    )
    (versions / f"{n:05d}_{rev}_{msg.replace(' ', '_').replace('.', '_')}.py").write_text(text)


# -- the realistic mix ------------------------------------------------------------------

REALISTIC_INI = """\
[alembic]
script_location = %(here)s/migrations
prepend_sys_path = %(here)s
path_separator = os
sqlalchemy.url = sqlite:///%(here)s/bench.db
"""

REALISTIC_ENV_PY = """\
from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

from models import metadata

config = context.config
target_metadata = metadata


def run(connection):
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    # A tool may hand over a Connection or an Engine; otherwise sqlalchemy.url.
    connectable = config.attributes.get("connection")
    if isinstance(connectable, Connection):
        run(connectable)
    else:
        engine = connectable or engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        with engine.connect() as connection:
            run(connection)
        if connectable is None:
            engine.dispose()
"""

REIMPORTING_ENV_PY = REALISTIC_ENV_PY.replace(
    "from models import metadata\n",
    "import importlib\n\nimport models\n\n"
    "# The models module runs again on every run of env.py, as an application's does when\n"
    "# env.py builds its models (or reads its settings, or builds its engine) itself.\n"
    "metadata = importlib.reload(models).metadata\n",
)

MODELS_HEADER = '''\
"""The models: the schema at the head of the generated history."""

import sqlalchemy as sa

metadata = sa.MetaData()
'''

ENUM_VALUES = (("pending", "active", "archived"), ("basic", "premium", "legacy"))

# (kind, column type, nullable, server default) of the plain columns added later on.
PLAIN_COLUMNS = (
    ("note", "sa.Text()", True, None),
    ("score", "sa.Integer()", False, '"0"'),
    ("price", "sa.Numeric(10, 2)", True, None),
    ("is_active", "sa.Boolean()", False, "sa.false()"),
    ("code", "sa.String(40)", True, None),
)

# Operation kinds of the main line and their weights.
OPERATIONS = (
    ("create_table", 22),
    ("add_column", 20),
    ("backfill", 15),
    ("create_index", 15),
    ("foreign_key", 13),
    ("enum", 15),
)


@dataclass
class Column:
    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    primary_key: bool = False
    #: (constraint name, referenced table)
    fk: tuple[str, str] | None = None
    #: (type name, values) of an enum column
    enum: tuple[str, tuple[str, ...]] | None = None
    indexable: bool = True

    def render(self) -> str:
        args = [repr(self.name), self.enum_type() if self.enum else self.type]
        if self.fk:
            args.append(f'sa.ForeignKey("{self.fk[1]}.id", name={self.fk[0]!r})')
        if self.primary_key:
            args.append("primary_key=True")
        else:
            args.append(f"nullable={self.nullable}")
        if self.default:
            args.append(f"server_default={self.default}")
        return f"sa.Column({', '.join(args)})"

    def enum_type(self) -> str:
        assert self.enum
        name, values = self.enum
        return f"sa.Enum({', '.join(repr(v) for v in values)}, name={name!r})"


@dataclass
class Table:
    name: str
    columns: list[Column] = field(default_factory=list)
    #: (index name, column)
    indexes: list[tuple[str, str]] = field(default_factory=list)

    def column_names(self) -> set[str]:
        return {c.name for c in self.columns}


@dataclass
class Schema:
    """What the migrations so far have built: the source of models.py, and what the next
    operation may build on."""

    rng: random.Random
    tables: dict[str, Table] = field(default_factory=dict)
    counter: int = 0

    def next_number(self) -> int:
        self.counter += 1
        return self.counter

    def pick_table(self) -> Table:
        return self.tables[self.rng.choice(sorted(self.tables))]


Change = tuple[str, list[str], list[str]]  # (message, upgrade lines, downgrade lines)


def create_table(schema: Schema, name: str, refs: list[str]) -> Change:
    """A new table (id, name, created_at), maybe with a foreign key to an existing table
    and an enum column (its PostgreSQL type created with the table, dropped after it)."""
    rng = schema.rng
    table = Table(
        name,
        [
            Column("id", "sa.Integer()", primary_key=True),
            Column("name", "sa.String(100)", nullable=False),
            Column("created_at", "sa.DateTime()", default="sa.func.now()"),
        ],
    )
    if refs and rng.random() < 0.5:
        ref = rng.choice(refs)
        table.columns.append(Column(f"{ref}_id", "sa.Integer()", fk=(f"fk_{name}_{ref}", ref)))
    enum = None
    if rng.random() < 0.3:
        enum = Column("kind", "", default=None, enum=(f"{name}_kind", rng.choice(ENUM_VALUES)))
        table.columns.append(enum)
    schema.tables[name] = table
    up = ["op.create_table(", f"    {name!r},"]
    up += [f"    {c.render()}," for c in table.columns]
    up += [")"]
    down = [f"op.drop_table({name!r})"]
    if enum:
        down.append(f"{enum.enum_type()}.drop(op.get_bind(), checkfirst=True)")
    return f"create table {name}", up, down


def add_column(schema: Schema) -> Change:
    """A plain column; a NOT NULL one comes with a server default, so tables that hold
    rows take it."""
    table = schema.pick_table()
    kind, type_, nullable, default = schema.rng.choice(PLAIN_COLUMNS)
    column = Column(f"{kind}_{schema.next_number()}", type_, nullable, default)
    column.indexable = kind != "note"
    table.columns.append(column)
    up = [f"op.add_column({table.name!r}, {column.render()})"]
    down = [f"op.drop_column({table.name!r}, {column.name!r})"]
    return f"add {table.name}.{column.name}", up, down


def backfill(schema: Schema) -> Change:
    """A nullable column filled from existing rows, idempotently (``WHERE ... IS NULL``)."""
    table = schema.pick_table()
    number = schema.next_number()
    if schema.rng.random() < 0.5:
        column = Column(f"slug_{number}", "sa.String(100)")
        value = "lower(name)"
    else:
        column = Column(f"rank_{number}", "sa.Integer()")
        value = "id"
    table.columns.append(column)
    up = [
        f"op.add_column({table.name!r}, {column.render()})",
        f'op.execute("UPDATE {table.name} SET {column.name} = {value} '
        f'WHERE {column.name} IS NULL")',
    ]
    down = [f"op.drop_column({table.name!r}, {column.name!r})"]
    return f"add and backfill {table.name}.{column.name}", up, down


def create_index(schema: Schema) -> Change | None:
    candidates = [
        (table, column)
        for table in (schema.tables[n] for n in sorted(schema.tables))
        for column in table.columns
        if column.indexable
        and not column.primary_key
        and not column.enum
        # MySQL takes an index on a foreign key column for the key; it cannot be dropped.
        and not column.fk
        and column.name not in {c for _, c in table.indexes}
    ]
    if not candidates:
        return None
    table, column = schema.rng.choice(candidates)
    index = f"ix_{table.name}_{column.name}"
    table.indexes.append((index, column.name))
    up = [f"op.create_index({index!r}, {table.name!r}, [{column.name!r}])"]
    down = [f"op.drop_index({index!r}, table_name={table.name!r})"]
    return f"index {table.name}.{column.name}", up, down


def foreign_key(schema: Schema) -> Change | None:
    """A reference column with its foreign key to an older table, in batch mode (SQLite
    cannot ALTER a constraint; elsewhere batch mode is plain ALTER TABLE)."""
    rng = schema.rng
    # Only to tables created earlier: no cycles of foreign keys, as in most schemas.
    order = list(schema.tables)
    pairs = [
        (table, ref)
        for i, table in enumerate(order)
        for ref in order[:i]
        if f"{ref}_id" not in schema.tables[table].column_names()
    ]
    if not pairs:
        return None
    name, ref = rng.choice(pairs)
    fk = f"fk_{name}_{ref}"
    column = Column(f"{ref}_id", "sa.Integer()", fk=(fk, ref))
    schema.tables[name].columns.append(column)
    up = [
        f"with op.batch_alter_table({name!r}) as batch_op:",
        f"    batch_op.add_column(sa.Column({column.name!r}, sa.Integer(), nullable=True))",
        f"    batch_op.create_foreign_key({fk!r}, {ref!r}, [{column.name!r}], ['id'])",
    ]
    down = [
        f"with op.batch_alter_table({name!r}) as batch_op:",
        f"    batch_op.drop_constraint({fk!r}, type_='foreignkey')",
        f"    batch_op.drop_column({column.name!r})",
    ]
    return f"reference {ref} from {name}", up, down


def enum_column(schema: Schema) -> Change:
    """An enum column backfilled with its first value; its type (PostgreSQL) is created
    first and dropped after the column."""
    table = schema.pick_table()
    name = f"state_{schema.next_number()}"
    values = schema.rng.choice(ENUM_VALUES)
    column = Column(name, "", enum=(f"{table.name}_{name}", values))
    table.columns.append(column)
    up = [
        f"{column.enum_type()}.create(op.get_bind(), checkfirst=True)",
        f"op.add_column({table.name!r}, {column.render()})",
        f"op.execute(\"UPDATE {table.name} SET {name} = '{values[0]}' WHERE {name} IS NULL\")",
    ]
    down = [
        f"op.drop_column({table.name!r}, {name!r})",
        f"{column.enum_type()}.drop(op.get_bind(), checkfirst=True)",
    ]
    return f"add enum {table.name}.{name}", up, down


def realistic_change(schema: Schema) -> Change:
    """The next main-line revision: a weighted pick among the operation kinds (the first
    revision creates a table; a kind with nothing to work on falls back to a new table)."""
    if schema.tables:
        kinds, weights = zip(*OPERATIONS)
        kind = schema.rng.choices(kinds, weights)[0]
        change = {
            "create_table": lambda: None,
            "add_column": lambda: add_column(schema),
            "backfill": lambda: backfill(schema),
            "create_index": lambda: create_index(schema),
            "foreign_key": lambda: foreign_key(schema),
            "enum": lambda: enum_column(schema),
        }[kind]()
        if change is not None:
            return change
    return create_table(schema, f"t{schema.next_number()}", sorted(schema.tables))


def generate_realistic(out: Path, revisions: int, branch_every: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    schema = Schema(random.Random(seed + 1))
    versions = out / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (out / "alembic.ini").write_text(REALISTIC_INI)
    (out / "migrations" / "env.py").write_text(REALISTIC_ENV_PY)
    ids: list[str] = []
    head: str | tuple[str, ...] | None = None
    n = 0
    while n < revisions:
        if branch_every and n and n % branch_every == 0 and revisions - n >= 3:
            # Two feature branches off the same parent, each creating a table of its own
            # (referencing only what existed at the fork), then their merge.
            fork, refs = head, sorted(schema.tables)
            sides = []
            for side in "ab":
                rev = revision_id(rng)
                change = create_table(schema, f"b{n}{side}", refs)
                write_change(versions, n, rev, fork, change)
                ids.append(rev)
                sides.append(rev)
                n += 1
            merge = revision_id(rng)
            write_change(versions, n, merge, tuple(sides), ("merge heads", ["pass"], ["pass"]))
            ids.append(merge)
            head = merge
            n += 1
            continue
        rev = revision_id(rng)
        write_change(versions, n, rev, head, realistic_change(schema))
        ids.append(rev)
        head = rev
        n += 1
    (out / "models.py").write_text(render_models(schema))
    return ids


def write_change(
    versions: Path, n: int, rev: str, down: str | tuple[str, ...] | None, change: Change
) -> None:
    msg, up, dn = change
    down_comment = ", ".join(down) if isinstance(down, tuple) else down
    text = SCRIPT.format(
        message=msg,
        rev=rev,
        down=down,
        down_comment=down_comment,
        upgrade=textwrap.indent("\n".join(up), "    "),
        downgrade=textwrap.indent("\n".join(dn), "    "),
    )
    slug = "".join(ch if ch.isalnum() else "_" for ch in msg)
    (versions / f"{n:05d}_{rev}_{slug}.py").write_text(text)


def render_models(schema: Schema) -> str:
    lines = [MODELS_HEADER]
    for table in (schema.tables[name] for name in sorted(schema.tables)):
        lines.append(f"{table.name} = sa.Table(")
        lines.append(f"    {table.name!r},")
        lines.append("    metadata,")
        lines += [f"    {column.render()}," for column in table.columns]
        lines += [f"    sa.Index({index!r}, {column!r})," for index, column in table.indexes]
        lines.append(")")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--revisions", type=int, default=10_000)
    parser.add_argument("--branch-every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mix", choices=("simple", "realistic"), default="simple")
    args = parser.parse_args()
    ids = generate(args.out, args.revisions, args.branch_every, args.seed, mix=args.mix)
    print(f"wrote {len(ids)} revisions to {args.out}")


if __name__ == "__main__":
    main()
