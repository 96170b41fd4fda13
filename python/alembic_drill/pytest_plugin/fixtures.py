"""The plugin's fixtures. Each is small and overridable; the ``drill_`` prefix keeps them
clear of pytest-alembic's and others' installed beside it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from alembic_drill.pytest_plugin.session import DRILL_SESSION, DrillSession

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from alembic_drill.pytest_plugin.runner import MigrationRunner
    from alembic_drill.servers import Database, Server


def _session(config: pytest.Config) -> DrillSession:
    return config.stash[DRILL_SESSION]


@pytest.fixture(scope="session")
def drill_server(pytestconfig: pytest.Config) -> Server:
    """The session's database server (from --alembic-drill-database, the ini option,
    [tool.alembic-drill] database, or auto). Stopped at the end of the session."""
    return _session(pytestconfig).server


@pytest.fixture
def drill_db(drill_server: Server) -> Iterator[Database]:
    """A fresh, empty database for one test, dropped afterwards."""
    database = drill_server.create_database()
    yield database
    drill_server.drop_database(database)


@dataclass
class MigratedDatabase:
    """A database at a revision (head by default), cloned from a session template."""

    database: Database
    revision: str
    _engine: sa.Engine | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.database.url

    @property
    def engine(self) -> sa.Engine:
        """An engine on the database, disposed at teardown."""
        if self._engine is None:
            from sqlalchemy import create_engine, pool

            self._engine = create_engine(self.url, poolclass=pool.NullPool)
        return self._engine

    def session(self) -> Session:
        from sqlalchemy.orm import Session

        return Session(self.engine)

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


@pytest.fixture
def drill_migrated_db(
    request: pytest.FixtureRequest, drill_server: Server, pytestconfig: pytest.Config
) -> Iterator[MigratedDatabase]:
    """A database at head for one test (or at the revision of a
    ``@pytest.mark.drill_revision("<rev>")`` marker), cloned from a template migrated once
    per session: its cost does not grow with the number of revisions."""
    marker = request.node.get_closest_marker("drill_revision")
    revision = marker.args[0] if marker and marker.args else "heads"
    template = _session(pytestconfig).template(revision)
    migrated = MigratedDatabase(drill_server.clone_database(template), revision)
    yield migrated
    migrated.dispose()
    drill_server.drop_database(migrated.database)


@pytest.fixture
def drill_runner(drill_db: Database, pytestconfig: pytest.Config) -> Iterator[MigrationRunner]:
    """A migration runner bound to a fresh database: ``to()``, ``to_before()``, ``up()``,
    ``down()``, ``insert()``, ``rows()``, ``current``."""
    from alembic_drill.pytest_plugin.runner import MigrationRunner

    session = _session(pytestconfig)
    runner = MigrationRunner(drill_db, session.runner, session.history)
    yield runner
    runner.close()
    session.runner.release(drill_db.url)
