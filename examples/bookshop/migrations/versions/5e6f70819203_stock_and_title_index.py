"""stock levels and a title index

Revision ID: 5e6f70819203
Revises: 4d5e6f708192
Create Date: 2026-11-10 14:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "5e6f70819203"
down_revision = "4d5e6f708192"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stock",
        sa.Column("book_id", sa.Integer, sa.ForeignKey("books.id"), primary_key=True),
        sa.Column("quantity", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_books_title", "books", ["title"])


def downgrade() -> None:
    op.drop_index("ix_books_title", table_name="books")
    op.drop_table("stock")
