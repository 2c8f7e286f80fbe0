"""Read a crawl's JSON lines back as Pages and Rejects for the prospects asset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from realestate_assets.discovery.records import Page, Reject

ITEM_COLUMNS = ("source_id", "listing_url", "page_url", "address", "city", "state", "zip", "list_price",
                "beds", "baths", "living_sqft", "lot_sqft", "year_built", "property_type", "description",
                "photos", "owner_name", "owner_mailing_address", "listing_status", "list_date", "latitude",
                "longitude", "extracted_by")


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_listing_output(source_name: str, items_path: Path, rejects_path: Path | None = None,
                        chunk_rows: int = 10_000) -> Iterator[Page | Reject]:
    """Items as Pages of text columns (photos as a JSON array), refs = listing URLs; every reject
    line as a Reject; a line that is not JSON is itself a Reject."""
    items_path = Path(items_path)
    rows: list[dict[str, str]] = []
    refs: list[str] = []
    if items_path.exists():
        with items_path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    if not isinstance(item, dict):
                        raise ValueError("not a JSON object")
                except ValueError as exc:
                    yield Reject(source_name, f"{items_path}:{number}", line[:10_000],
                                 f"unreadable item line: {exc}")
                    continue
                rows.append({c: _text(item.get(c)) for c in ITEM_COLUMNS})
                refs.append(str(item.get("listing_url") or f"{items_path}:{number}"))
                if len(rows) >= chunk_rows:
                    yield Page(source_name, pd.DataFrame(rows, columns=list(ITEM_COLUMNS)), refs)
                    rows, refs = [], []
    if rows:
        yield Page(source_name, pd.DataFrame(rows, columns=list(ITEM_COLUMNS)), refs)
    if rejects_path is not None and Path(rejects_path).exists():
        with Path(rejects_path).open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    yield Reject(record.get("source") or source_name, str(record.get("ref")),
                                 record.get("raw"), str(record.get("reason")))
                except (ValueError, AttributeError) as exc:
                    yield Reject(source_name, f"{rejects_path}:{number}", line[:10_000],
                                 f"unreadable reject line: {exc}")
