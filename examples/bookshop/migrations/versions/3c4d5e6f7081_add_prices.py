"""add prices to books

Revision ID: 3c4d5e6f7081
Revises: 1a2b3c4d5e6f
Create Date: 2026-11-05 11:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "3c4d5e6f7081"
down_revision = "1a2b3c4d5e6f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A server default, so existing rows get a value and NOT NULL holds on a full table.
    with op.batch_alter_table("books") as batch:
        batch.add_column(
            sa.Column("price_cents", sa.Integer, nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("books") as batch:
        batch.drop_column("price_cents")
