"""GraphiQL is served by this server alone (no CDN, works air-gapped).

With the assets built (``make assets``): the page and every file it references come from this server
with the right content types and matching Subresource Integrity hashes, and nothing points elsewhere.
Without them: the page says how to add them. The npm inputs (pinned versions, lockfile with integrity
for every package, page template) are checked whether or not the assets are built.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import app.http.graphiql as graphiql
from tests.support.server import GraphQLClient

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web" / "graphiql"
REMOTE = re.compile(r"(?:https?:|wss?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
}

needs_assets = pytest.mark.skipif(
    not graphiql.assets_present(), reason="GraphiQL assets not built here: run `make assets` (needs npm)"
)


class _Refs(HTMLParser):
    """Every URL-bearing attribute of the page, with the tag's integrity attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str | None]] = []  # (tag, url, integrity)
        self.meta: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "meta" and a.get("name"):
            self.meta[a["name"] or ""] = a.get("content") or ""
        for key in ("src", "href", "action", "srcset", "poster", "data"):
            value = a.get(key)
            if value is not None:
                self.refs.append((tag, value, a.get("integrity")))


def _sri(algo_digest: str, body: bytes) -> bool:
    algo, _, expected = algo_digest.partition("-")
    return base64.b64encode(hashlib.new(algo, body).digest()).decode() == expected


async def _page(gql: GraphQLClient) -> str:
    resp = await gql.http.get("/graphql", headers={"accept": "text/html"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    return resp.text


@needs_assets
async def test_page_and_every_asset_come_from_this_server(gql: GraphQLClient) -> None:
    page = await _page(gql)
    assert REMOTE.search(page) is None, REMOTE.search(page)
    parser = _Refs()
    parser.feed(page)
    assert parser.meta["mbf-graphql-endpoint"] == "/graphql"
    assert "connect-src 'self'" in page and "script-src 'self'" in page  # the CSP keeps it that way

    scripts = [url for tag, url, _ in parser.refs if tag == "script"]
    styles = [url for tag, url, _ in parser.refs if tag == "link" and url.endswith(".css")]
    assert [s.rsplit("/", 1)[-1] for s in scripts] == [
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphiql.min.js",
        "mbf-graphiql.js",
    ]
    assert {s.rsplit("/", 1)[-1] for s in styles} == {"graphiql.min.css", "mbf-graphiql.css"}

    for tag, url, integrity in parser.refs:
        if url.startswith("data:"):
            continue
        assert url.startswith(graphiql.STATIC_URL + "/"), f"{tag} refers outside this server: {url}"
        resp = await gql.http.get(url)
        assert resp.status_code == 200, url
        suffix = Path(url).suffix
        assert resp.headers["content-type"].split(";")[0] in CONTENT_TYPES[suffix], (url, resp.headers)
        assert integrity and _sri(integrity, resp.content), f"integrity of {url} does not match what is served"
        if suffix == ".css":
            css = resp.text
            assert "@import" not in css
            assert all(u.startswith("data:") for u in re.findall(r"url\(\s*['\"]?([^'\")]+)", css)), url
        assert not re.search(r"sourceMappingURL=(?:https?:)?//", resp.text), url


@needs_assets
async def test_asset_directory_is_not_listed_and_unknown_files_404(gql: GraphQLClient) -> None:
    assert (await gql.http.get(graphiql.STATIC_URL + "/")).status_code == 404
    assert (await gql.http.get(graphiql.STATIC_URL + "/nope.js")).status_code == 404
    assert (await gql.http.get(graphiql.STATIC_URL + "/%2e%2e/graphiql.py")).status_code == 404


async def test_without_assets_the_page_says_how_to_add_them(
    gql: GraphQLClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graphiql, "GRAPHIQL_DIR", tmp_path / "absent")
    page = await _page(gql)
    assert "GraphiQL is not installed on this server" in page
    assert "make assets" in page and "<code>/graphql</code>" in page
    assert REMOTE.search(page) is None
    # The API itself still answers.
    assert (await gql("{ viewer { id } }"))["data"] == {"viewer": None}


class TestProduction:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"env": "production"}

    async def test_no_ide_and_no_assets_in_production(self, gql: GraphQLClient) -> None:
        assert (await gql.http.get("/graphql", headers={"accept": "text/html"})).status_code == 404
        assert (await gql.http.get(graphiql.STATIC_URL + "/graphiql.min.js")).status_code == 404


# --- the npm inputs (checked with or without the built assets) -------------------------------------------


def test_versions_are_pinned_and_locked_with_integrity() -> None:
    manifest = json.loads((WEB / "package.json").read_text())
    lock = json.loads((WEB / "package-lock.json").read_text())
    deps: dict[str, str] = manifest["dependencies"]
    assert {"graphiql", "react", "react-dom"} <= set(deps)
    for name, version in deps.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} is not pinned to an exact version: {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, name
    assert deps["graphiql"].startswith("3.") and deps["react"].startswith("18.") and deps["react-dom"].startswith("18.")
    assert lock["lockfileVersion"] >= 2 and lock["packages"][""]["dependencies"] == deps
    packages = {k: v for k, v in lock["packages"].items() if k}
    assert packages
    for name, entry in packages.items():
        assert entry.get("integrity", "").startswith("sha512-"), f"{name} has no sha512 integrity in the lockfile"


def test_page_template_and_bootstrap_have_no_remote_urls() -> None:
    template = (WEB / "index.html").read_text()
    for placeholder in ("__GRAPHQL_ENDPOINT__", "__STATIC__/graphiql.min.js", "@@SRI_GRAPHIQL_JS@@"):
        assert placeholder in template
    for name in ("index.html", "mbf-graphiql.js", "mbf-graphiql.css"):
        text = (WEB / name).read_text()
        assert REMOTE.search(text) is None, (name, REMOTE.search(text))
