"""Part 4, two tenants: tenants A and B materialize the same county into one database and one
object store (as two customers share the production bucket), in interleaved runs — A, B, then
A and B at the same time. Then: no object is shared (packet and model keys of A and B are
disjoint), and nothing of one was changed by the other's runs (A's rows, their `updated_at`, and
the bytes of A's objects against the sha256 A recorded).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from bench.chaos.common import bad_packet_objects, line, new_tenant, query

N_PARCELS = 60


def object_keys(url: str, tenant: str) -> set[str]:
    rows = query(url, "SELECT object_path FROM packets WHERE tenant_id = %s UNION ALL "
                      "SELECT artifact_path FROM ml_models WHERE tenant_id = %s AND artifact_path IS NOT NULL",
                 (tenant, tenant))
    return {str(r[0]) for r in rows}


def fingerprint(url: str, tenant: str, objects: Path) -> dict[str, str]:
    """Every row of the tenant (table, natural id, updated_at) and every object's bytes, hashed."""
    out = {}
    for table in ("sales", "prospects", "enrichment", "features", "scores", "packets", "emails", "ml_models"):
        for row_id, updated in query(url, f"SELECT id, updated_at FROM {table} WHERE tenant_id = %s", (tenant,)):
            out[f"{table}#{row_id}"] = str(updated)
    for key in object_keys(url, tenant):
        path = objects / key
        out[f"object {key}"] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    return out


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(k for k in before if after.get(k) != before[k])


def run(workspace: Path, url: str, *, quick: bool = False) -> bool:
    from bench.chaos.crash import Child, Tenant
    from tests.samples import write_sample_config

    print("\n=== tenants: two tenants, one database and one object store, interleaved runs", flush=True)
    config = write_sample_config(workspace / "config", workspace / "data", n_parcels=N_PARCELS, packet_threshold=75)
    state = workspace / "shared-state"
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
    a_first = fingerprint(url, a.id, state / "objects")
    ok &= materialize(b)
    after_b = fingerprint(url, a.id, state / "objects")
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

    print("tenants figures:")
    print(line("runs succeeded", "yes" if ok else "NO"))
    print(line("objects of A / of B", f"{len(object_keys(url, a.id))} / {len(object_keys(url, b.id))}"))
    print(line("objects shared by A and B", len(shared)))
    print(line("rows/objects of A changed by B's run", len(touched_by_b)))
    print(line("objects of A not matching A's sha256", len(bad_a)))
    print(line("objects of B not matching B's sha256", len(bad_b)))
    print(line("objects of B changed across the interleaved runs", len(b_objects_changed)))
    for example in [*sorted(shared)[:2], *touched_by_b[:2], *bad_a[:2], *b_objects_changed[:4]]:
        print(f"    ! {example}")
    return ok and not shared and not touched_by_b and not bad_a and not bad_b and not b_objects_changed
