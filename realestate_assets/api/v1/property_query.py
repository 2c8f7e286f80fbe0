"""The one parser of property filters, sort and cursor, and the SQL they make (list and CSV export).

Which counties a tenant may read is NOT decided here: row-level security on prospects,
enrichment and scores (migration 0008, policy `county_subscribed`) admits the tenant's subscribed
counties, so every query below is confined without saying so.

Public tables hold one set of rows per county, whoever computed it (no tenant_id, migration
0016): prospect, enrichment and score join on (county, prospect_key).

`property_reviews` is tenant data: row-level security (tenant_isolation) leaves the caller's own
review marks in the join, at most one per property (its primary key).

Pagination is keyset: the cursor is the last row's sort values plus its id (the tie-breaker), so
a page never repeats or skips a row when values tie, whatever is inserted before it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from realestate_assets.db.lifecycle import PUBLIC_CONDITIONS, PUBLIC_STATUS, PUBLIC_STATUS_JOINS

Status = Literal["new", "enriched", "scored", "packeted", "emailed"]
Lead = Literal["set", "null"]  # a part of the list: the rows whose first sort column is set, or NULL
MAX_LIMIT = 200
MAX_SORT_KEYS = 3
# Text matches (`q`) read by id up to this many; more, and the list's own plan reads them in order.
MATCH_CAP = 1000


@dataclass(frozen=True)
class Column:
    sql: str
    cast: str  # PostgreSQL type a cursor value is cast back to
    # Its descending order is its ascending index read backward (`order_by`): DESC NULLS FIRST.
    backward: bool = False

    @property
    def table(self) -> str | None:
        """The alias of the table the column is read from (`p`, `e`, `s`, `r`); None for an expression."""
        alias, dot, name = self.sql.partition(".")
        return alias if dot and alias.isidentifier() and name.isidentifier() else None


# A property's status as the calling tenant sees it. The public lifecycle (db/lifecycle.PUBLIC_STATUS,
# derived from the county's enrichment and scores rows joined as `e` and `s`) ends at `scored`;
# `packeted` / `emailed` are the tenant's own progress, read from its packets and sent emails
# (row-level security admits only the tenant's), so one tenant's memos and emails never show in
# another's list. The one definition: the list, its filter and the detail (each joins `e` and `s`,
# as FROM does; the funnel counts it set-based, TENANT_STATUS_COUNTS below).
# "A sent email lists one of its packets" goes packet → email_packets (migration 0051, by packet
# id) → the email by its primary key: equality of bigints all the way, which row-level security
# lets an index answer (int8eq is leakproof). `k.id = ANY (m.packet_ids)` could not: it read every
# sent email of the tenant, and the array operators a GIN index serves are not leakproof.
TENANT_STATUS = (
    f"CASE WHEN ({PUBLIC_STATUS}) <> 'scored' THEN ({PUBLIC_STATUS}) "
    "WHEN EXISTS (SELECT 1 FROM packets k JOIN email_packets x ON x.packet_id = k.id "
    "JOIN emails m ON m.id = x.email_id AND m.status = 'sent' "
    "WHERE k.county = p.county AND k.prospect_key = p.prospect_key) THEN 'emailed' "
    "WHEN EXISTS (SELECT 1 FROM packets k WHERE k.county = p.county AND k.prospect_key = p.prospect_key) "
    "THEN 'packeted' ELSE 'scored' END")

# TENANT_STATUS counted per county for the funnel, set-based: the same rule, read the other way round.
# TENANT_STATUS run on every row costs two subqueries a property (1.6–4 s at 100,000); here the
# public statuses are counted over the prospects joined to their enrichment and scores rows (merge
# joins of index-only scans in key order: migration 0036's prospects and scores covering indexes,
# 0046's enrichment (county, prospect_key) INCLUDE (status)), and only the properties the tenant
# has packets for (its own rows) are looked at again: a `scored` one — PUBLIC_STATUS is `scored`
# exactly when the prospect has a scores row, so `scored` joins only those — moves to `emailed`
# when a sent email lists one of its packets, else to `packeted`. The sent emails' packets come from
# `emails.packet_ids` here, not email_packets (migration 0051): a count over the county reads every
# sent email of the tenant anyway, and this plan was not slower (docs/api.md, "Under load", the
# `emailed` test). Row-level security applies as in TENANT_STATUS: prospects, enrichment and scores
# of followed counties, the tenant's own packets and emails. tests/api/test_analytics.py compares
# the two on every case. Parameter: %(counties)s.
TENANT_STATUS_COUNTS = f"""
WITH sent AS (SELECT DISTINCT unnest(m.packet_ids) AS packet_id FROM emails m WHERE m.status = 'sent'),
scored AS (
    SELECT k.county, bool_or(k.id IN (SELECT packet_id FROM sent)) AS emailed
    FROM packets k JOIN prospects p ON p.county = k.county AND p.prospect_key = k.prospect_key
    JOIN scores s ON s.county = k.county AND s.prospect_key = k.prospect_key
    WHERE k.county = ANY(%(counties)s) GROUP BY k.county, k.prospect_key),
