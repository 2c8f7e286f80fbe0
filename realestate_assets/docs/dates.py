"""How old a document's data are when it is generated (no heavy imports: render workers use it)."""

from __future__ import annotations

from datetime import date
from typing import Any


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def data_age(as_of: Any, generated_on: Any, stale_after_days: int | None) -> dict[str, Any]:
    """Days from the data's as-of date to the generation date, and the plain sentence when the data
    are older than `stale_after_days` (config/scoring.yaml `data_stale_after_days`)."""
    if not as_of or not generated_on:
        return {"days": None, "stale": False, "text": None}
    days = (_day(generated_on) - _day(as_of)).days
    stale = stale_after_days is not None and days > stale_after_days
    years = days / 365.25
    age = f"{years:.1f} years" if years >= 1 else f"{days} days"
    return {"days": days, "stale": stale, "text": (
        f"These data are old: they describe the market as of {_day(as_of).isoformat()}, {age} before this "
        f"document was generated on {_day(generated_on).isoformat()}. Prices, ownership and condition may "
        "have changed since." if stale else None)}
