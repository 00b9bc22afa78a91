"""priceUpdated / portfolioValueChanged over a real WebSocket, driven by one poll of the price
service against the local provider server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.prices.server import FakeApis, serve_fake_apis
from tests.subscriptions.wsclient import WS
from tests.support.server import GraphQLClient, LiveServer
from tests.support.signals import registered


@pytest.fixture
def apis() -> Iterator[FakeApis]:
    with serve_fake_apis() as a:
        yield a


@pytest.fixture
def settings_overrides(apis: FakeApis) -> dict[str, Any]:
    return {"price_timeout_s": 2.0, **apis.settings_urls()}


PRICE = 'subscription { priceUpdated(currency: "USD") { currency value source } }'
VALUE = (
    "subscription($p: ID!) { portfolioValueChanged(portfolioId: $p) { id occurredAt portfolioId value currency "
    "balance price { value source } portfolio { id name } } }"
)


async def test_price_tick_and_portfolio_value_reach_the_subscriber(
    server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    body = await gql(
        "mutation($i: CreatePortfolioInput!) { createPortfolio(input: $i) { id } }",
        {"i": {"name": "Savings", "walletIds": []}},
    )
    pid = body["data"]["createPortfolio"]["id"]
    ws = await WS.open(server.ws_url)
    assert (await ws.init(user_token))["type"] == "connection_ack"
    async with registered(server, 2):
        await ws.subscribe("price", PRICE)
        await ws.subscribe("value", VALUE, {"p": pid})

    await server.container.prices.poll_once()
    got = {}
    for _ in range(2):
        msg = await ws.recv()
        got[msg["id"]] = msg["payload"]["data"]
    price = got["price"]["priceUpdated"]
    assert price == {"currency": "USD", "value": "123456.78", "source": "coinbase"}
    value = got["value"]["portfolioValueChanged"]
    assert value["portfolioId"] == pid and value["value"] == "0.00" and value["currency"] == "USD"
    assert value["balance"] == 0 and value["price"] == {"value": "123456.78", "source": "coinbase"}
    assert value["portfolio"] == {"id": pid, "name": "Savings"}

    # another user cannot follow this portfolio
    bob = await gql.register("bob@example.com")
    ws2 = await WS.open(server.ws_url)
    assert (await ws2.init(bob))["type"] == "connection_ack"
    await ws2.subscribe("v", VALUE, {"p": pid})
    msg = await ws2.recv()
    errors = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    await ws.close()
    await ws2.close()
