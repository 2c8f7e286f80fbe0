"""`market_indexes.fitted_on`: what a stored county index was fitted on, so a stage that needs the
same fit reads it instead of reading the county's sales and fitting it again (issue 17).

`enrichment` fits the county's hedonic index on every recorded sale (the comps' trend) and
`features` fitted the same index again from its own read of the sales: at a million parcels that
read and fit were ≈2 s of `features`' critical path. Now the stage that fits it stores it, labelled
with the `sales` slice's version key (migration 0066) and the code's version, both read before
its sales read (market/stored.py `fit_label`); a stage that needs the index takes the stored one
when that label is the present one, else fits it and stores it so labelled.

NULL (rows stored before this migration, or a `sales` slice without a version key): never taken.

Revision ID: 0067
Revises: 0066
Create Date: 2026-12-07
"""

from alembic import op

revision = "0067"
down_revision = "0066"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE market_indexes ADD COLUMN fitted_on text")
    op.execute("COMMENT ON COLUMN market_indexes.fitted_on IS 'What the fit read: the county''s sales slice "
               "version key and the code''s version, read before the sales (market/stored.py fit_label); "
               "NULL: unknown, never taken as another stage''s fit.'")
    op.execute("COMMENT ON COLUMN market_indexes.fitted_at IS 'When the pipeline stored this fit (UTC): the "
               "API''s cached comps pools are rebuilt when it changes.'")
    op.execute("COMMENT ON TABLE market_indexes IS 'The hedonic index the pipeline fitted on each county''s "
               "sales (enrichment, or features when none was stored for the present sales), for features "
               "and the API''s market panel (migrations 0045, 0067).'")


def downgrade() -> None:
    op.execute("ALTER TABLE market_indexes DROP COLUMN fitted_on")
    op.execute("COMMENT ON COLUMN market_indexes.fitted_at IS 'When the features stage stored this fit (UTC): "
               "the API''s cached comps pools are rebuilt when it changes.'")
    op.execute("COMMENT ON TABLE market_indexes IS 'The hedonic index each county''s features stage fitted, "
               "for the API''s market panel (migration 0045).'")
