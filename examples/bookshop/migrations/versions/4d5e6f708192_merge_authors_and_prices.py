"""merge authors and prices

Revision ID: 4d5e6f708192
Revises: 2b3c4d5e6f70, 3c4d5e6f7081
Create Date: 2026-11-06 08:00:00
"""

revision = "4d5e6f708192"
down_revision = ("2b3c4d5e6f70", "3c4d5e6f7081")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