moved AS (
    SELECT county, CASE WHEN emailed THEN 'emailed' ELSE 'packeted' END AS status, count(*) AS n
    FROM scored GROUP BY 1, 2)
SELECT county, status, sum(n)::int FROM (
    SELECT p.county, {PUBLIC_STATUS} AS status, count(*) AS n
    FROM prospects p {PUBLIC_STATUS_JOINS} WHERE p.county = ANY(%(counties)s) GROUP BY 1, 2
    UNION ALL SELECT county, status, n FROM moved
    UNION ALL SELECT county, 'scored', -n FROM moved) AS counted
GROUP BY 1, 2 HAVING sum(n) <> 0
"""

# Every column of a list item, in output order; each is sortable (the whitelist: no SQL from the caller).
COLUMNS: dict[str, Column] = {
    "id": Column("p.id", "bigint"),
    "county": Column("p.county", "text"),
    "prospect_key": Column("p.prospect_key", "text"),
    "parcel_id": Column("p.parcel_id", "text"),
    "address": Column("p.address", "text"),
    "city": Column("p.city", "text"),
    "state": Column("p.state", "text"),
    "zip": Column("p.zip", "text"),
    "latitude": Column("p.latitude", "float8"),
    "longitude": Column("p.longitude", "float8"),
    "property_type": Column("p.use_type", "text"),
    "status": Column(f"({TENANT_STATUS})", "text"),
    "list_price": Column("p.list_price", "float8", backward=True),  # (county, list_price, id), 0030
    "listing_status": Column("p.listing_status", "text"),
    "living_sqft": Column("e.living_sqft", "float8"),
    "year_built": Column("e.year_built", "integer"),
    "last_sale_price": Column("e.last_sale_price", "numeric"),
    "last_sale_date": Column("e.last_sale_date", "date"),
    "bird_dog_score": Column("s.bird_dog_score", "float8"),
    "score_rank": Column("s.score_rank", "integer"),
    "estimated_value": Column("s.estimated_value", "float8"),
    "value_gap_pct": Column("s.value_gap_pct", "float8"),
    "first_seen_at": Column("p.first_seen_at", "timestamptz"),
    "last_seen_at": Column("p.last_seen_at", "timestamptz"),
    "reviewed_at": Column("r.reviewed_at", "timestamptz"),
}

# The text `q` searches: migration 0030's trigram index is built on this very expression (without the
# `p.` alias), so the two must stay equal. `||` rather than concat_ws: concat_ws is not immutable
# and cannot be indexed; a search word holds no space, so the extra space a NULL leaves is harmless.
SEARCH_TEXT = "(coalesce(p.address, '') || ' ' || coalesce(p.city, '') || ' ' || coalesce(p.zip, ''))"

# Columns that are never NULL in a list row (prospects' NOT NULL columns and the status CASE).
NEVER_NULL = {"id", "county", "prospect_key", "status", "first_seen_at", "last_seen_at"}

# `e` and `s` as PUBLIC_STATUS reads them (TENANT_STATUS, the `status` column).
FROM = f"""
FROM prospects p {PUBLIC_STATUS_JOINS}
LEFT JOIN property_reviews r ON r.county = p.county AND r.prospect_key = p.prospect_key
"""


class InvalidQuery(ValueError):
    """A sort or cursor the API cannot use (answered as 422)."""


class PropertyFilters(BaseModel):
    """Query parameters shared by the list and the CSV export."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"county": ["king_wa"], "min_score": 70, "max_price": 900000, "property_type": ["single_family"],
         "status": ["scored"], "q": "main st", "sort": "-bird_dog_score,list_price"}]})

    county: list[str] | None = Field(None, description="Counties (repeat the parameter); default all followed")
    min_score: float | None = Field(None, ge=0, le=100, description="Bird-dog score at least")
    max_score: float | None = Field(None, ge=0, le=100, description="Bird-dog score at most")
    min_price: float | None = Field(None, ge=0, description="Asking price (list_price) at least")
    max_price: float | None = Field(None, ge=0, description="Asking price (list_price) at most")
    min_value: float | None = Field(None, ge=0, description="Estimated value (the AVM's) at least")
    max_value: float | None = Field(None, ge=0, description="Estimated value (the AVM's) at most")
    property_type: list[str] | None = Field(None, description="County use types, as in config `property_types`")
    status: list[Status] | None = Field(None, description="Pipeline status of the property")
    reviewed: bool | None = Field(None, description="Marked reviewed by this tenant (true) or not yet (false)")
    q: str | None = Field(None, min_length=2, max_length=200, description="Text in the address, city or zip")
    sort: str = Field("-bird_dog_score", max_length=200,
                      description="Comma-separated columns, `-` for descending; nulls last; id breaks ties")

    @model_validator(mode="after")
    def _ranges(self) -> PropertyFilters:
        for low, high in (("min_score", "max_score"), ("min_price", "max_price"), ("min_value", "max_value")):
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{low} is above {high}")
        sort_keys(self.sort)
        return self


