"""/metrics after real traffic: GraphQL over HTTP and WebSocket, a sync against the dev chain,
an LND node on devlnd; and how the endpoint is protected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.dev.devchain.runner import DevChain
from app.dev.devlnd import DevLnd
from app.observability.metrics import server_label
from tests.conftest import make_settings
from tests.lightning.test_graphql import connect
from tests.observability.scrape import scrape, scrape_until, value
from tests.subscriptions.wsclient import WS
from tests.support.server import GraphQLClient, LiveServer, error_codes, live_server
from tests.sync.test_api import IMPORT, wait_status


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[DevChain]:
    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path / "chain") as c:
        yield c


@pytest.fixture
def settings_overrides(chain: DevChain) -> dict[str, Any]:
    # response_cache_ttl_s 0: this test counts executed operations, and its repeated identical
    # queries would otherwise be answered from the response cache without executing.
    return {"regtest_esplora_url": chain.esplora_url, "sync_interval_s": 3600, "response_cache_ttl_s": 0}


async def test_metrics_after_real_traffic(
    server: LiveServer, gql: GraphQLClient, user_token: str, chain: DevChain
) -> None:
    url = f"{server.url}/metrics"
    before = await scrape(url)

    # Named and anonymous operations, one refused with BAD_USER_INPUT.
    for _ in range(3):
        await gql("query Viewer { viewer { id } }")
    body = await gql("query Broken { wallet(id: 5) { nope } }", expect_errors=True)
    assert error_codes(body) == ["BAD_USER_INPUT"] * len(body["errors"])

    # A live subscription over a WebSocket.
    ws = await WS.open(server.ws_url)
    assert (await ws.init(user_token))["type"] == "connection_ack"
    await ws.subscribe("1", "subscription Live { events { __typename id } }")
    live = await scrape_until(
        url,
        lambda s: (
            value(s, "mbf_websocket_connections") >= value(before, "mbf_websocket_connections") + 1
            and value(s, "mbf_graphql_subscriptions_active") >= value(before, "mbf_graphql_subscriptions_active") + 1
        ),
    )
    assert value(live, "mbf_websocket_connections") == value(before, "mbf_websocket_connections") + 1

    # A real sync against the dev chain (Esplora); its events reach the subscription.
    w = chain.info["wallets"][0]
    wallet_id = (await gql(IMPORT, {"i": {"name": "m", "source": w["descriptor"], "network": "REGTEST"}}))["data"][
        "importWallet"
    ]["id"]
    assert (await wait_status(gql, wallet_id))["syncStatus"] == "SYNCED"
    event = await ws.recv()
    assert event["type"] == "next"

    after = await scrape_until(
        url,
        lambda s: value(s, "mbf_sync_jobs_total", outcome="ok") > value(before, "mbf_sync_jobs_total", outcome="ok"),
    )

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("mbf_graphql_operations_total", operation="Viewer", type="query", outcome="ok") == 3
    assert delta("mbf_graphql_operation_duration_seconds_count", operation="Viewer", type="query") == 3
    assert delta("mbf_graphql_operations_total", operation="Broken", outcome="error") == 1
    assert delta("mbf_graphql_errors_total", code="BAD_USER_INPUT") >= 1
    assert delta("mbf_sync_jobs_total", backend="esplora", outcome="ok") == 1
    assert delta("mbf_sync_job_duration_seconds_count", backend="esplora") == 1
    assert delta("mbf_sync_addresses_scanned_total", backend="esplora") >= 40
    assert delta("mbf_sync_transactions_total", backend="esplora") == w["expected"]["txCount"]
    devchain = server_label(chain.esplora_url)
    assert delta("mbf_chain_request_duration_seconds_count", server=devchain) > 0
    assert value(after, "mbf_chain_backend_up", server=devchain) == 1
    assert delta("mbf_hub_delivery_lag_seconds_count") >= 1
    assert delta("mbf_db_statement_duration_seconds_count") > 0
    assert value(after, "mbf_db_pool_capacity") > 0
    assert value(after, "mbf_data_dir_free_bytes") > 0
    assert value(after, "mbf_data_dir_size_bytes") >= value(after, "mbf_data_dir_free_bytes")

    # Closing the socket takes the connection and its subscription off the gauges.
    await ws.conn.close()
    await scrape_until(
        url,
        lambda s: (
            value(s, "mbf_websocket_connections") == value(before, "mbf_websocket_connections")
            and value(s, "mbf_graphql_subscriptions_active") == value(before, "mbf_graphql_subscriptions_active")
        ),
    )


async def test_failing_chain_server_is_counted(
    server: LiveServer, gql: GraphQLClient, user_token: str, chain: DevChain
) -> None:
    url = f"{server.url}/metrics"
    await chain.close()
    before = await scrape(url)
    w = chain.info["wallets"][0]
    wallet_id = (await gql(IMPORT, {"i": {"name": "m", "source": w["descriptor"], "network": "REGTEST"}}))["data"][
        "importWallet"
    ]["id"]
    assert (await wait_status(gql, wallet_id))["syncStatus"] == "ERROR"
    devchain = server_label(chain.esplora_url)
    after = await scrape_until(
        url,
        lambda s: (
            value(s, "mbf_sync_jobs_total", outcome="failed") > value(before, "mbf_sync_jobs_total", outcome="failed")
        ),
    )
    assert value(after, "mbf_chain_request_failures_total", server=devchain) > value(
        before, "mbf_chain_request_failures_total", server=devchain
    )
    assert value(after, "mbf_chain_backend_up", server=devchain) == 0


async def test_lnd_calls_and_streams(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    url = f"{server.url}/metrics"
    before = await scrape(url)
    async with DevLnd.start(seed=7) as node:
        await connect(gql, node)
        up = await scrape_until(
            url, lambda s: value(s, "mbf_lnd_streams", state="up") >= value(before, "mbf_lnd_streams", state="up") + 3
        )
        assert value(up, "mbf_lnd_call_duration_seconds_count", method="GetInfo", outcome="ok") > value(
            before, "mbf_lnd_call_duration_seconds_count", method="GetInfo", outcome="ok"
        )
    # The node went away: its streams are down and being restarted.
    down = await scrape_until(
        url,
        lambda s: (
            value(s, "mbf_lnd_streams", state="down") >= value(before, "mbf_lnd_streams", state="down") + 3
            and value(s, "mbf_lnd_stream_restarts_total") >= value(before, "mbf_lnd_stream_restarts_total") + 3
        ),
    )
    assert value(down, "mbf_lnd_streams", stream="invoices", state="up") == value(
        before, "mbf_lnd_streams", stream="invoices", state="up"
    )


@pytest.mark.parametrize(
    ("overrides", "auth", "status"),
    [
        ({"metrics_token": "t" * 32}, None, 401),
        ({"metrics_token": "t" * 32}, "wrong", 401),
        ({"metrics_token": "t" * 32}, "t" * 32, 200),
        ({"env": "production"}, None, 403),
        ({"env": "production", "metrics_token": "t" * 32}, "t" * 32, 200),
        ({"metrics_port": 1}, None, 404),
    ],
)
async def test_metrics_protection(
    tmp_path: Path, database_url: str, overrides: dict[str, Any], auth: str | None, status: int
) -> None:
    settings = make_settings(tmp_path, database_url, **overrides)
    async with live_server(settings) as srv, httpx.AsyncClient(base_url=srv.url) as client:
        headers = {"authorization": f"Bearer {auth}"} if auth else {}
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == status, response.text
        if status == 200:
            assert "mbf_graphql_operations_total" in response.text
        elif status != 404:
            assert response.json()["errors"][0]["extensions"]["code"] in ("UNAUTHENTICATED", "FORBIDDEN")
            assert "MBF_METRICS" in response.json()["errors"][0]["message"]


async def test_anonymous_and_hostile_operation_names_stay_bounded(server: LiveServer, gql: GraphQLClient) -> None:
    url = f"{server.url}/metrics"
    before = await scrape(url)
    await asyncio.gather(*(gql(f"query Op{i} {{ __typename }}") for i in range(5)))
    await gql("{ __typename }")
    after = await scrape(url)
    assert value(after, "mbf_graphql_operations_total", operation="anonymous") == (
        value(before, "mbf_graphql_operations_total", operation="anonymous") + 1
    )
    for i in range(5):
        assert value(after, "mbf_graphql_operations_total", operation=f"Op{i}") >= 1


async def test_pool_capacity_released_once_per_store(tmp_path: Path) -> None:
    """Disposing a store twice (container stop, then a fixture) must not take another store's capacity away."""
    from app.observability.metrics import DB_POOL_CAPACITY
    from app.store.db import Store

    base = DB_POOL_CAPACITY._value.get()
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'a.sqlite3'}")
    added = DB_POOL_CAPACITY._value.get() - base
    await store.dispose()
    await store.dispose()
    assert DB_POOL_CAPACITY._value.get() == base and added >= 0
