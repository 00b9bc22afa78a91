"""GraphiQL served by this server from locally installed assets (no CDN: works air-gapped).

The assets come from npm (``web/graphiql/package.json`` + lockfile, built by ``scripts/build-graphiql.sh``)
into ``app/http/static/graphiql`` (``make assets``; always in the Docker image). Without them the page
says how to add them. See ``docs/graphiql.md``.
"""

from __future__ import annotations

import html
from pathlib import Path

from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from app.http.errors import error_response

STATIC_DIR = Path(__file__).resolve().parent / "static"
GRAPHIQL_DIR = STATIC_DIR / "graphiql"
STATIC_URL = "/static/graphiql"

_MISSING = """<!doctype html><html><head><meta charset="utf-8"><title>GraphiQL assets missing</title></head>
<body style="font-family:sans-serif;max-width:42em;margin:3em auto">
<h1>GraphiQL is not installed on this server</h1>
<p>The API at <code>{endpoint}</code> works; only the in-browser IDE's JavaScript and CSS are missing.
They are installed from npm at pinned, integrity-checked versions and served by this server (no CDN).</p>
<p>To add them, run in the project directory (needs Node.js and npm):</p>
<pre>make assets</pre>
<p>then reload this page. The Docker image always includes them.</p></body></html>"""


def assets_present() -> bool:
    return (GRAPHIQL_DIR / "index.html").is_file()


def graphiql_page(endpoint: str) -> str:
    if not assets_present():
        return _MISSING.format(endpoint=html.escape(endpoint))
    page = (GRAPHIQL_DIR / "index.html").read_text()
    return page.replace("__GRAPHQL_ENDPOINT__", html.escape(endpoint)).replace("__STATIC__", STATIC_URL)


class GraphiQLAssets:
    """The asset files; a 404 in the contract's shape (not a 500) while they are not installed."""

    def __init__(self) -> None:
        self.files = StaticFiles(directory=GRAPHIQL_DIR, check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not GRAPHIQL_DIR.is_dir():
            message = "GraphiQL assets are not installed on this server (run `make assets`)."
            await error_response(404, message, "NOT_FOUND")(scope, receive, send)
            return
        await self.files(scope, receive, send)
