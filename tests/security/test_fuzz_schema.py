"""Property-based fuzz of the whole schema: hypothesis-graphql generates valid queries and mutations
(every field, argument and input, with random values) from the exported SDL; a real server answers
each one as a signed-in user. Zero server errors: no 5xx and no ``INTERNAL``.

(schemathesis drives GraphQL through the same hypothesis-graphql strategies; using them directly lets
the server run in-process on the test's databases.)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, nodes, queries

from app.config import Settings
from tests.support.server import GraphQLClient, live_server

SDL = (Path(__file__).resolve().parents[2] / "schema.graphql").read_text()
ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"

_any_text = st.text(max_size=40)
CUSTOM_SCALARS = {
    "Sats": st.integers(min_value=-(2**63), max_value=2**63).map(nodes.Int),
    "MilliSats": st.one_of(st.integers(min_value=-(10**25), max_value=10**25).map(str), _any_text).map(nodes.String),
    "Decimal": st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True, places=None).map(str), _any_text
    ).map(nodes.String),
    "Date": st.one_of(st.dates().map(str), _any_text).map(nodes.String),
    "DateTime": st.one_of(st.datetimes().map(lambda d: d.isoformat()), _any_text).map(nodes.String),
    "JSON": _any_text.map(nodes.String),
}


@pytest.fixture
def threaded_server(settings: Settings) -> Iterator[tuple[str, str]]:
    """The live server on its own event loop in a thread, so hypothesis can drive it synchronously."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        box["stop"] = (asyncio.get_running_loop(), stop)
        async with live_server(settings) as srv:
            client = GraphQLClient(srv.url)
            try:
                box["token"] = await client.register("fuzz@example.com")
                client.token = box["token"]
                wallet = await client(
                    "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }",
                    {"i": {"name": "fuzz wallet", "source": ZPUB, "network": "MAINNET"}},
                )
                box["wallet"] = wallet["data"]["importWallet"]["id"]
            finally:
                await client.aclose()
            box["url"] = srv.url
            ready.set()
            await stop.wait()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced by the fixture below
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=run, name="fuzz-server", daemon=True)
    thread.start()
    assert ready.wait(120), "server did not start"
    if "error" in box:
        raise box["error"]
    yield box["url"], box["token"]
    loop, stop = box["stop"]
    loop.call_soon_threadsafe(stop.set)
    thread.join(60)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_no_query_or_mutation_is_a_server_error(threaded_server: tuple[str, str], data: st.DataObject) -> None:
    url, token = threaded_server
    strategy = st.one_of(queries(SDL, custom_scalars=CUSTOM_SCALARS), mutations(SDL, custom_scalars=CUSTOM_SCALARS))
    document = data.draw(strategy, label="document")
    resp = httpx.post(
        f"{url}/graphql", json={"query": document}, headers={"authorization": f"Bearer {token}"}, timeout=60
    )
    assert resp.status_code < 500, resp.text[:500]
    body = resp.json()
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
    assert "INTERNAL" not in codes, body["errors"]
    assert all(c for c in codes), body["errors"]  # every error has a code
