"""A platform admin suspends a tenant (issue #11): its people and keys are refused by the API until
it is resumed; its data stays. Deleting a tenant needs nothing new in the schema.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

COMMENTS = {
    "suspended_at": "When a platform admin suspended the tenant (NULL: active); the API refuses its principals.",
    "suspended_reason": "Why it is suspended, as shown to its people.",
}


def upgrade() -> None:
    op.execute("ALTER TABLE tenants ADD COLUMN suspended_at timestamptz")
    op.execute("ALTER TABLE tenants ADD COLUMN suspended_reason text")
    for column, text in COMMENTS.items():
        quoted = text.replace("'", "''")
        op.execute(f"COMMENT ON COLUMN tenants.{column} IS '{quoted}'")


def downgrade() -> None:
    op.execute("ALTER TABLE tenants DROP COLUMN suspended_reason")
    op.execute("ALTER TABLE tenants DROP COLUMN suspended_at")
