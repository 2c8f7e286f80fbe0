"""campaigns.last_send_idempotency_key goes: Idempotency-Key is kept for every write in one place
(`idempotency_keys`, migration 0031; api/v1/idempotency.py), so the send's own copy was written and
never read.

Revision ID: 0032
Revises: 0028
Create Date: 2026-12-03
"""

from alembic import op

revision = "0032"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE campaigns DROP COLUMN last_send_idempotency_key")


def downgrade() -> None:
    op.execute("ALTER TABLE campaigns ADD COLUMN last_send_idempotency_key text")
    op.execute("COMMENT ON COLUMN campaigns.last_send_idempotency_key IS "
               "'Idempotency-Key of that send: the same key again launches nothing.'")
