"""Outreach: packets, campaigns, email state machine and events (issue #6).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from alembic import op  # noqa: F401

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
