"""Secret fingerprints (issue #14 item 6): the API and the pipeline runs record and compare an
HMAC fingerprint of each shared secret, so a disagreement is a start-up error, not a failed
unsubscribe click (realestate_assets/db/fingerprints.py).

Installation-wide, not per tenant: the secrets are the installation's. Only the owner (the
pipeline and the API's start-up check) touches it; the API's request role gets no grant.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COMMENTS = {
    "name": "Which secret: unsubscribe (REOS_UNSUBSCRIBE_SECRET), link (REOS_LINK_SECRET), jwt (REOS_JWT_SECRET).",
    "fingerprint": "HMAC-SHA256 of a fixed label keyed by the secret (first 32 hex digits); never the secret.",
    "recorded_by": "Who recorded it first: 'api' or 'run <run id>'.",
    "recorded_at": "When it was recorded (UTC).",
}


def upgrade() -> None:
    op.execute("""
        CREATE TABLE secret_fingerprints (
            name         text PRIMARY KEY,
            fingerprint  text NOT NULL,
            recorded_by  text NOT NULL,
            recorded_at  timestamptz NOT NULL DEFAULT now()
        )
    """)
    op.execute("COMMENT ON TABLE secret_fingerprints IS 'One fingerprint per shared secret; the API and runs "
               "compare theirs with it at start-up.'")
    for column, text in COMMENTS.items():
        quoted = text.replace("'", "''")
        op.execute(f"COMMENT ON COLUMN secret_fingerprints.{column} IS '{quoted}'")


def downgrade() -> None:
    op.execute("DROP TABLE secret_fingerprints")
