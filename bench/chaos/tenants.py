"""Part 4, two tenants: tenants A and B follow the same county in one database and one object
store (as two customers share the production bucket), in interleaved runs — A, B, then A and B at
the same time.

Public county data is computed once and shared (DESIGN §9): B's sales, prospects, enrichment,
features, models and scores ARE A's — one set of rows per county, model artifacts under
`public/`. What must stay isolated is tenant-owned: packets (rows and objects under
`tenants/<id>/`) and emails. Checked: no object key of A's packets is B's; nothing of A's own
rows or objects was changed by B's runs (rows, their `updated_at`, object bytes against A's
sha256); the county holds one set of public rows (no natural key twice); and, for information,
how many public rows B's first run rewrote (its inputs are A's: ideally none).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from bench.chaos.common import bad_packet_objects, fresh_county, line, new_tenant, query

N_PARCELS = 60
PUBLIC = ("sales", "prospects", "enrichment", "features", "scores", "ml_models")
# Public tables and the natural key of a row: one set of rows per county, whoever ran it.
PUBLIC_KEYS = {"prospects": "prospect_key", "enrichment": "prospect_key", "features": "prospect_key",
               "scores": "prospect_key", "sales": "source, sale_id"}


def object_keys(url: str, tenant: str) -> set[str]:
    """The tenant's own objects (its packets); model artifacts are public county data."""
    return {str(r[0]) for r in query(url, "SELECT object_path FROM packets WHERE tenant_id = %s", (tenant,))}


def fingerprint(url: str, tenant: str, objects: Path) -> dict[str, str]:
    """Every row the tenant owns (table, id, updated_at) and every object's bytes, hashed."""
    out = {}
    for table in ("packets", "emails"):
        for row_id, updated in query(url, f"SELECT id, updated_at FROM {table} WHERE tenant_id = %s", (tenant,)):
            out[f"{table}#{row_id}"] = str(updated)
    for key in object_keys(url, tenant):
        path = objects / key
        out[f"object {key}"] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    return out


def public_fingerprint(url: str) -> dict[str, str]:
    """The county's public rows (table, id, updated_at)."""
    return {f"{table}#{row_id}": str(updated) for table in PUBLIC
            for row_id, updated in query(url, f"SELECT id, updated_at FROM {table} WHERE county = 'king_wa'")}


def public_duplicates(url: str) -> int:
    """Natural keys held more than once in the county's public tables (one set of rows: 0)."""
    return sum(int(query(url, f"SELECT count(*) - count(DISTINCT ({key})) FROM {table} "
                              "WHERE county = 'king_wa'")[0][0]) for table, key in PUBLIC_KEYS.items())


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(k for k in before if after.get(k) != before[k])


def run(workspace: Path, url: str, *, quick: bool = False) -> bool:
    from bench.chaos.crash import Child, Tenant
    from tests.samples import write_sample_config

    print("\n=== tenants: two tenants, one database and one object store, interleaved runs", flush=True)
    config = write_sample_config(workspace / "config", workspace / "data", n_parcels=N_PARCELS, packet_threshold=75)
    state = workspace / "shared-state"
    fresh_county(url)  # the county undiscovered: A's first run computes its public rows
    a = Tenant(new_tenant(url, "tenant_a"), state)
    b = Tenant(new_tenant(url, "tenant_b"), state)

    def materialize(*tenants: Tenant) -> bool:
        children = [Child(url, config, t) for t in tenants]  # started together: their steps interleave
        codes = [c.finish() for c in children]
        for child, code in zip(children, codes, strict=True):
            if code != 0:
                print("\n".join(child.output[-20:]))
        return all(code == 0 for code in codes)

    ok = materialize(a)
    a_first, public_first = fingerprint(url, a.id, state / "objects"), public_fingerprint(url)
    ok &= materialize(b)
    after_b = fingerprint(url, a.id, state / "objects")
    public_rewritten = changed(public_first, public_fingerprint(url))
    b_first = fingerprint(url, b.id, state / "objects")
    rounds = 1 if quick else 2
    touched_by_b = changed(a_first, after_b)
    for _ in range(rounds):  # both at once: A's re-run and B's re-run interleave
        ok &= materialize(a, b)
    shared = object_keys(url, a.id) & object_keys(url, b.id)
    bad_a = bad_packet_objects(url, a.id, state / "objects")
    bad_b = bad_packet_objects(url, b.id, state / "objects")
    b_after = fingerprint(url, b.id, state / "objects")
    # After the interleaved re-runs, B's rows may be its own re-run's; the objects must still match.
    b_objects_changed = [k for k in changed(b_first, b_after) if k.startswith("object ")]
    duplicates = public_duplicates(url)

    print("tenants figures:")
    print(line("runs succeeded", "yes" if ok else "NO"))
    print(line("objects of A / of B", f"{len(object_keys(url, a.id))} / {len(object_keys(url, b.id))}"))
    print(line("objects shared by A and B", len(shared)))
    print(line("rows/objects of A changed by B's run", len(touched_by_b)))
    print(line("objects of A not matching A's sha256", len(bad_a)))
    print(line("objects of B not matching B's sha256", len(bad_b)))
    print(line("objects of B changed across the interleaved runs", len(b_objects_changed)))
    print(line("public rows of the county (one set)", f"{len(public_first)}, {duplicates} keys held twice"))
    print(line("public rows rewritten by B's first run", f"{len(public_rewritten)} (information)"))
    for example in [*sorted(shared)[:2], *touched_by_b[:2], *bad_a[:2], *b_objects_changed[:4]]:
        print(f"    ! {example}")
    return (ok and not shared and not touched_by_b and not bad_a and not bad_b and not b_objects_changed
            and not duplicates)
