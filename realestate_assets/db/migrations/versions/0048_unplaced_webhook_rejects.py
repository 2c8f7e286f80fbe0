"""A SendGrid event that names no email of ours and no existing tenant is a reject with no tenant.

Before, such an event was filed under the `default` tenant (its event row, a suppression of the
address, its reject). Now nothing is written in any tenant's name: the webhook records it in
`rejects` with tenant_id NULL and the reason (realestate_assets/outreach/events.py UNPLACED). Row-level
security admitted only the scoped tenant's rejects for the API role; this policy admits exactly
that one more kind of row — a webhook event's reject, with no tenant, while no tenant is in scope.

Revision ID: 0048
Revises: 0047
Create Date: 2026-12-04
"""

from alembic import op

revision = "0048"
down_revision = "0047"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
# events.REJECT_ASSET / REJECT_SOURCE as of this migration (a migration does not import code that may change).
REJECT_ASSET, REJECT_SOURCE = "email_events", "sendgrid_webhook"


def upgrade() -> None:
    op.execute(f"CREATE POLICY unplaced_webhook_insert ON rejects FOR INSERT TO {API_ROLE} WITH CHECK "
               f"(tenant_id IS NULL AND asset = '{REJECT_ASSET}' AND source = '{REJECT_SOURCE}' "
               f"AND coalesce(current_setting('app.tenant_id', true), '') = '')")


def downgrade() -> None:
    op.execute("DROP POLICY unplaced_webhook_insert ON rejects")
