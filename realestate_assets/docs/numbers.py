"""How numbers read in documents: the one rule for signs, shared by the templates' filters
(docs/memo.py `_environment`) and the charts' labels (docs/charts.py).

* A negative quantity takes the minus sign U+2212 (−), as a typeset document writes it: the
  hyphen-minus a format() gives is shorter and sits lower than the plus sign beside it. Before this
  module the factor chart printed "−4.2%" and the factor table under it "-4.2%".
* A value that rounds to zero shows no sign ("0.0%", never "−0.0%" for −0.04 nor "+0.0%").
* Money: the sign before the currency symbol ("−$1,200", "−$530k").

Not here: coordinates (the `num` filter) keep the ASCII hyphen-minus, they are read to be pasted
into a map, and map search boxes do not read "−122.30211" as a longitude.
"""

from __future__ import annotations

from typing import Any

MINUS = "\u2212"
MISSING = "—"  # a value the sources do not provide


def number(value: float, spec: str) -> str:
    """`value` in the format() `spec` (e.g. "+.1f", ",.0f", "+g"), by the rule above."""
    text = format(float(value), spec)
    if not any(ch in "123456789" for ch in text):  # rounds to zero: no sign
        text = text.lstrip("+-")
    return text.replace("-", MINUS)


def pct(value: Any, digits: int = 0, signed: bool = False) -> str:
    """12.3% (`signed`: +12.3%, as an effect reads), −4.2%; "—" for None."""
    if value is None:
        return MISSING
    return number(value, f"{'+' if signed else ''}.{digits}f") + "%"


def money(value: Any, spec: str = ",.0f", scale: float = 1.0, suffix: str = "") -> str:
    """$1,234, −$1,234; `scale` and `suffix` for short forms ($530k: 1e3 and "k"); "—" for None."""
    if value is None:
        return MISSING
    amount = float(value)
    text = number(abs(amount) / scale, spec)
    sign = MINUS if amount < 0 and any(ch in "123456789" for ch in text) else ""
    return f"{sign}${text}{suffix}"
