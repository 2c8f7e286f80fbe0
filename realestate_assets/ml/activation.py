"""Which registered model version is active (`ml_models.is_active`): the one statement that
retires the active version, used by the promotion rule's registration (`registry.register`) and
by a platform admin's manual activation (`activate`, the API). No heavy imports: the API loads it.
"""

from __future__ import annotations

from typing import Any

from realestate_assets.db.warehouse import to_json
from realestate_assets.ml.promotion import manual_decision


def retire_others(cur: Any, county: str, name: str, version: str) -> str | None:
    """Retire the county's active model of this kind unless it is `version` (at most one is
    active: ux_ml_models_one_active); the retired version, if any."""
    cur.execute("UPDATE ml_models SET is_active = false, status = 'retired' "
                "WHERE county = %s AND model_name = %s AND version <> %s AND is_active RETURNING version",
                (county, name, version))
    row = cur.fetchone()
    return row[0] if row else None


def activate(cur: Any, model_id: int, reason: str, actor: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Make a registered version the active one of its county and kind, by a person's decision,
    recorded in `promotion` (where the rule records its own). The caller's cursor and transaction
    (the API's, as a platform admin). (before, after) of the row; None when there is no such model."""
    columns = "id, county, model_name, version, is_active, status, promotion"
    cur.execute(f"SELECT {columns} FROM ml_models WHERE id = %s FOR UPDATE", (model_id,))
    names = [c.name for c in cur.description]
    found = cur.fetchone()
    if found is None:
        return None
    before = dict(zip(names, found, strict=True))
    if before["is_active"]:
        return before, before  # already in use: nothing changes, and no new reason overwrites the old one
    replaced = retire_others(cur, before["county"], before["model_name"], before["version"])
    decision = manual_decision(reason, actor, replaced)
    cur.execute(f"UPDATE ml_models SET is_active = true, status = 'active', promotion = %s WHERE id = %s "
                f"RETURNING {columns}", (to_json(decision.as_dict()), model_id))
    return before, dict(zip(names, cur.fetchone(), strict=True))
