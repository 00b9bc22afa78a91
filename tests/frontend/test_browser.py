"""A real browser on another origin uses the API: headless Chromium (Debian's package, driven by
playwright-core from tests/browser, both installed by `make install-test`) loads a page served by a
second local server on another port; the page calls /graphql with fetch and a bearer token and
opens a graphql-ws subscription (the npm client), which receives an event. A page from an origin
not in MBF_CORS_ORIGINS can do neither. Skipped only where no browser can be installed, never
under CI=true."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Route

from tests.support.server import GraphQLClient, LiveServer
from tests.support.signals import registered, until
from tests.wallets.helpers import import_wallet

ROOT = Path(__file__).resolve().parents[2]
BROWSER_DIR = ROOT / "tests" / "browser"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NODE = shutil.which("node")
RENAME = "mutation($id: ID!, $n: String!) { renameWallet(id: $id, name: $n) { name } }"
ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"


def _missing() -> str | None:
    if CHROMIUM is None:
        return "chromium not installed (make install-test installs Debian's chromium)"
    if NODE is None:
        return "node not installed"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return "tests/browser packages not installed (make install-test runs scripts/install-browser-test.sh)"
    return None


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    missing = _missing()
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser test cannot run under CI: {missing}")
        pytest.skip(missing)


def page_app() -> Starlette:
    """The frontend's own server: the page, its script and the graphql-ws client from npm."""
    files = {
        "/": BROWSER_DIR / "page.html",
        "/page.js": BROWSER_DIR / "page.js",
        "/graphql-ws.js": BROWSER_DIR / "node_modules" / "graphql-ws" / "umd" / "graphql-ws.min.js",
    }

    def serve(path: Path) -> Any:
        async def endpoint(request: Any) -> FileResponse:
            return FileResponse(path)

        return endpoint

    return Starlette(routes=[Route(url, serve(path)) for url, path in files.items()])


@contextlib.asynccontextmanager
async def page_server() -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(page_app(), host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started, "the page server started", 10)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def pages() -> AsyncIterator[tuple[str, str]]:
    """(an allowed origin, an origin not in the list): two page servers on two other ports."""
    async with page_server() as allowed, page_server() as other:
        yield allowed, other


@pytest.fixture
def settings_overrides(pages: tuple[str, str]) -> dict[str, Any]:
    return {
        "cors_origins": [pages[0]],
        # The imported wallet's first sync must never reach a public chain server.
        "esplora_url": "http://127.0.0.1:9",
        "chain_retries": 0,
        "sync_interval_s": 3600,
    }


async def open_page(origin: str, api: str, token: str, wallet_id: str) -> asyncio.subprocess.Process:
    url = f"{origin}/?{urlencode({'api': api, 'token': token, 'wallet': wallet_id})}"
    return await asyncio.create_subprocess_exec(
        str(NODE), str(BROWSER_DIR / "drive.mjs"), url, str(CHROMIUM),
        cwd=BROWSER_DIR, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def outcome(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def test_a_page_on_an_allowed_origin_queries_and_subscribes(
    pages: tuple[str, str], server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    wallet = await import_wallet(gql, source=ZPUB)
    # One hub reader: the page's subscription (the socket's revocation listener is a callback, not counted).
    async with registered(server, 1, wait_s=60):
        browser = await open_page(pages[0], server.url, user_token, wallet["id"])
    await gql(RENAME, {"id": wallet["id"], "n": "Seen from the browser"})
    result = await outcome(browser)
    assert result["origin"] == pages[0] and result["fetchError"] is None, result
    assert result["timedOut"] is False, json.dumps(result)
    assert result["fetch"]["status"] == 200
    assert result["fetch"]["body"]["data"] == {"viewer": {"email": "alice@example.com"}}
    assert result["fetch"]["requestId"], "X-Request-ID is exposed to the page"
    assert result["wsError"] is None, result
    assert result["events"] and result["events"][0]["data"]["walletUpdated"]["__typename"], result


async def test_a_page_on_another_origin_is_refused(
    pages: tuple[str, str], server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    wallet = await import_wallet(gql, source=ZPUB)
    result = await outcome(await open_page(pages[1], server.url, user_token, wallet["id"]))
    assert result["origin"] == pages[1] and result["timedOut"] is False, result
    assert result["fetch"] is None and "Failed to fetch" in result["fetchError"], result
    assert result["events"] == [] and result["wsError"], result  # the handshake got 403
