"""A memo request remembers which documents were asked for.

`GET /properties/{id}/memo?template=detailed_analysis` recorded a request, but `packet_requests`
had no template: the `packets` run rendered the configured templates (campaigns.yaml
`packets.templates`) for the property, and a template outside them was never made — the route
answered 202 for ever. `templates` holds the documents asked for beyond the configured ones (every
request gets those); the run renders both (config_models.PacketSettings.for_request).

Revision ID: 0049
Revises: 0048
Create Date: 2026-12-04
"""

from alembic import op

revision = "0049"
down_revision = "0048"
branch_labels = None
depends_on = None

COMMENT = ("Documents asked for beyond campaigns.yaml packets.templates, which every request gets (e.g. "
           "detailed_analysis); merged while the request is open, replaced when asked again after rendering.")


def upgrade() -> None:
    op.execute("ALTER TABLE packet_requests ADD COLUMN templates text[] NOT NULL DEFAULT '{}'")
    op.execute(f"COMMENT ON COLUMN packet_requests.templates IS '{COMMENT}'")


def downgrade() -> None:
    op.execute("ALTER TABLE packet_requests DROP COLUMN templates")
