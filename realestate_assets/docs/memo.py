"""Render the investor memo: context → HTML (Jinja2) → PDF (WeasyPrint)."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from realestate_assets.db.warehouse import json_safe

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Bump when the template's output changes: packets are regenerated only when this or their
# inputs change.
TEMPLATE_VERSIONS = {"investor_memo": "1"}


@cache
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined)
    env.filters["usd"] = lambda v: "—" if v is None else f"${float(v):,.0f}"
    env.filters["num"] = lambda v, d=0: "—" if v is None else f"{float(v):,.{d}f}"
    env.filters["pct"] = lambda v, d=0: "—" if v is None else f"{float(v):.{d}f}%"
    return env


def inputs_hash(template: str, context: dict[str, Any]) -> str:
    payload = json.dumps({"template": template, "version": TEMPLATE_VERSIONS[template],
                          "context": json_safe(context)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def render_html(template: str, context: dict[str, Any]) -> str:
    return _environment().get_template(f"{template}.html.j2").render(**context)


def render_pdf(template: str, context: dict[str, Any]) -> bytes:
    from weasyprint import HTML  # heavy import, only where PDFs are made

    return HTML(string=render_html(template, context), base_url=str(TEMPLATES)).write_pdf()
