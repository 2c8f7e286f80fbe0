"""What every table asset shares: its declaration, county, tenant, metadata and check helpers."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

# Not exported by dagster (pinned 1.13.27): a check evaluation's pointer to its materialization (`reported`).
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationTargetMaterializationData
from psycopg2 import sql
from psycopg2.extensions import connection as PgConnection

from partitions.tenants import county_and_tenant
from realestate_assets.config_models import ConfigError, CountyConfig, county_disabled_reason
from realestate_assets.db import column_schemas
from realestate_assets.db.copy_io import copy_readable, read_frames, result_columns
from realestate_assets.db.tenancy import partition_slice
from realestate_assets.db.warehouse import SyncStats, Warehouse
from realestate_assets.settings import deployment_plan
from resources import PlatformResource


def county_asset(**kwargs: Any) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """`@dg.asset` plus the asset's pool from deploy/k8s-resources.yaml (outside services bound
    how many runs call them at once). The pool is an op setting an `AssetSpec` cannot carry;
    everything else cross-cutting (partitions, owners, group, kinds, automation) is applied in
    `definitions.apply_policy`."""

    def decorate(fn: Callable[..., Any]) -> dg.AssetsDefinition:
        pool = deployment_plan().get("pools", {}).get(kwargs.get("name", fn.__name__))
        return dg.asset(pool=pool, **kwargs)(fn)

    return decorate


# The steps whose county was read and found valid (by `county_of`), so `partition_params` need
# not read it again in the same step: an asset calls both, and each read is the file (parsed,
# validated) plus the override's query, a transaction of its own (issue 17: fixed costs per
# step). Weak keys: a step's context is forgotten with the step, so the next step, and the next
# run, read the county afresh and see any edit made since.
_COUNTY_READ: weakref.WeakKeyDictionary[dg.AssetExecutionContext, bool] = weakref.WeakKeyDictionary()


def county_of(context: dg.AssetExecutionContext, platform: PlatformResource) -> CountyConfig:
    """The partition's county, read from its file now. An invalid file disables that county only:
    the step fails at once with the error (naming the file and the field), before touching data.
    A tenant-owned asset's partition is (county × tenant): its county dimension."""
    county, _ = county_and_tenant(context.partition_key)
    try:
        found = platform.county(county)
    except ConfigError as exc:
        raise dg.Failure(description=county_disabled_reason(str(exc)),
                         metadata={"county": county, "config_error": str(exc)},
                         allow_retries=False) from exc
    _COUNTY_READ[context] = True
    return found


def partition_params(context: dg.AssetExecutionContext, platform: PlatformResource) -> dict[str, str]:
    """The county of a public asset's partition. Public county data has no tenant (DESIGN §9): two
    tenants following a county share its one discovery, enrichment, features, models and scores."""
    if context not in _COUNTY_READ:  # every asset calls this: a disabled county fails fast here
        county_of(context, platform)
    return {"county": county_and_tenant(context.partition_key)[0]}


def tenant_params(context: dg.AssetExecutionContext, platform: PlatformResource) -> dict[str, str]:
    """The county and the tenant of a tenant-owned asset (packets, emails), both from its
    (county × tenant) partition key: the one place an asset learns its tenant."""
    _, tenant = county_and_tenant(context.partition_key)
    if tenant is None:  # a definition error, not a data one: packets/emails are declared per tenant
        raise dg.Failure(f"{context.asset_key.to_user_string()} needs a (county × tenant) partition key, "
                         f"got {context.partition_key!r}", allow_retries=False)
    return {**partition_params(context, platform), "tenant": tenant}


COLUMN_SCHEMA = "dagster/column_schema"  # the metadata key Dagster's UI shows a table's columns under


