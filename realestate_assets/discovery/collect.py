"""Collect a county's rows of one kind (`sales`, ...) from all its enabled sources."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pandas as pd

from realestate_assets.config_models import CountyConfig, SourceBase
from realestate_assets.discovery.bulk_file import read_bulk_file
from realestate_assets.discovery.records import Page, Reject
from realestate_assets.discovery.validate import SALE_REQUIRED, canonicalize

Reader = Callable[[SourceBase], Iterator[Page | Reject]]


def default_reader(source: SourceBase) -> Iterator[Page | Reject]:
    if source.type == "bulk_file":  # type: ignore[attr-defined]
        return read_bulk_file(source)  # type: ignore[arg-type]
    raise NotImplementedError(f"source type {source.type!r} is not wired yet")  # type: ignore[attr-defined]


@dataclass
class Collected:
    rows: pd.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    source_rows: Counter[str] = field(default_factory=Counter)  # rows read per source, before validation

    @property
    def reject_rate(self) -> float:
        seen = sum(self.source_rows.values())
        return len(self.rejects) / seen if seen else 0.0


def collect_sales(county: CountyConfig, reader: Reader = default_reader) -> Collected:
    """Validated, de-duplicated sales; every row that cannot be used is a reject with a reason."""
    frames: list[pd.DataFrame] = []
    collected = Collected(rows=pd.DataFrame())
    for source in county.sources_providing("sales"):
        try:
            items = list(reader(source))
        except NotImplementedError as exc:
            collected.rejects.append(Reject(source.name, source.name, None, str(exc)))
            continue
        for item in items:
            if isinstance(item, Reject):
                collected.rejects.append(item)
                continue
            collected.source_rows[item.source] += len(item.frame)
            result = canonicalize(item, source.field_map(), SALE_REQUIRED, county.bounding_box)
            collected.rejects.extend(result.rejects)
            frames.append(result.rows)
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["source", "sale_id"])
    duplicated = rows.duplicated(["source", "sale_id"], keep="first")
    for record in rows.loc[duplicated].to_dict("records"):
        collected.rejects.append(Reject(record["source"], record["source_ref"], record,
                                        f"duplicate sale_id {record['sale_id']!r} in the source"))
    collected.rows = rows.loc[~duplicated].reset_index(drop=True)
    return collected


def prospects_from_sales(sales: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One prospect per parcel, located and typed by its latest sale; plus its source links."""
    latest = sales.sort_values(["parcel_id", "sale_date", "sale_id"]).groupby("parcel_id").tail(1)

    def column(name: str) -> object:
        return latest[name].to_numpy() if name in latest.columns else None

    sources = sales.groupby("parcel_id")["source"].agg(lambda s: sorted(set(s)))
    prospects = pd.DataFrame({
        "prospect_key": latest["parcel_id"].to_numpy(),
        "parcel_id": latest["parcel_id"].to_numpy(),
        "address": column("address"), "city": column("city"),
        "state": column("state"), "zip": column("zip"),
        "latitude": latest["latitude"].to_numpy(), "longitude": latest["longitude"].to_numpy(),
        "use_type": latest["use_type"].to_numpy(),
    })
    prospects["sources"] = prospects["parcel_id"].map(sources)
    links = sales.drop_duplicates(["source", "parcel_id"])[["parcel_id", "source", "source_ref"]]
    links = pd.DataFrame({"prospect_key": links["parcel_id"], "source": links["source"],
                          "source_id": links["parcel_id"], "source_ref": links["source_ref"]})
    return prospects.reset_index(drop=True), links.reset_index(drop=True)
