"""The bundled example is real: Alembic itself migrates it both ways, and it lints clean."""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from alembic_drill import load_history
from conftest import EXAMPLE


def tables(database: Path) -> dict[str, list[str]]:
    """Each table's columns, as SQLite has them."""
    engine = sa.create_engine(f"sqlite:///{database}", poolclass=sa.pool.NullPool)
    try:
        inspector = sa.inspect(engine)
        return {
            table: sorted(column["name"] for column in inspector.get_columns(table))
            for table in inspector.get_table_names()
        }
    finally:
        engine.dispose()


def test_example_migrates_up_and_down_with_alembic(tmp_path: Path) -> None:
    copy = tmp_path / "bookshop"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    config = Config(str(copy / "alembic.ini"))
    command.upgrade(config, "head")
    assert tables(copy / "bookshop.db") == {
        "alembic_version": ["version_num"],
        "authors": ["id", "name"],
        "books": ["author_id", "id", "price_cents", "title"],
        "stock": ["book_id", "quantity"],
    }
    command.downgrade(config, "base")
    assert tables(copy / "bookshop.db") == {"alembic_version": ["version_num"]}


def test_example_is_clean() -> None:
    history = load_history(EXAMPLE)
    assert history.ok and history.findings == []
    assert len(history) == 5 and history.heads == ["5e6f70819203"]
    assert history.upgrade_path("5e6f70819203")[0] == "1a2b3c4d5e6f"
    assert history.upgrade_path("head", start="2b3c4d5e6f70") == [
        "3c4d5e6f7081",
        "4d5e6f708192",
        "5e6f70819203",
    ]
