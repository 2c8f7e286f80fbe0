"""One price index for both price orders (migration 0065): `-list_price` is spelled, in each part
of a page, as the ascending price index read backward yields it; the other orders as before; the
descending price index is gone and the migration comes down and up."""

from __future__ import annotations

from realestate_assets.api.v1.property_query import order_by, sort_keys
from realestate_assets.db.migrate import downgrade, upgrade
from tests.databases import query

PRICE_INDEXES = ("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'prospects' "
                 "AND indexname LIKE 'ix_prospects_county_price%%' ORDER BY indexname")


def test_keys_without_nulls_are_spelled_as_the_lead_s_index_yields_them() -> None:
    # Within a part the price holds no NULL (or only NULLs), ids never: the ascending index backward.
    for lead in ("set", "null"):
        assert order_by(sort_keys("-list_price"), lead) == "p.list_price DESC NULLS FIRST, p.id DESC NULLS FIRST"
        # A later key that may be NULL keeps the API's NULLS LAST.
        assert order_by(sort_keys("-list_price,address"), lead, names=True) == (
            "list_price DESC NULLS FIRST, address ASC NULLS LAST, id DESC NULLS FIRST")
    # The whole order (no part): NULL prices last, as the API promises.
    assert order_by(sort_keys("-list_price"), None).startswith("p.list_price DESC NULLS LAST, ")
    # Indexes built for NULLS LAST keep it: first seen (never NULL), the score (migration 0025), ascending.
    assert order_by(sort_keys("-first_seen_at"), None) == "p.first_seen_at DESC NULLS LAST, p.id DESC NULLS LAST"
    assert order_by(sort_keys("-bird_dog_score"), "set") == "s.bird_dog_score DESC NULLS LAST, p.id DESC NULLS LAST"
    assert order_by(sort_keys("list_price"), "set") == "p.list_price ASC NULLS LAST, p.id ASC NULLS LAST"


def test_the_migration_comes_down_and_up(fresh_database: str) -> None:
    upgrade(fresh_database, "0065")
    assert [name for name, _ in query(fresh_database, PRICE_INDEXES)] == ["ix_prospects_county_price"]
    downgrade(fresh_database, "0064")
    assert query(fresh_database, PRICE_INDEXES)[1] == (
        "ix_prospects_county_price_desc", "CREATE INDEX ix_prospects_county_price_desc ON public.prospects "
        "USING btree (county, list_price NULLS FIRST, id NULLS FIRST)")
    upgrade(fresh_database, "0065")
    assert [name for name, _ in query(fresh_database, PRICE_INDEXES)] == ["ix_prospects_county_price"]
