"""Emails record every property they list (issue #13, email pacing).

`emails.packet_ids` holds the packets an email lists: one for a single-property email, the whole
list of a digest or weekly summary. Planning reads it to know which properties a recipient was
already told about (so a paced property goes in one digest, once) and a digest's count, list and
rows are one and the same set. Older rows get their single `packet_id`.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-03
"""

from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE emails ADD COLUMN packet_ids bigint[] NOT NULL DEFAULT '{}'")
    op.execute("UPDATE emails SET packet_ids = ARRAY[packet_id] WHERE packet_id IS NOT NULL")
    op.execute("COMMENT ON COLUMN emails.packet_ids IS 'Packets the email lists (packets.id): the one property "
               "of a single email, every property of a digest or weekly summary; planning reads it to tell a "
               "recipient about each property once.'")


def downgrade() -> None:
    op.execute("ALTER TABLE emails DROP COLUMN packet_ids")
