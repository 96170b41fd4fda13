"""``drill_runner``: a migration runner bound to one fresh database, for tests of data
migrations written in a few lines:

    def test_backfill(drill_runner):
        drill_runner.to_before("c3d4e5f6a7b8")
        drill_runner.insert("users", [{"id": 1, "name": "Ada"}])
        drill_runner.up()
        assert drill_runner.rows("users")[0]["display_name"] == "Ada"
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic_drill._core import History
    from alembic_drill._steps import StepRunner
    from alembic_drill.servers import Database


class MigrationRunner:
    def __init__(self, database: Database, runner: StepRunner, history: History) -> None:
        self.database = database
        self._runner = runner
        self._history = history
        self._engine: sa.Engine | None = None

    @property
    def url(self) -> str:
        return self.database.url

    @property
    def engine(self) -> sa.Engine:
        """An engine on the database (created on first use, disposed at teardown)."""
        if self._engine is None:
            self._engine = sa.create_engine(
                self._runner.database_url(self.url), poolclass=sa.pool.NullPool
            )
        return self._engine

    @property
    def current(self) -> tuple[str, ...]:
        """The revisions the database is at (empty at base)."""
        return self._runner.current(self.url)

    def to(self, target: str) -> None:
        """Upgrades or downgrades to ``target``: a revision id or prefix, a branch label,
        ``heads`` or ``base``."""
        if target in ("base",):
            self._runner.migrate(self.url, "downgrade", "base")
            return
        if target in ("head", "heads"):
            self._runner.migrate(self.url, "upgrade", target)
            return
        revision = self._history.get(target).id
        current = set(self.current)
        if revision in current:
            return
        applied = set()
        for head in current:
            applied.update(self._history.upgrade_path(head))
        if revision in applied:
            self._runner.migrate(self.url, "downgrade", revision)
        else:
            self._runner.migrate(self.url, "upgrade", revision)

    def to_before(self, target: str) -> None:
        """Moves to the parents of ``target``, so that the next :meth:`up` applies it."""
        revision = self._history.get(target)
        if not revision.parents:
            self.to("base")
        elif len(revision.parents) == 1:
            self.to(revision.parents[0])
        else:
            for parent in revision.parents:
                self._runner.migrate(self.url, "upgrade", parent)

    def up(self, steps: int = 1) -> None:
        self._runner.migrate(self.url, "upgrade", f"+{steps}")

    def down(self, steps: int = 1) -> None:
        self._runner.migrate(self.url, "downgrade", f"-{steps}")

    def insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Inserts rows into a table as it is at the current revision."""
        reflected = sa.Table(table, sa.MetaData(), autoload_with=self.engine)
        with self.engine.begin() as conn:
            conn.execute(reflected.insert(), rows)

    def rows(self, table: str, order_by: str | None = None) -> list[dict[str, Any]]:
        """All rows of a table, as dicts (ordered by ``order_by``, else the primary key)."""
        reflected = sa.Table(table, sa.MetaData(), autoload_with=self.engine)
        query = sa.select(reflected)
        keys = [reflected.c[order_by]] if order_by else list(reflected.primary_key.columns)
        if keys:
            query = query.order_by(*keys)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
