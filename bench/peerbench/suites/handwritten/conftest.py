"""Fixtures of a hand-written migration suite, as a team writes one without a plugin: an
Alembic config pointed at the test database, and an engine on it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.config import Config


@pytest.fixture(scope="session")
def database_url() -> str:
    return os.environ["BENCH_DATABASE_URL"]


@pytest.fixture(scope="session")
def alembic_cfg(database_url: str) -> Config:
    config = Config(os.environ["BENCH_ALEMBIC_INI"])
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()
