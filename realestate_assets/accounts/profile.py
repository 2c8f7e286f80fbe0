"""A person's own profile: the name the dashboard shows and which notifications they want
(users.display_name, users.notification_preferences; migration 0028). An account's, whatever
tenant it acts in. The notifications are the dashboard's live toasts (dashboard/src/lib/live.ts
filters them by these names, the kinds of the API's live events) and one email, `search_alert`
(the digest of a saved search's new matches, outreach/search_alerts.py).
"""

from __future__ import annotations

from typing import Any

from psycopg2.extras import Json

from realestate_assets.db.warehouse import dict_rows

# Live event kind -> what the person is told. Absent from a person's preferences: on.
NOTIFICATIONS: dict[str, str] = {
    "new_deal": "a new deal in a followed county",
    "campaign_send": "a campaign send started",
    "campaign_progress": "a campaign's emails went out",
    "run_finished": "a pipeline run of a followed county finished",
    "search_alert": "an email listing new matches of your saved searches with alerts on",
}


def wants(preferences: dict[str, bool] | None, name: str) -> bool:
    """Whether the person wants notification `name` (absent from their preferences: yes)."""
    return effective(preferences or {})[name]


def unknown_notifications(preferences: dict[str, bool]) -> list[str]:
    return sorted(set(preferences) - set(NOTIFICATIONS))


def effective(preferences: dict[str, bool]) -> dict[str, bool]:
    """Every notification with the person's choice, or on."""
    return {name: bool(preferences.get(name, True)) for name in NOTIFICATIONS}


def read_profile(cur: Any, user_id: int) -> dict[str, Any] | None:
    """The caller's own row (RLS admits it: app.user_id)."""
    cur.execute("SELECT id AS user_id, email, display_name, notification_preferences FROM users WHERE id = %s",
                (user_id,))
    found = dict_rows(cur)
    return found[0] if found else None


def write_profile(cur: Any, user_id: int, display_name: str | None, preferences: dict[str, bool]) -> None:
    cur.execute("UPDATE users SET display_name = %s, notification_preferences = %s WHERE id = %s",
                (display_name, Json(preferences), user_id))
