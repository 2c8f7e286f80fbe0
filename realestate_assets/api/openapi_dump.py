"""Write the API's OpenAPI document to dashboard/openapi.json, the source of the dashboard's typed
client (`npm run build` runs openapi-typescript on it first).

    python -m realestate_assets.api.openapi_dump [PATH]      # or: make api-client

The committed file is checked against `create_app().openapi()` by tests/api/test_openapi_dump.py,
so a route change without `make api-client` fails the tests instead of drifting from the client.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from realestate_assets.settings import repo_root

DEFAULT_PATH = repo_root() / "dashboard" / "openapi.json"


def render() -> str:
    """The document as committed: FastAPI's key order, two-space indent, one final newline."""
    from realestate_assets.api.app import ApiSettings, create_app

    # Placeholder secrets: the document does not depend on them, and dumping must not need the
    # deployment's (nor invent .reos/ files).
    settings = ApiSettings(jwt_secret="openapi-dump-" + "x" * 32, unsubscribe_secret="u" * 32, link_secret="l" * 32)
    return json.dumps(create_app(settings).openapi(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT_PATH
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
