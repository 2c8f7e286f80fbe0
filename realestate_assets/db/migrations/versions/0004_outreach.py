"""Outreach: packets, campaigns, email state machine and events (issue #6).

* packets gain where a reader fetches them (`url`, pre-signed or API-signed, with
  `url_expires_at`), the content type and the portfolio documents (prospect_key '_portfolio').
* emails become an outbox-pattern state machine (pending → sending → sent / failed / bounced,
  or suppressed when an opt-out lands between claim and send) keyed by (campaign, send_key, recipient):
  `send_key` names the packet (`packet:<id>`) or the digest (`daily_digest:king_wa:2026-11-29`),
  so digests without a packet are keyed too. The A/B subject variant, the attempts and the
  provider's delivery facts are recorded per email.
* email_events gain the provider and the email's campaign; suppressions keep their source.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PACKETS = {
    "content_type": "text NOT NULL DEFAULT 'application/pdf'",
    "url": "text",
    "url_expires_at": "timestamptz",
    "page_count": "integer",
}

EMAILS = {
    "send_key": "text",
    "template": "text",
    "variant": "text",
    "recipient_name": "text",
    "attempts": "integer NOT NULL DEFAULT 0",
    "last_attempt_at": "timestamptz",
    "delivered_at": "timestamptz",
    "opened_at": "timestamptz",
    "clicked_at": "timestamptz",
    "bounced_at": "timestamptz",
    "unsubscribed_at": "timestamptz",
    "retryable": "boolean NOT NULL DEFAULT true",
}
STATUSES = "'pending', 'sending', 'sent', 'failed', 'bounced', 'suppressed'"


def upgrade() -> None:
    for column, kind in PACKETS.items():
        op.execute(f"ALTER TABLE packets ADD COLUMN {column} {kind}")
    for column, kind in EMAILS.items():
        op.execute(f"ALTER TABLE emails ADD COLUMN {column} {kind}")
    op.execute("UPDATE emails SET send_key = 'packet:' || packet_id WHERE send_key IS NULL")
    op.execute("ALTER TABLE emails ALTER COLUMN send_key SET NOT NULL")
    op.execute("ALTER TABLE emails ALTER COLUMN packet_id DROP NOT NULL")
    op.execute("ALTER TABLE emails DROP CONSTRAINT emails_tenant_id_campaign_packet_id_recipient_email_key")
    op.execute("ALTER TABLE emails ADD CONSTRAINT emails_once UNIQUE (tenant_id, campaign, send_key, recipient_email)")
    # `suppressed`: claimed, then the address opted out before the send (kept as a record).
    op.execute("ALTER TABLE emails DROP CONSTRAINT emails_status_check")
    op.execute(f"ALTER TABLE emails ADD CONSTRAINT emails_status_check CHECK (status IN ({STATUSES}))")
    op.execute("CREATE INDEX ix_emails_campaign ON emails (tenant_id, county, campaign, status)")
    op.execute("ALTER TABLE email_events ADD COLUMN provider text NOT NULL DEFAULT 'sendgrid'")
    op.execute("ALTER TABLE email_events ADD COLUMN campaign text")
    op.execute("ALTER TABLE email_events ADD COLUMN county text")
    op.execute("CREATE INDEX ix_email_events_id ON email_events (tenant_id, id)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_email_events_id")
    for column in ("county", "campaign", "provider"):
        op.execute(f"ALTER TABLE email_events DROP COLUMN {column}")
    op.execute("DROP INDEX ix_emails_campaign")
    op.execute("DELETE FROM emails WHERE status = 'suppressed'")
    op.execute("ALTER TABLE emails DROP CONSTRAINT emails_status_check")
    op.execute("ALTER TABLE emails ADD CONSTRAINT emails_status_check "
               "CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'bounced'))")
    op.execute("ALTER TABLE emails DROP CONSTRAINT emails_once")
    op.execute("DELETE FROM emails WHERE packet_id IS NULL")
    op.execute("ALTER TABLE emails ALTER COLUMN packet_id SET NOT NULL")
    op.execute("ALTER TABLE emails ADD CONSTRAINT emails_tenant_id_campaign_packet_id_recipient_email_key "
               "UNIQUE (tenant_id, campaign, packet_id, recipient_email)")
    for column in EMAILS:
        op.execute(f"ALTER TABLE emails DROP COLUMN {column}")
    for column in PACKETS:
        op.execute(f"ALTER TABLE packets DROP COLUMN {column}")
