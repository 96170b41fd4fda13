"""A hand-written migration suite: one head, the whole history up and down, and a
stairway (each revision upgraded, downgraded to its parent, upgraded again, oldest
first). The tests share one database and run in file order; each stairway step starts
where the previous one ended."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory

SCRIPT = ScriptDirectory.from_config(Config(os.environ["BENCH_ALEMBIC_INI"]))
OLDEST_FIRST: list[Script] = list(reversed(list(SCRIPT.walk_revisions("base", "heads"))))


def current_heads(engine: sa.Engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def test_single_head() -> None:
    assert len(SCRIPT.get_heads()) == 1, SCRIPT.get_heads()


def test_upgrade_head(alembic_cfg: Config, engine: sa.Engine) -> None:
    command.upgrade(alembic_cfg, "heads")
    assert current_heads(engine) == set(SCRIPT.get_heads())


def test_downgrade_base(alembic_cfg: Config, engine: sa.Engine) -> None:
    command.upgrade(alembic_cfg, "heads")
    command.downgrade(alembic_cfg, "base")
    assert current_heads(engine) == set()


@pytest.mark.parametrize("script", OLDEST_FIRST, ids=lambda s: s.revision)
def test_stairway(alembic_cfg: Config, engine: sa.Engine, script: Script) -> None:
    parents = script._all_down_revisions
    # A merge goes down to one of its parents: the other branch is unwound with it.
    parent = parents[0] if parents else "base"
    command.upgrade(alembic_cfg, script.revision)
    command.downgrade(alembic_cfg, parent)
    command.upgrade(alembic_cfg, script.revision)
    assert script.revision in current_heads(engine)
