"""How the planner estimates the API's row-level security (policy `county_subscribed`), today's form
against a STABLE function the planner evaluates when it plans (docs/api.md "Row-level security and
the planner").

On scratch databases migrated to head (`--prefix`, dropped at the end), three installations:
`one-big` (a 40,000-property county and 60 of 300; the tenant follows the big one), `mixed` (the plan
test's 20 counties of 5,000, counties of 40,000 and 20,000, and 60 of 300; the tenant follows two of
5,000 and the two big ones) and `uniform` (20 counties of 5,000; the tenant follows two). For each,
the two forms alternate (`--rounds`), each installed on prospects, scores and enrichment inside a
transaction that is rolled back: Home's recent deals in the named county, the default list page, a
count of the named county and a count with no county named, as `EXPLAIN ANALYZE` (median of 3
executions), with the prospects scan's estimated and actual rows (a parallel scan's are per
worker). The properties are seeded as the plan tests of tests/api/test_properties.py seed them
(`Group` below). Run: `python bench/bench_rls_estimate.py [--rounds 3] [--prefix reos_rls_bench]`.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import psycopg2

from realestate_assets.accounts import store
from realestate_assets.api.v1.property_query import PropertyFilters, list_query, page_parts, with_followed_counties
from realestate_assets.db.county_partitions import ensure_county_partitions
from realestate_assets.db.tenancy import act_as_api
from tests.databases import psycopg2_dsn, scratch_database

FOLLOWED = ("ARRAY(SELECT s.county FROM subscriptions s "
            "WHERE s.tenant_id = current_setting('app.tenant_id', true))")
FORMS = {"initplan": f"county = ANY ({FOLLOWED})",  # migrations 0008 … 0045: the policy today
         "stable fn": "county = ANY (reos_followed_counties())"}
FUNCTION = ("CREATE FUNCTION reos_followed_counties() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE "
            f"RETURN {FOLLOWED}")
TABLES = ("prospects", "scores", "enrichment")
# A group of counties inserted interleaved (row g in county g % n, as the plan tests insert them):
# (name, number of counties, properties each, first seen over that many daily runs or all now).
Group = tuple[str, int, int, int | None]
FIVES: Group = ("c", 20, 5000, None)
SMALL: Group = ("small", 60, 300, 200)
BIG: Group = ("big", 1, 40_000, 365)
BIG2: Group = ("big2", 1, 20_000, 200)
# installation: (its groups, the counties the tenant follows, the county Home names)
SHAPES: dict[str, tuple[list[Group], list[str], str]] = {
    "one-big": ([BIG, SMALL], ["big"], "big"),
    "mixed": ([FIVES, SMALL, BIG, BIG2], ["c07", "c08", "big", "big2"], "big"),
    "uniform": ([("c", 20, 5000, 365)], ["c07", "c08"], "c07")}


def seed(cur: Any, groups: list[Group], followed: list[str]) -> int:
    store.create_tenant(cur, "reader", "reader")
    for county in followed:
        store.subscribe(cur, "reader", county)
    for name, counties, each, days in groups:
        ensure_county_partitions(cur, *([name] if counties == 1 else [f"{name}{c:02d}" for c in range(counties)]))
        cur.execute("""
            INSERT INTO prospects (county, prospect_key, address, list_price, first_seen_at)
            SELECT CASE WHEN %(n)s = 1 THEN %(name)s ELSE %(name)s || lpad((g %% %(n)s)::text, 2, '0') END,
                   %(name)s || '-' || g, g || ' MAIN ST', 100000 + g,
                   now() - coalesce((g %% %(days)s) * interval '1 day', interval '0')
            FROM generate_series(1, %(rows)s) g""",
            {"n": counties, "name": name, "days": days, "rows": counties * each})
    cur.execute("""
        INSERT INTO scores (county, prospect_key, as_of_date, bird_dog_score, score_rank, model_version)
        SELECT county, prospect_key, '2026-12-01', (id * 7919 % 1000) / 10.0, 1, 'v1' FROM prospects""")
    cur.connection.commit()
    cur.execute("ANALYZE prospects")
    cur.execute("ANALYZE scores")
    cur.connection.commit()
    return sum(n for _, n, _, _ in groups)


def scans(plan: dict[str, Any], alias: str) -> list[str]:
    nodes, found = [plan], []
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        if node.get("Alias") == alias and "Relation Name" in node:
            found.append(f"{node['Plan Rows']:,.0f} est / {node['Actual Rows'] * node['Actual Loops']:,.0f} "
                         f"{node['Node Type']} {node.get('Index Name', '')}".rstrip())
    return found


def measure(cur: Any, form: str, named: str) -> None:
    if form != "initplan":
        cur.execute(FUNCTION)
    for table in TABLES:
        cur.execute(f"ALTER POLICY county_subscribed ON {table} USING ({FORMS[form]})")
    act_as_api(cur, "reader")
    followed = [s["county"] for s in store.list_subscriptions(cur)]
    recent = PropertyFilters(county=[named], min_score=75, sort="-first_seen_at,-bird_dog_score")
    cases = {"home (recent deals)": list_query(recent, limit=9, lead=page_parts(recent)[0]),
             "list page (default)": list_query(with_followed_counties(PropertyFilters(), followed), limit=51),
             "county count": ("SELECT count(*) FROM prospects WHERE county = %s", (named,)),
             "count, no county named": ("SELECT count(*) FROM prospects", ())}
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    for case, (query, params) in cases.items():
        times = []
        for _ in range(3):
            cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params)
            doc = cur.fetchone()[0][0]
            times.append(doc["Execution Time"])
        found = scans(doc["Plan"], "p" if " p " in query or "p." in query else "prospects")
        print(f"  {form:9} (load {load}) {case:22} {statistics.median(times):7.1f} ms  prospects: "
              + ("; ".join(found[:2]) + (f"; … ({len(found)} scans)" if len(found) > 2 else "")))
    cur.connection.rollback()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prefix", default="reos_rls_bench")
    args = parser.parse_args()
    for shape, (groups, followed, named) in SHAPES.items():
        with scratch_database(Path(mkdtemp()), prefix=args.prefix) as url:
            conn = psycopg2.connect(psycopg2_dsn(url))
            try:
                with conn.cursor() as cur:
                    counties = seed(cur, groups, followed)
                    print(f"{shape}: {counties} counties, {sum(n * each for _, n, each, _ in groups):,} properties, "
                          f"follows {', '.join(followed)}; Home names {named}")
                    for _ in range(args.rounds):
                        for form in FORMS:
                            measure(cur, form, named)
            finally:
                conn.close()


if __name__ == "__main__":
    main()