def column_schema(table: str) -> dg.TableSchema | None:
    """The table's columns, types and comments as the migrations make them (db/column_schemas.py),
    or None for a table without one: definition metadata of the asset that writes it
    (`definitions.apply_policy`), never a materialization's. Dagster's UI renders a description as
    Markdown, where `<county>` in "config/counties/<county>.yaml" is an HTML tag and vanishes: the
    angle brackets go as entities, so the UI shows the comment as written."""
    columns = column_schemas.stored_schemas().get(table)
    if columns is None:
        return None
    return dg.TableSchema(columns=[
        dg.TableColumn(name=c["name"], type=c["type"], description=_as_written(c["description"]),
                       constraints=dg.TableColumnConstraints(nullable=c["nullable"]))
        for c in columns])


def _as_written(text: str | None) -> str | None:
    """`text` for a Markdown renderer that drops HTML tags: `<` and `>` as entities."""
    return text.replace("<", "&lt;").replace(">", "&gt;") if text else text


def table_metadata(
    table: str, row_count: int,
    lineage: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    **extra: object,
) -> dict[str, object]:
    """Row count, the table's name and column lineage. Its column schema is the asset's
    definition metadata (`column_schema`)."""
    metadata: dict[str, object] = {
        "dagster/row_count": dg.MetadataValue.int(int(row_count)),
        "table": dg.MetadataValue.text(table),
    }
    if lineage:
        metadata["dagster/column_lineage"] = dg.TableColumnLineage({
            column: [dg.TableColumnDep(asset_key=dg.AssetKey(asset), column_name=name) for asset, name in deps]
            for column, deps in lineage.items()})
    metadata.update(extra)
    return rounded_metadata(metadata)


def check(name: str, passed: bool, description: str, severity: str = "ERROR",
          **metadata: object) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name, passed=bool(passed), description=description,
        severity=dg.AssetCheckSeverity.ERROR if severity == "ERROR" else dg.AssetCheckSeverity.WARN,
        metadata=rounded_metadata(metadata))


# What an asset with checks yields: its materialization, then each of its checks — its output and
# its evaluation, or the check result for Dagster to make them (`reported`).
Reported = Iterator[dg.MaterializeResult | dg.Output | dg.AssetCheckEvaluation | dg.AssetCheckResult]


def reported(context: dg.AssetExecutionContext, result: dg.MaterializeResult) -> Reported:
    """`result` without its check results, then each of them on its own: the same events as
    Dagster makes of a `MaterializeResult`'s check results (STEP_OUTPUT, ASSET_MATERIALIZATION,
    then a STEP_OUTPUT and an ASSET_CHECK_EVALUATION per check), with fewer event-log look-ups.

    Dagster 1.13 makes each check result's evaluation in `execute_step._process_user_event`
    (`AssetCheckResult.to_asset_check_evaluation`), and for each one looks up the partition's
    latest materialization — the evaluation's target, the one this step just stored — reading
    and deserializing that whole event (its metadata, ≈4–30 KB) once per check; for a check
    result carried by a `MaterializeResult` it did so a second time, only to learn which check it
    is (`compute.execute_core_compute`; thirty-third round (d)). Here the target is found once per
    step (`_target`: from production's storage's own write, else one look-up) and each check is
    answered as Dagster would: the check's output (`Output(None)` on its output name, which a
    downstream step waits on when the check is blocking) and its `AssetCheckEvaluation`, with the
    spec's `blocking` and partition (issue 17: at 1× the per-check look-ups were ≈14% of an unchanged re-run's step
    samples, thirty-fourth round (b)). A check not selected in this run, or a step without a
    partition, goes Dagster's own way (its warning, its target). Every asset with checks reports
    them through here (thirty-third round (e)). The asset yields these from a generator: a
    regular function returning them would have its return annotation read as its outputs' types."""
    yield dg.MaterializeResult(metadata=result.metadata, data_version=result.data_version, tags=result.tags)
    if not result.check_results:
        return
    assets_def = context.assets_def
    outputs = {spec.key: name for name, spec in assets_def.check_specs_by_output_name.items()}
    keys = [dg.AssetCheckKey(context.asset_key, c.check_name) for c in result.check_results]
    ours = context.has_partition_key and any(key in outputs for key in keys)
    # Here the generator was resumed after Dagster stored the materialization yielded above: the
    # record it would find for each check.
    target = _target(context) if ours else None
    for c, key in zip(result.check_results, keys, strict=True):
        if not ours or key not in outputs:
            yield dg.AssetCheckResult(asset_key=context.asset_key, check_name=c.check_name, passed=c.passed,
                                      metadata=c.metadata, severity=c.severity, description=c.description)
            continue
        spec = assets_def.get_spec_for_check_key(key)
        yield dg.Output(None, output_name=outputs[key])
        yield dg.AssetCheckEvaluation(
            asset_key=context.asset_key, check_name=c.check_name, passed=c.passed, metadata=c.metadata,
            target_materialization_data=target, severity=c.severity, description=c.description,
            blocking=spec.blocking, partition=context.partition_key if spec.partitions_def is not None else None)


