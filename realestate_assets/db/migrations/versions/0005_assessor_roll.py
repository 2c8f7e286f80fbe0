"""The county assessor roll becomes its own table (issue #10): owner, mailing address and
assessed values per parcel, read from the county's `provides: assessor` sources by the
`assessor_roll` asset; enrichment reads it from here instead of fetching the roll itself.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ASSESSOR_ROLL = """
    id                     bigserial PRIMARY KEY,
    tenant_id              text NOT NULL DEFAULT 'default' REFERENCES tenants (id),
    county                 text NOT NULL,
    source                 text NOT NULL,
    parcel_id              text NOT NULL,
    owner_name             text,
    owner_mailing_address  text,
    assessed_value         double precision,
    market_value           double precision,
    tax_amount             double precision,
    tax_year               integer,
    source_ref             text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, county, source, parcel_id)
"""


def upgrade() -> None:
    op.execute(f"CREATE TABLE assessor_roll ({ASSESSOR_ROLL})")
    op.execute("CREATE TRIGGER assessor_roll_updated_at BEFORE UPDATE ON assessor_roll "
               "FOR EACH ROW EXECUTE FUNCTION set_updated_at()")


def downgrade() -> None:
    op.execute("DROP TABLE assessor_roll")