def with_followed_counties(filters: PropertyFilters, followed: list[str]) -> PropertyFilters:
    """No `county` given: the counties the tenant follows, spelled out. Not a security rule (row-level
    security confines the rows either way) but a plan: the planner estimates a literal county list
    from its statistics and reads it through the county indexes, instead of scanning every county."""
    return filters if filters.county else filters.model_copy(update={"county": sorted(followed) or None})


def sort_keys(sort: str) -> list[tuple[str, bool]]:
    """`-bird_dog_score,list_price` → [(name, descending)], always ending with id."""
    keys: list[tuple[str, bool]] = []
    for part in (p.strip() for p in sort.split(",") if p.strip()):
        name, descending = part.lstrip("-+"), part.startswith("-")
        if name not in COLUMNS:
            raise InvalidQuery(f"cannot sort on {name!r}; sortable: {', '.join(COLUMNS)}")
        if name in (k for k, _ in keys):
            raise InvalidQuery(f"{name!r} appears twice in sort")
        keys.append((name, descending))
    if len(keys) > MAX_SORT_KEYS:
        raise InvalidQuery(f"at most {MAX_SORT_KEYS} sort columns")
    if not any(name == "id" for name, _ in keys):
        keys.append(("id", keys[0][1] if keys else False))  # same direction: one index scan serves both
    return keys


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def encode_cursor(sort: str, row: dict[str, Any]) -> str:
    values = [_plain(row[name]) for name, _ in sort_keys(sort)]
    raw = json.dumps({"s": sort, "v": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str) -> list[Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        values, given_sort = data["v"], data["s"]
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise InvalidQuery("cursor is not valid") from exc
    keys = sort_keys(sort)
    if given_sort != sort or not isinstance(values, list) or len(values) != len(keys):
        raise InvalidQuery("cursor was made for another sort order")
    for (name, _), value in zip(keys, values, strict=True):
        if value is not None and not _fits(COLUMNS[name].cast, value):
            raise InvalidQuery("cursor is not valid")
    return values


def _fits(cast: str, value: Any) -> bool:
    """A cursor value the database will accept for its column (a forged cursor is a 422, not a 500)."""
    try:
        if cast in ("bigint", "integer"):
            return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63
        if cast == "float8":
            return isinstance(value, int | float) and not isinstance(value, bool)
        if cast == "numeric":
            return isinstance(value, str) and Decimal(value).is_finite()
        if cast == "date":
            return isinstance(value, str) and bool(date.fromisoformat(value))
        if cast == "timestamptz":
            return isinstance(value, str) and bool(datetime.fromisoformat(value))
    except (ArithmeticError, ValueError):  # decimal.InvalidOperation is an ArithmeticError
        return False
    return isinstance(value, str) and "\x00" not in value


def _after(keys: list[tuple[str, bool]], values: list[Any], params: list[Any], lead: Lead | None) -> str:
    """Rows strictly after the cursor's row in ORDER BY k1, k2, …, id (each NULLS LAST), within
    `lead`'s part (list_query), spelled so that the index of that order can start at the cursor (an
    index range) instead of reading the county's rows from the top and filtering (at a million
    prospects, a `-list_price` page past the first: 4.1–4.8 s without an index):

    * the cursor's leading NULLs are `k IS NULL` conjuncts, index conditions (after a NULL only
      NULLs follow in its column, the keys before it being equal); `IS NOT DISTINCT FROM` is none;
    * the first key with a value is bounded inclusively (`k <= v` descending, `k >= v` ascending)
      when no NULL can follow it (a column never NULL, or the lead of the "set" part), together
      with the keys after it that an index may hold next (a row comparison, `(k, id) <= (v, i)`:
      same table, same direction, never NULL here), so that ties of the first key are skipped in
      the index too: redundant with the exact condition after it, but an index condition, which
      an OR of alternatives is not;
    * an equal earlier key is `k = v` (or `k IS NULL`), and `OR k IS NULL` is added only where k may
      be NULL.

    "At or after v, or NULL" (a lead that may be NULL, with a value) is not one range: the list
    reads such an order in two parts, the rows where the lead is set, then those where it is NULL."""
    if lead == "set" and values[0] is None:
        return "false"  # a NULL lead is followed by NULL leads only
    if lead == "null" and values[0] is not None:
        return "true"  # every NULL lead follows every set one
    conditions = []
    first = 0
    while first < len(keys) and values[first] is None:
        if first > 0 or lead is None:  # the "null" part says it of the lead already
            conditions.append(f"{COLUMNS[keys[first][0]].sql} IS NULL")
        first += 1
    if first == len(keys):
        return "false"  # a forged cursor of NULLs only: nothing sorts after it (ids are never NULL)

    def may_be_null(i: int) -> bool:
        return keys[i][0] not in NEVER_NULL and not (i == 0 and lead == "set")

    if not may_be_null(first):
        # The first key and those after it that one index can hold with it: same table, same
        # direction, a value and never NULL here (`(list_price, id)` for `-list_price`).
        bound = [first]
        table, descending = COLUMNS[keys[first][0]].table, keys[first][1]
        for i in range(first + 1, len(keys)):
            if (values[i] is None or may_be_null(i) or keys[i][1] != descending
                    or table is None or COLUMNS[keys[i][0]].table != table):
                break
            bound.append(i)
        cols = [COLUMNS[keys[i][0]] for i in bound]
        left = ", ".join(c.sql for c in cols)
        right = ", ".join(f"%s::{c.cast}" for c in cols)
        conditions.append(f"({left}) {'<=' if descending else '>='} ({right})")
        params.extend(values[i] for i in bound)
    alternatives = []
    for i in range(first, len(keys)):
        if values[i] is None:
            continue  # nothing sorts after a null in its column but other nulls, handled by the next key
        equal = []
        for j in range(first, i):
            prior = COLUMNS[keys[j][0]]
            if values[j] is None:
                equal.append(f"{prior.sql} IS NULL")
            else:
                equal.append(f"{prior.sql} = %s::{prior.cast}")
                params.append(values[j])
        col = COLUMNS[keys[i][0]]
        later = f"{col.sql} {'<' if keys[i][1] else '>'} %s::{col.cast}"
        params.append(values[i])
        if may_be_null(i):
            later = f"({later} OR {col.sql} IS NULL)"
        alternatives.append("(" + " AND ".join([*equal, later]) + ")")
    conditions.append("(" + " OR ".join(alternatives) + ")")
    return "(" + " AND ".join(conditions) + ")"


def order_by(keys: list[tuple[str, bool]], lead: Lead | None, names: bool = False) -> str:
    """The ORDER BY of `keys` (each column's SQL, or its output name with `names`) within `lead`'s part.

    The API's order puts NULLs last in every column. A key that holds no NULL in the rows read — a
    column never NULL, or the lead within its part (list_query) — may be spelled NULLS FIRST or
    LAST without changing a row or its place; PostgreSQL matches an index to an ORDER BY by its
    nulls placement too (not by NOT NULL or `IS NOT NULL`), so such keys are spelled as the lead's
    index yields them: NULLS LAST, except under a descending lead whose column is `backward`, where
    the ascending index read backward yields DESC NULLS FIRST for it and for the ids after it
    (`-list_price`: `ix_prospects_county_price`, one price index for both orders, migration 0065).
    A key that may hold NULL keeps NULLS LAST."""
    backward = COLUMNS[keys[0][0]].backward and keys[0][1]
    terms = []
    for i, (name, descending) in enumerate(keys):
        without_nulls = name in NEVER_NULL or (i == 0 and lead is not None)
        nulls = "FIRST" if backward and without_nulls else "LAST"
        terms.append(f"{name if names else COLUMNS[name].sql} {'DESC' if descending else 'ASC'} NULLS {nulls}")
    return ", ".join(terms)


def _patterns(q: str) -> list[str]:
    """ILIKE patterns of the words of `q` (at most 8); LIKE wildcards in the text are literal."""
    escaped = (w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for w in q.split()[:8])
    return [f"%{w}%" for w in escaped]


def text_matches(cur: Any, filters: PropertyFilters) -> list[int] | None:
    """Ids of the properties `q` can match when few (≤ MATCH_CAP), found through the trigram index by
    its longest word (migration 0030's function: under row-level security ILIKE is never an index
    condition); None when there is no `q`, no word of 3 characters (trigrams) or too many matches
    — then the list's own plan (an index in sort order, filtered) is the fast one. The list still
    applies every word and row-level security: the ids only narrow what it reads."""
    if not filters.q:
        return None
    words = filters.q.split()[:8]
    longest = max(range(len(words)), key=lambda i: len(words[i]), default=None)
    if longest is None or len(words[longest]) < 3:
        return None
    cur.execute("SELECT reos_search_prospects(%s::text[], %s::text, %s::integer)",
                (filters.county, _patterns(filters.q)[longest], MATCH_CAP))
    return cur.fetchone()[0]


def where(filters: PropertyFilters, params: list[Any], matches: list[int] | None = None) -> str:
    conditions = ["true"]
    if filters.county and len(filters.county) == 1:
        conditions.append("p.county = %s")  # an equality the planner carries to the joined tables' indexes
        params.append(filters.county[0])
    elif filters.county:
        conditions.append("p.county = ANY(%s)")
        params.append(filters.county)
    for value, condition in ((filters.min_score, "s.bird_dog_score >= %s"),
                             (filters.max_score, "s.bird_dog_score <= %s"),
                             (filters.min_price, "p.list_price >= %s"),
                             (filters.max_price, "p.list_price <= %s"),
                             (filters.min_value, "s.estimated_value >= %s"),
                             (filters.max_value, "s.estimated_value <= %s")):
        if value is not None:
            conditions.append(condition)
            params.append(value)
    if filters.property_type:
        conditions.append("p.use_type = ANY(%s)")
        params.append(filters.property_type)
    if filters.status:
        # `new` and `enriched` are public (no tenant's packet moves them): their own conditions,
        # which the planner can join by; the others are the tenant's reading of `scored`.
        either = [f"({PUBLIC_CONDITIONS[s]})" for s in filters.status if s in ("new", "enriched")]
        tenant = [s for s in filters.status if s not in ("new", "enriched")]
        if tenant:
            either.append(f"{COLUMNS['status'].sql} = ANY(%s)")
            params.append(tenant)
        conditions.append(either[0] if len(either) == 1 else f"({' OR '.join(either)})")
    if filters.reviewed is not None:
        conditions.append("r.reviewed_at IS NOT NULL" if filters.reviewed else "r.reviewed_at IS NULL")
    if filters.q:
        # Each word somewhere in address, city or zip; LIKE wildcards in the text are literal.
        for pattern in _patterns(filters.q):
            conditions.append(f"{SEARCH_TEXT} ILIKE %s")
            params.append(pattern)
    if matches is not None:
        conditions.append("p.id = ANY(%s)")
        params.append(matches)
    return " AND ".join(conditions)


def nullable_lead(filters: PropertyFilters) -> bool:
    """Whether the first sort column may be NULL (so a page is read in parts: `page_parts`)."""
    return sort_keys(filters.sort)[0][0] not in NEVER_NULL


def page_parts(filters: PropertyFilters) -> tuple[Lead | None, ...]:
    """The `lead` parts a page reads in turn, each after the same cursor, until the page is full."""
    return ("set", "null") if nullable_lead(filters) else (None,)


def list_query(filters: PropertyFilters, cursor: str | None = None, limit: int | None = None,
               matches: list[int] | None = None, lead: Lead | None = None) -> tuple[str, list[Any]]:
    """SELECT of list items matching `filters`, in sort order, after `cursor`, at most `limit` rows;
    `matches` (text_matches) narrows it to those ids.

    `lead`: only the rows whose first sort column is set ("set") or NULL ("null"). Nulls sort last,
    so the set rows are the head of the full order and the NULL ones its tail: a page is the set
    rows after the cursor, then, when they do not fill it, the NULL ones (`page_parts`). The point
    is the plans: `IS NOT NULL` on a score column turns the LEFT JOIN to scores into an inner join,
    which PostgreSQL can read in the score index's order and stop after a page (measured at 100,000
    properties: 15 ms), where the full LEFT JOIN has to join and sort every row (500 ms); and in
    each part the cursor's condition is a range of the order's index (`_after`).

    A page over several counties is one page per county, merged (`_merged_by_county`)."""
    if limit is not None and filters.county and len(filters.county) > 1:
        return _merged_by_county(filters, cursor, limit, matches, lead)
    keys = sort_keys(filters.sort)
    params: list[Any] = []
    select = ", ".join(f"{c.sql} AS {name}" for name, c in COLUMNS.items())
    condition = where(filters, params, matches)
    if lead is not None:
        condition += f" AND {COLUMNS[keys[0][0]].sql} IS {'NOT NULL' if lead == 'set' else 'NULL'}"
    if cursor:
        condition += " AND " + _after(keys, decode_cursor(filters.sort, cursor), params, lead)
    query = f"SELECT {select} {FROM} WHERE {condition} ORDER BY {order_by(keys, lead)}"
    if limit is not None:
        query += " LIMIT %s"
        params.append(limit)
    return query, params


def _merged_by_county(filters: PropertyFilters, cursor: str | None, limit: int,
                      matches: list[int] | None, lead: Lead | None) -> tuple[str, list[Any]]:
    """The first `limit` rows over several counties as the first `limit` of each county, merged.

    The sort indexes lead with the county (`prospects (county, first_seen_at …)`, `scores (county,
    bird_dog_score …)`, the price ones), so `county = ANY(…)` cannot be read in sort order: the
    planner joins and sorts every followed row (Home's recent deals, two counties of 100,000 and
    20,000: a hash join, 158–200 ms). Each county alone is read from its index and stops after a
    page; the outer sort orders at most counties × limit rows. Same rows, same order: every
    county's page holds its part of the overall page, and the sort keys end with the unique id."""
    parts, params = [], []
    for county in filters.county or []:
        query, county_params = list_query(filters.model_copy(update={"county": [county]}), cursor, limit,
                                          matches, lead)
        parts.append(f"({query})")
        params += county_params
    order = order_by(sort_keys(filters.sort), lead, names=True)
    return f"SELECT * FROM ({' UNION ALL '.join(parts)}) per_county ORDER BY {order} LIMIT %s", [*params, limit]
