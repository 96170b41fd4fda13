"""create authors and link books to them

Revision ID: 2b3c4d5e6f70
Revises: 1a2b3c4d5e6f
Create Date: 2026-11-05 10:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = "2b3c4d5e6f70"
down_revision = "1a2b3c4d5e6f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "authors",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
    )
    with op.batch_alter_table("books") as batch:
        batch.add_column(sa.Column("author_id", sa.Integer, nullable=True))
        batch.create_foreign_key("fk_books_author_id", "authors", ["author_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("books") as batch:
        batch.drop_constraint("fk_books_author_id", type_="foreignkey")
        batch.drop_column("author_id")
    op.drop_table("authors")
