"""Column comments: every column of every table says what it holds (issue #15).

`COMMENT ON COLUMN` is the one place a column's meaning is written; the table assets' column
schemas read it back (realestate_assets/db/catalog.py::column_descriptions, kept by
realestate_assets/db/column_schemas.py as the definitions' metadata), and `\\d+ table` in psql
shows it. A later migration that adds a column adds its comment too
(tests/test_column_comments.py fails otherwise).

Only columns that exist are commented, so a column renamed by a parallel migration fails the test,
not the upgrade.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from alembic import op
from sqlalchemy import text

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Columns many tables share; a table's own entry below wins.
COMMON = {
    "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
    "tenant_id": "Tenant that owns the row (tenants.id); 'default' for public county data.",
    "county": "County partition key (config/counties/<county>.yaml stem, e.g. king_wa).",
    "created_at": "When the row was first written (UTC, set by the database).",
    "updated_at": "When any value of the row last changed (UTC, kept by a trigger).",
    "prospect_key": "Stable id of the property within its county (prospects.prospect_key).",
    "source": "Name of the configured source the row came from (a county file's sources[].name).",
    "source_ref": "Where in the source the row was read (file and line, API page, or URL).",
    "as_of_date": "Date the values are known at; nothing after it is used (no look-ahead).",
    "use_type": "Property use as the county codes it (e.g. residential, condo).",
    "neighborhood": "County assessor's neighborhood or area code.",
    "latitude": "Latitude, WGS84 degrees.",
    "longitude": "Longitude, WGS84 degrees.",
    "living_sqft": "Finished living area, square feet.",
    "lot_sqft": "Lot area, square feet.",
    "beds": "Number of bedrooms.",
    "baths": "Number of bathrooms (half baths count 0.5).",
    "bldg_grade": "County building quality grade (higher is better; scale per county).",
    "year_built": "Year the building was built.",
    "address": "Street address as published by the source (normalized for matching elsewhere).",
    "unit": "Unit or apartment number, if any.",
    "city": "City of the property (as published by the source).",
    "state": "Two-letter US state code.",
    "zip": "ZIP code of the property.",
    "list_price": "Current asking price on the listing, USD.",
    "listing_status": "Listing status on the site (e.g. active, pending, sold).",
    "list_date": "Date the property was listed.",
    "listing_url": "URL of the listing page.",
    "description": "Listing description text.",
    "photos": "Photo URLs of the listing (JSON array).",
    "owner_name": "Owner name as published by the source.",
    "owner_mailing_address": "Owner's mailing address (differs from the property for absentee owners).",
    "run_id": "Dagster run id that wrote the row.",
    "error": "Error message of the last failure (NULL when none).",
    "recipient_email": "Recipient's email address (lower case).",
    "campaign": "Campaign type (new_opportunity, daily_digest, weekly_summary, custom_alert).",
    "provider": "Email provider that handled the message (outbox or sendgrid).",
    "bird_dog_score": "Deal score 0-100: deal 40% / sale propensity 25% / equity 25% / confidence 10% "
                      "county percentiles.",
    "template": "Document or email template name.",
    "comps_count": "Number of comparable sales used (same county, radius and time window).",
    "comps_median_price_per_sqft": "Median sale price per living square foot of the comparables, USD.",
    "comps_value_spread_pct": "Spread of the comparables' implied values, percent of the median.",
    "market_trend_12m_pct": "County market index change over the last 12 months, percent.",
    "last_sale_price": "Price of the property's most recent recorded sale, USD.",
    "sale_count": "Number of recorded sales of the property.",
    "assessed_to_market_ratio": "Assessed value divided by market value (assessor figures).",
    "absentee_owner": "Owner's mailing address is not the property (1/true) or is (0/false).",
    "out_of_state_owner": "Owner's mailing address is in another state.",
    "corporate_owner": "Owner name is a company (LLC, Inc, Corp...).",
    "years_owned": "Years since the current owner's purchase.",
    "tract_median_household_income": "Census tract median household income, USD (ACS 5-year B19013).",
    "tract_vacancy_rate": "Census tract share of housing units vacant (ACS 5-year B25002).",
    "tract_median_home_value": "Census tract median home value, USD (ACS 5-year B25077).",
    "status": "Lifecycle state of the row (allowed values in the table's CHECK constraint).",
}

TABLES: dict[str, dict[str, str]] = {
    "alembic_version": {"version_num": "Alembic revision the schema is at (see `reos db upgrade`)."},
    "tenants": {
        "id": "Tenant id (text key referenced by every tenant_id).",
        "name": "Tenant display name.",
    },
    "users": {
        "email": "Login email address (lower case, unique per tenant).",
        "password_hash": "Argon2 hash of the password; never the password itself.",
        "role": "Role: admin, analyst or investor.",
        "is_active": "False blocks login without deleting the user.",
    },
    "audit_log": {
        "actor": "Who did it (user email, API key prefix or 'system').",
        "action": "What was done (e.g. create, update, delete, send).",
        "entity": "Kind of object acted on (table or resource name).",
        "entity_key": "Key of the object acted on.",
        "details": "Action details (JSON), never secrets.",
    },
    "sales": {
        "sale_id": "Sale id in the source (unique per county and source).",
        "parcel_id": "County parcel number, normalized (punctuation stripped).",
        "sale_price": "Recorded sale price, USD (> 0).",
        "sale_date": "Date the sale was recorded.",
        "waterfront": "Property is on the water (county flag).",
        "age_at_sale": "Building age in years at the sale date.",
        "eff_age_at_sale": "Effective age in years at the sale date (after renovations).",
    },
    "assessor_roll": {
        "parcel_id": "County parcel number as the assessor roll gives it.",
        "owner_name": "Owner of record on the assessor roll.",
        "owner_mailing_address": "Where the assessor mails the tax bill (differs from the site for absentee owners).",
        "assessed_value": "Assessed value, USD, as the roll states it.",
        "market_value": "Assessor's market value, USD.",
        "tax_amount": "Annual property tax, USD, as the roll states it.",
        "tax_year": "Tax year the assessed values and tax amount belong to.",
    },
    "listings": {
        "source_id": "Listing id on the site (unique per county and source).",
        "property_type": "Property type on the listing (house, condo, townhouse...).",
    },
    "rejects": {
        "asset": "Asset that rejected the record (e.g. sales, listings).",
        "raw_payload": "The record as received (JSON), for replay after a fix.",
        "reason": "Why the record was rejected (validation message).",
    },
    "prospects": {
        "parcel_id": "County parcel number, normalized (NULL when only a listing knows the property).",
        "status": "Lifecycle: new, enriched, scored, packeted, emailed.",
        "sources": "Sources that know this property (JSON array of source names).",
        "first_seen_at": "When discovery first saw the property.",
        "last_seen_at": "When discovery last saw the property in any source.",
        "address_key": "Normalized address (usaddress) used to match records across sources.",
        "property_type": "Property type from the listing, when listed.",
    },
    "prospect_sources": {
        "source_id": "Record id in the source (sale_id, listing id, parcel number).",
        "matched_on": "How the record was linked to the prospect: parcel_id, address, coordinates or none.",
    },
    "enrichment": {
        "status": "enriched, or failed (see failure_reason).",
        "failure_reason": "Why enrichment failed for this property (NULL when enriched).",
        "effective_year_built": "Year built adjusted for major renovations.",
        "waterfront": "Property is on the water (county flag).",
        "last_sale_date": "Date of the most recent recorded sale.",
        "prior_sale_price": "Price of the sale before the most recent one, USD.",
        "prior_sale_date": "Date of the sale before the most recent one.",
        "comps_estimated_value": "Value implied by comparable sales (median price/sqft x living area), USD.",
        "provenance": "Per field: which source filled it and when (JSON); NULL fields say why.",
        "attom_id": "ATTOM property id (when ATTOM is configured and matched).",
        "owner_names": "Owner names from the assessor or ATTOM (JSON array).",
        "assessed_value": "Assessed value for tax purposes, USD.",
        "market_value": "Assessor's market value, USD.",
        "tax_amount": "Annual property tax, USD.",
        "tax_year": "Tax year of assessed_value and tax_amount.",
        "avm_value": "ATTOM automated valuation, USD.",
        "avm_low": "Low end of ATTOM's valuation range, USD.",
        "avm_high": "High end of ATTOM's valuation range, USD.",
        "avm_confidence_score": "ATTOM's confidence score for its valuation (0-100).",
        "avm_fsd": "ATTOM forecast standard deviation of the valuation (fraction).",
        "avm_date": "Date of ATTOM's valuation.",
        "tract_geoid": "Census tract GEOID (state + county + tract FIPS).",
        "tract_name": "Census tract name.",
        "tract_population": "Census tract population (ACS 5-year B01003).",
        "tract_median_gross_rent": "Census tract median gross rent, USD per month (ACS B25064).",
        "tract_housing_units": "Census tract housing units (ACS B25002).",
        "tract_vacant_units": "Census tract vacant housing units (ACS B25002).",
        "tract_occupied_units": "Census tract occupied housing units (ACS B25003).",
        "tract_owner_occupied_units": "Census tract owner-occupied housing units (ACS B25003).",
        "tract_renter_occupied_units": "Census tract renter-occupied housing units (ACS B25003).",
        "tract_owner_occupied_share": "Share of occupied units that are owner-occupied.",
        "tract_renter_occupied_share": "Share of occupied units that are renter-occupied.",
        "rent_estimate_monthly": "Estimated monthly rent, USD (tract median gross rent scaled by size).",
        "trust_owner": "Owner name is a trust.",
        "government_owner": "Owner is a government body.",
        "source_status": "Per outside source: answered, not configured, no match or error (JSON).",
    },
    "source_calls": {
        "endpoint": "API endpoint called (no credentials).",
        "status_code": "HTTP status code of the answer (NULL when no answer).",
        "latency_ms": "Round-trip time, milliseconds.",
        "cache_hit": "Answered from the HTTP cache without calling the provider.",
        "cost_usd": "Estimated cost of the call, USD (paid APIs).",
        "called_at": "When the call was made (UTC).",
    },
    "features": {
        "age_years": "Building age in years at as_of_date.",
        "eff_age_years": "Effective building age in years at as_of_date.",
        "lot_to_building_ratio": "Lot area divided by living area.",
        "baths_per_bed": "Bathrooms per bedroom.",
        "waterfront": "Waterfront flag as a number (1 waterfront, 0 not).",
        "last_sale_price_per_sqft": "Last sale price per living square foot, USD.",
        "last_sale_price_indexed": "Last sale price moved to as_of_date along the county market index, USD.",
        "years_since_last_sale": "Years between the last sale and as_of_date.",
        "last_price_to_comps_value": "Indexed last sale price divided by the comparables' value.",
        "tax_burden_pct": "Annual tax as a percent of market value.",
        "gross_yield_pct": "Annual estimated rent as a percent of estimated value.",
        "cap_rate_est_pct": "Estimated cap rate: gross_yield_pct less a fixed expense ratio, percent.",
        "days_on_market": "Days since list_date at as_of_date (listed properties).",
        "list_price_to_comps_value": "Asking price divided by the comparables' value.",
    },
    "ml_models": {
        "model_name": "Model: avm, deal or propensity.",
        "version": "Model version (training date and hash), referenced by scores.",
        "kind": "Algorithm and target (e.g. lightgbm regression on log price).",
        "metrics": "Hold-out metrics (JSON): IAAO ratio study (COD, PRD, PRB), MAE, AUC, baselines.",
        "hyperparameters": "Hyperparameters used (JSON, Optuna's best trial).",
        "feature_names": "Feature columns the model reads, in order (JSON array).",
        "training_start": "First sale date in the training data.",
        "training_end": "Last sale date in the training data.",
        "holdout_start": "First sale date of the time-ordered hold-out.",
        "artifact_path": "Object-store key of the serialized model.",
        "artifact_sha256": "SHA-256 of the artifact, checked before every use.",
        "is_active": "True for the one model per county and name that scores use.",
        "status": "active, challenger_rejected or retired.",
        "promotion": "Why this model was or was not activated: challenger vs active on the same hold-out (JSON).",
        "training_rows": "Number of sales the model was trained on.",
    },
    "scores": {
        "estimated_value": "AVM estimate of the property's value at as_of_date, USD.",
        "value_gap_pct": "(estimated value - price) / estimated value, percent; positive = under-priced.",
        "score_rank": "Rank of bird_dog_score within the county (1 = best).",
        "score_components": "The four county percentiles behind bird_dog_score and their weights (JSON).",
        "score_breakdown": "Reasons where read: SHAP contributions and value factors (JSON).",
        "model_version": "Version of the AVM that produced estimated_value.",
        "deal_probability": "Deal classifier's probability that a resale beats the market (0-1).",
        "sale_probability_12m": "Probability that the property sells within 12 months (0-1).",
        "model_versions": "Version of every model that produced the row (JSON: avm, deal, propensity).",
    },
    "packets": {
        "template": "Document: investor memo, executive summary or county portfolio.",
        "template_version": "Version of the template that rendered the PDF.",
        "inputs_hash": "Hash of the inputs; an unchanged hash means no re-render.",
        "object_path": "Object-store key of the PDF (tenants/<id>/packets/<county>/...).",
        "sha256": "SHA-256 of the PDF, checked by the packet_files_match_checksums check.",
        "size_bytes": "PDF size, bytes.",
        "bird_dog_score": "Score of the property when the packet was made.",
        "generated_at": "When the PDF was rendered.",
        "content_type": "MIME type of the document (application/pdf).",
        "url": "Link a reader opens (pre-signed or API-signed), valid until url_expires_at.",
        "url_expires_at": "When url stops working (24 h after issue).",
        "page_count": "Number of pages in the PDF.",
    },
    "emails": {
        "packet_id": "Packet the email carries (packets.id); NULL for digests.",
        "subject": "Subject line as sent (after personalization and A/B variant).",
        "status": "Outbox state: pending, sending, sent, failed, bounced or suppressed.",
        "provider_message_id": "Provider's message id (SendGrid X-Message-Id, or the outbox Message-ID).",
        "outbox_path": "Path of the .eml file when the outbox mailer sent it.",
        "sent_at": "When the provider accepted the message.",
        "send_key": "What is sent: packet:<id> or <campaign>:<county>:<date>; unique with campaign and recipient.",
        "template": "Email template name.",
        "variant": "A/B subject-line variant sent.",
        "recipient_name": "Recipient's name.",
        "attempts": "Send attempts so far.",
        "last_attempt_at": "When the last send attempt started.",
        "delivered_at": "When the provider reported delivery.",
        "opened_at": "First open reported by the provider.",
        "clicked_at": "First click reported by the provider.",
        "bounced_at": "When the provider reported a bounce.",
        "unsubscribed_at": "When the recipient unsubscribed from this email.",
        "retryable": "False when the failure must not be retried (e.g. invalid address).",
    },
    "email_events": {
        "email_id": "Email the event is about (emails.id, from our custom_args).",
        "sg_event_id": "Provider's event id; duplicates are dropped on it.",
        "event": "Event type (processed, delivered, open, click, bounce, unsubscribe...).",
        "occurred_at": "When the event happened at the provider.",
        "payload": "The event as received (JSON).",
        "county": "County of the email's campaign.",
    },
    "suppressions": {
        "email": "Suppressed address (lower case): never emailed again.",
        "reason": "Why: unsubscribe, bounce, spamreport, manual.",
        "source": "Where the suppression came from (provider webhook, one-click unsubscribe, operator).",
    },
}


def _describe(table: str, column: str) -> str | None:
    return TABLES.get(table, {}).get(column) or COMMON.get(column)


def _existing_columns() -> list[tuple[str, str]]:
    rows = op.get_bind().execute(text(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_schema, table_name) "
        "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' "
        "ORDER BY c.table_name, c.ordinal_position"))
    return [(r[0], r[1]) for r in rows]


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def upgrade() -> None:
    for table, column in _existing_columns():
        description = _describe(table, column)
        if description:
            op.execute(f'COMMENT ON COLUMN "{table}"."{column}" IS {_quote(description)}')


def downgrade() -> None:
    for table, column in _existing_columns():
        if _describe(table, column):
            op.execute(f'COMMENT ON COLUMN "{table}"."{column}" IS NULL')
