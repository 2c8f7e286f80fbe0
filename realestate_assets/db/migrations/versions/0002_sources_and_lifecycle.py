"""Listings, and columns for outside enrichment sources and listing discovery.

A `listings` table holds what listing sources said (one row per source listing); enrichment
gains what ATTOM, the Census ACS and the owner signals provide (NULL until a configured source
fills them, with provenance per field) and a per-source status; prospects gain listing facts;
prospect_sources records which rule matched a record to its prospect.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ENRICHMENT = {
    "attom_id": "text",
    "owner_names": "jsonb",
    "owner_mailing_address": "text",
    "assessed_value": "double precision",
    "market_value": "double precision",
    "tax_amount": "double precision",
    "tax_year": "integer",
    "avm_value": "double precision",
    "avm_low": "double precision",
    "avm_high": "double precision",
    "avm_confidence_score": "double precision",
    "avm_fsd": "double precision",
    "avm_date": "date",
    "tract_geoid": "text",
    "tract_name": "text",
    "tract_population": "double precision",
    "tract_median_household_income": "double precision",
    "tract_median_home_value": "double precision",
    "tract_median_gross_rent": "double precision",
    "tract_housing_units": "double precision",
    "tract_vacant_units": "double precision",
    "tract_occupied_units": "double precision",
    "tract_owner_occupied_units": "double precision",
    "tract_renter_occupied_units": "double precision",
    "tract_vacancy_rate": "double precision",
    "tract_owner_occupied_share": "double precision",
    "tract_renter_occupied_share": "double precision",
    "rent_estimate_monthly": "double precision",
    "absentee_owner": "boolean",
    "out_of_state_owner": "boolean",
    "years_owned": "double precision",
    "corporate_owner": "boolean",
    "trust_owner": "boolean",
    "government_owner": "boolean",
    "assessed_to_market_ratio": "double precision",
    "source_status": "jsonb NOT NULL DEFAULT '{}'",
}

PROSPECTS = {
    "unit": "text",
    "address_key": "text",
    "property_type": "text",
    "beds": "double precision",
    "baths": "double precision",
    "living_sqft": "double precision",
    "lot_sqft": "double precision",
    "year_built": "integer",
    "list_price": "double precision",
    "listing_status": "text",
    "list_date": "date",
    "listing_url": "text",
    "description": "text",
    "photos": "jsonb",
    "owner_name": "text",
    "owner_mailing_address": "text",
}


LISTINGS = """
    id                     bigserial PRIMARY KEY,
    tenant_id              text NOT NULL DEFAULT 'default' REFERENCES tenants (id),
    county                 text NOT NULL,
    source                 text NOT NULL,
    source_id              text NOT NULL,
    listing_url            text,
    address                text NOT NULL,
    unit                   text,
    city                   text,
    state                  text,
    zip                    text,
    latitude               double precision,
    longitude              double precision,
    list_price             double precision,
    beds                   double precision,
    baths                  double precision,
    living_sqft            double precision,
    lot_sqft               double precision,
    year_built             integer,
    property_type          text,
    listing_status         text,
    list_date              date,
    description            text,
    photos                 jsonb,
    owner_name             text,
    owner_mailing_address  text,
    source_ref             text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, county, source, source_id)
"""


def upgrade() -> None:
    op.execute(f"CREATE TABLE listings ({LISTINGS})")
    op.execute("CREATE TRIGGER listings_updated_at BEFORE UPDATE ON listings "
               "FOR EACH ROW EXECUTE FUNCTION set_updated_at()")
    for column, kind in ENRICHMENT.items():
        op.execute(f"ALTER TABLE enrichment ADD COLUMN {column} {kind}")
    for column, kind in PROSPECTS.items():
        op.execute(f"ALTER TABLE prospects ADD COLUMN {column} {kind}")
    op.execute("ALTER TABLE prospect_sources ADD COLUMN matched_on text")
    op.execute("CREATE INDEX ix_prospects_address_key ON prospects (tenant_id, county, address_key)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_prospects_address_key")
    op.execute("ALTER TABLE prospect_sources DROP COLUMN matched_on")
    for column in PROSPECTS:
        op.execute(f"ALTER TABLE prospects DROP COLUMN {column}")
    for column in ENRICHMENT:
        op.execute(f"ALTER TABLE enrichment DROP COLUMN {column}")
    op.execute("DROP TABLE listings")
