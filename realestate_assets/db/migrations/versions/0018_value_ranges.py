"""Every estimated value carries its 80% range: scores.estimated_value_low/high (issue #16).

The AVM's split-conformal interval (`ml/intervals.py`): calibrated on out-of-fold residuals of
models frozen at each fold's cut-off, by price band; `reos backtest` reports its measured
coverage on later sales. NULL for rows scored by a model trained before ranges existed.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

COLUMNS = {
    "estimated_value_low": "Lower end of the AVM's 80% range for estimated_value (split-conformal, by price band), "
                           "USD; NULL when the model that scored the row has no range.",
    "estimated_value_high": "Upper end of the AVM's 80% range for estimated_value (split-conformal, by price band), "
                            "USD; NULL when the model that scored the row has no range.",
}


def upgrade() -> None:
    for column, description in COLUMNS.items():
        op.execute(f"ALTER TABLE scores ADD COLUMN {column} double precision")
        op.execute(f"COMMENT ON COLUMN scores.{column} IS '{description.replace(chr(39), chr(39) * 2)}'")


def downgrade() -> None:
    for column in COLUMNS:
        op.execute(f"ALTER TABLE scores DROP COLUMN {column}")
