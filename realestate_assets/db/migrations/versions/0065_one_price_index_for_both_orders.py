"""`ix_prospects_county_price_desc` is gone: the list's `-list_price` reads the ascending price
index backward (issue 17, docs/scale.md "Thirty-second round (e)").

The two price indexes, `(county, list_price, id)` (migration 0030) and `(county, list_price NULLS
FIRST, id NULLS FIRST)` (0056's spelling of 0030's descending one), differ only in where NULL
prices sit: read backward, the first yields `list_price DESC NULLS FIRST, id DESC NULLS FIRST`, the
second `… NULLS LAST`, the order the API promises. But the list never reads that order over NULL
and set prices at once: a page is read in parts (`property_query.list_query`, `page_parts`), the
rows whose price is set, then those where it is NULL, and the export reads the same parts in turn;
within a part the price holds no NULL (or only NULLs) and `id` never does, so their nulls placement
changes no row and no place. `property_query.order_by` spells such keys as the lead's index yields
them (`DESC NULLS FIRST` under `-list_price`), and both parts of `-list_price`, first page and
after a cursor, are ranges of the ascending index read backward, as they were of this one. Nothing
else reads it (the API's list queries; `tests/api/test_properties.py` asserts each order's index).

A first load builds `prospects`' indexes after its rows (`warehouse._defer_indexes`) on the step's
critical path, the client idle: this was one of seven builds, 0.51–1.44 s wall and 0.29–0.42
leader CPU s (its parallel worker besides) at a million prospects; and an entry per prospect on
every upsert.

Downgrade: the index as migration 0056 left it.

Revision ID: 0065
Revises: 0064
Create Date: 2026-12-06
"""

from alembic import op

revision = "0065"
down_revision = "0064"
branch_labels = None
depends_on = None

NAME = "ix_prospects_county_price_desc"


def upgrade() -> None:
    op.execute(f"DROP INDEX {NAME}")


def downgrade() -> None:
    op.execute(f"CREATE INDEX {NAME} ON prospects (county, list_price NULLS FIRST, id NULLS FIRST)")
