"""Local HTTP servers for the fakes of outside services, all on pytest-httpserver.

`serve(handler)` starts pytest-httpserver's `HTTPServer` on 127.0.0.1 (an ephemeral port),
threaded so concurrent clients and slow answers do not queue behind each other, with one
catch-all handler `werkzeug.Request -> werkzeug.Response`: the fakes decide their answers from
the request themselves, as the real services do. Call `.stop()` (or use it as a context
manager) when done. Also usable outside pytest (the benches).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

# werkzeug logs every request at INFO to stderr unless told otherwise: noise, and slow in benches.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

Handler = Callable[[Request], Response]


def serve(handler: Handler) -> HTTPServer:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(re.compile(".*")).respond_with_handler(handler)
    server.start()
    return server


def base_url(server: HTTPServer) -> str:
    return server.url_for("").rstrip("/")


def listing_page_site(documents: Sequence[dict[str, Any]]) -> HTTPServer:
    """A listing site whose every page carries `documents` as JSON-LD; robots.txt allows all."""
    page = ("<html><head>" + "".join(
        f"<script type='application/ld+json'>{json.dumps(d)}</script>" for d in documents)
        + "</head><body>listings</body></html>").encode()

    def site(request: Request) -> Response:
        if request.path == "/robots.txt":
            return Response(b"User-agent: *\nAllow: /\n", content_type="text/plain")
        return Response(page, content_type="text/html; charset=utf-8")

    return serve(site)
