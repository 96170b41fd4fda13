"""pytest-alembic, configured the documented way: its built-in tests bind to
tests/conftest.py, and the two fixtures point them at the history and the bench database
(``pytest --test-alembic`` runs test_single_head_revision, test_upgrade,
test_model_definitions_match_ddl and test_up_down_consistency)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa


@pytest.fixture
def alembic_config() -> dict[str, str]:
    return {"file": os.environ["BENCH_ALEMBIC_INI"]}


@pytest.fixture
def alembic_engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine(os.environ["BENCH_DATABASE_URL"], poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()