def latest_materialization(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> dg.EventLogRecord | None:
    """The asset partition's latest materialization record, or None: one event-log look-up."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1).records
    return records[0] if records else None


def _target(context: dg.AssetExecutionContext) -> AssetCheckEvaluationTargetMaterializationData | None:
    """The partition's latest materialization as a check evaluation's target, as Dagster 1.13
    finds it for a partitioned step (`AssetCheckResult._get_partitioned_target_materialization_data`):
    the step's own, as production's storage remembers storing it, else looked up."""
    # PooledPostgresStorage's (realestate_assets/instance_storage.py); asked by name, so that a
    # process on another storage (`make demo`'s SQLite) does not import dagster-postgres for it.
    remembered = getattr(context.instance.event_log_storage, "stored_materialization", None)
    stored = remembered(context.asset_key, context.partition_key, context.run_id) if remembered else None
    if stored is not None:
        return stored
    mat = latest_materialization(context.instance, context.asset_key, context.partition_key)
    if mat is None:
        return None
    return AssetCheckEvaluationTargetMaterializationData(
        run_id=mat.event_log_entry.run_id, storage_id=mat.storage_id, timestamp=mat.timestamp)


def audit_checks(stats: SyncStats) -> list[dg.AssetCheckResult]:
    """The audits `sync_partition` ran on the staged rows, as the asset's check results."""
    return [check(a.name, a.passed, a.description + ("" if stats.published or not a.blocking or a.passed
                                                     else " — not published; the previous rows stay"),
                  **a.metadata) for a in stats.audits]


def sync_metadata(stats: SyncStats) -> dict[str, object]:
    """What a write did: published or held back by a blocking audit, and the row changes."""
    return {"published": stats.published, "staged_rows": stats.staged, "inserted": stats.inserted,
            "updated": stats.updated, "deleted": stats.deleted}


def rows_after_sync(wh: Warehouse, table: str, params: dict[str, str], stats: SyncStats) -> int:
    """Rows the partition holds after a `sync_partition` that deleted the rows it was not given
    (its default): published, exactly the staged rows, with no count of the slice (a scan of it,
    19–65 ms at 43k sales, and a transaction of its own); held back by a blocking audit, the
    previous rows, counted (`slice_rows`)."""
    return stats.staged if stats.published else slice_rows(wh, table, params)


def slice_rows(wh: Warehouse, table: str, params: dict[str, str]) -> int:
    """Rows the partition holds now (after a held-back write: the previous ones): the county's, or
    the tenant's in the county when `params` names a tenant (tenant-owned tables)."""
    with wh.transaction() as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {} WHERE " + partition_slice(params))
                    .format(sql.Identifier(table)), params)
        return int(cur.fetchone()[0])


