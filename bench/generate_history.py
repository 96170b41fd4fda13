"""Writes a synthetic Alembic project with a long revision history, for benchmarks.

Deterministic from a seed: a mostly linear history of table/column/index revisions with a
branch and its merge every ``--branch-every`` revisions, as a long-lived project has.

    python bench/generate_history.py OUT_DIR --revisions 10000
"""

from __future__ import annotations

import argparse
import random
import textwrap
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


def generate(out: Path, revisions: int, branch_every: int, seed: int) -> list[str]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--revisions", type=int, default=10_000)
    parser.add_argument("--branch-every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    ids = generate(args.out, args.revisions, args.branch_every, args.seed)
    print(f"wrote {len(ids)} revisions to {args.out}")


if __name__ == "__main__":
    main()
