"""How a sale was made, where the county file says so: instrument, reason, warnings (issue #13).

A last sale made by quit-claim deed, between related parties or for a partial interest is not a
market sale: `ml/scoring.py::suspect_sale` keeps it out of the equity component and the value gap.
Counties whose sales file carries these columns map them (`sale_instrument`, `sale_reason`,
`sale_warnings` in config/counties/*.yaml); the others leave them NULL.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COLUMNS = {
    "sale_instrument": "How the sale was conveyed, as the county file states it (e.g. statutory warranty deed, "
                       "quit claim deed); NULL when the source has no such column.",
    "sale_reason": "Reason for the sale as the county file states it (e.g. related party, estate settlement); "
                   "NULL when the source has no such column.",
    "sale_warnings": "The county's warnings on the sale (e.g. partial interest, no market exposure), as text; "
                     "NULL when the source has no such column.",
}


def upgrade() -> None:
    for column, description in COLUMNS.items():
        op.execute(f"ALTER TABLE sales ADD COLUMN {column} text")
        op.execute(f"COMMENT ON COLUMN sales.{column} IS '{description.replace(chr(39), chr(39) * 2)}'")


def downgrade() -> None:
    for column in COLUMNS:
        op.execute(f"ALTER TABLE sales DROP COLUMN {column}")