def rounded(value: object) -> object:
    """A metadata value as people read it: floats (also inside JSON, lists and float metadata)
    keep 4 decimals, or 4 significant digits below 1 so a small rate still says something
    (0.01235, not 0.0123456789 or 0.0123); NaN/inf become text; numpy scalars plain Python."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if not np.isfinite(value):
            return str(value)
        return float(f"{value:.4g}") if abs(value) < 1 else round(value, 4)
    if isinstance(value, dg.FloatMetadataValue) and value.value is not None and np.isfinite(value.value):
        return dg.MetadataValue.float(rounded(value.value))  # type: ignore[arg-type]
    if isinstance(value, dg.JsonMetadataValue):
        return dg.MetadataValue.json(rounded(value.data))  # type: ignore[arg-type]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if type(value) in (list, tuple):  # exact types: Dagster's records (TableSchema, ...) are tuples too
        return [rounded(v) for v in value]  # type: ignore[union-attr]
    return value


def rounded_metadata(metadata: Mapping[str, object]) -> dict[str, object]:
    """Every number of a metadata dict rounded once, here (see `rounded`)."""
    return {key: rounded(value) for key, value in metadata.items()}


def histogram_markdown(values: pd.Series, bins: Iterable[float], title: str) -> dg.MetadataValue:
    """A small text histogram the asset page shows without any plotting service."""
    edges = list(bins)
    counts, _ = np.histogram(values.dropna(), bins=edges)
    peak = max(int(counts.max()), 1) if len(counts) else 1
    lines = [f"**{title}**", "", "| range | count | |", "|---|---:|---|"]
    for low, high, count in zip(edges[:-1], edges[1:], counts, strict=True):
        lines.append(f"| {low:g}–{high:g} | {count} | {'█' * round(20 * count / peak)} |")
    return dg.MetadataValue.md("\n".join(lines))


SALE_COLUMNS = ["source", "sale_id", "parcel_id", "sale_price", "sale_date", "use_type", "neighborhood", "lot_sqft",
                "waterfront", "bldg_grade", "living_sqft", "beds", "baths", "age_at_sale", "eff_age_at_sale",
                "latitude", "longitude"]


def county_sales(wh: Warehouse, params: dict[str, str], columns: Collection[str] | None = None) -> pd.DataFrame:
    """The partition's recorded sales, oldest first; only `columns` of them when given (a
    county-sized frame: at 470k sales the index's columns alone are about half of it)."""
    chosen = [c for c in SALE_COLUMNS if columns is None or c in columns]
    select = ", ".join("sale_price::float8 AS sale_price" if c == "sale_price" else c for c in chosen)
    return wh.frame(f"SELECT {select} FROM sales WHERE county = :county ORDER BY sale_date, sale_id", params)


@contextmanager
def snapshot(wh: Warehouse, of: str | None = None) -> Iterator[PgConnection]:
    """One read-only REPEATABLE READ transaction: every read in it sees the same rows — a county
    streamed in chunks, then some of those rows again (`scores`' explained rows). `of`: a
    snapshot another one exported (`export_snapshot`), whose rows this one then sees too — a
    second connection reading beside the first (`scores`' last-sale flags)."""
    with wh.transaction() as conn:
        conn.rollback()  # the pool's pre-ping may have opened a transaction: SET TRANSACTION comes first
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if of is not None:
                cur.execute("SET TRANSACTION SNAPSHOT %s", (of,))
        yield conn


def export_snapshot(conn: PgConnection) -> str:
    """The id of `conn`'s snapshot (a `snapshot` before its first read: this is its first), for
    `snapshot(wh, of=...)` while `conn`'s transaction is open."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_export_snapshot()")
        return str(cur.fetchone()[0])


def frames(wh: Warehouse, conn: PgConnection, query: str, params: dict[str, Any],
           chunk_rows: int, arrow: bool = False) -> Iterator[pd.DataFrame]:
    """`Warehouse.frame` a chunk of `chunk_rows` at a time, on `conn` (a `snapshot`), typed per
    chunk (db/copy_io.py::read_frames): for stages whose work is per row (issue 17). A result
    COPY cannot read comes whole, through `frame_rows` (outside the snapshot). `arrow`: the
    chunks' text and dates held by Arrow (`read_frames`), not as objects."""
    bound = wh.bind(conn, query, params)
    columns = result_columns(conn, bound)
    if copy_readable(columns):
        yield from read_frames(conn, bound, columns, chunk_rows, arrow)
    else:
        yield wh.frame_rows(query, params)
