"""Secret fingerprints: the API and pipeline runs prove they hold the same secrets at start-up.

An unsubscribe link is signed by a run and verified by the API; a packet link the same. If the
two were given different secrets, every link in every email would fail — found only when a
customer clicks (a 400 on an unsubscribe: a legal problem, not a bug report). So the first
process to use a configured secret records its fingerprint in `secret_fingerprints`, and every
later one compares: the API at start-up, a run when it first signs. A mismatch is an error
there and then, naming the variable and who recorded the other value.

The fingerprint is HMAC-SHA256 keyed by the secret over a fixed label — it reveals nothing
about the secret and cannot be used to sign anything. Rotating a secret: set the new value
everywhere, then `DELETE FROM secret_fingerprints WHERE name = '<name>'` (links already sent
with the old unsubscribe secret stop working: rotate it only when it leaked).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from realestate_assets.settings import SECRET_VARIABLES

LABEL = "reos secret fingerprint v1:"


class SecretMismatch(RuntimeError):
    """This process holds a different secret than the one recorded by another."""


def fingerprint(name: str, secret: str) -> str:
    return hmac.new(secret.encode(), (LABEL + name).encode(), hashlib.sha256).hexdigest()[:32]


def agree_secrets(conn: Any, secrets: Mapping[str, str], recorded_by: str) -> list[str]:
    """Record each secret's fingerprint if none is recorded yet, else compare with it.
    `conn`: a psycopg2 connection (committed here, so the first recording is kept even when
    the caller fails later). The names recorded now; SecretMismatch on any difference."""
    recorded: list[str] = []
    problems: list[str] = []
    with conn.cursor() as cur:
        for name, secret in sorted(secrets.items()):
            mine = fingerprint(name, secret)
            cur.execute("INSERT INTO secret_fingerprints (name, fingerprint, recorded_by) VALUES (%s, %s, %s) "
                        "ON CONFLICT (name) DO NOTHING RETURNING name", (name, mine, recorded_by[:200]))
            if cur.fetchone() is not None:
                recorded.append(name)
                continue
            cur.execute("SELECT fingerprint, recorded_by, recorded_at FROM secret_fingerprints WHERE name = %s",
                        (name,))
            theirs, by, at = cur.fetchone()
            if not hmac.compare_digest(theirs, mine):
                problems.append(f"{SECRET_VARIABLES.get(name, name)} differs from the one {by} recorded at "
                                f"{at:%Y-%m-%d %H:%M UTC}")
    conn.commit()
    if problems:
        raise SecretMismatch("; ".join(problems) + ": give the API and every pipeline run the same value (if the "
                             "secret was rotated on purpose, DELETE FROM secret_fingerprints WHERE name = … first)")
    return recorded


def agree_secrets_in(warehouse: Any, secrets: Mapping[str, str], recorded_by: str) -> list[str]:
    """`agree_secrets` in its own transaction on a `Warehouse`; nothing to do without secrets."""
    if not secrets:
        return []
    with warehouse.transaction() as conn:
        return agree_secrets(conn, secrets, recorded_by)
