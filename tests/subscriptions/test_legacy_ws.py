"""The legacy ``graphql-ws`` subprotocol, only when ``MBF_LEGACY_GRAPHQL_WS`` is on."""

from __future__ import annotations

from typing import Any

import pytest

from app.events.envelope import Event
from tests.subscriptions.test_ws import user_id_of
from tests.subscriptions.wsclient import EVENTS, LEGACY_WS, WS
from tests.support.server import GraphQLClient, LiveServer
from tests.support.signals import registered


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"legacy_graphql_ws": True}


async def test_legacy_protocol_when_enabled(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    alice = await user_id_of(gql, user_token)
    ws = await WS.open(server.ws_url, LEGACY_WS)
    assert ws.conn.subprotocol == LEGACY_WS
    await ws.send({"type": "connection_init", "payload": {"authorization": f"Bearer {user_token}"}})
    assert (await ws.recv())["type"] == "connection_ack"
    async with registered(server, 1):
        await ws.send({"id": "1", "type": "start", "payload": {"query": EVENTS}})
    e = Event(type="walletUpdated", user_id=alice, payload={"n": 1})
    await server.container.hub.publish(e)
    msg = await ws.recv()
    assert msg["type"] == "data" and msg["payload"]["data"]["events"]["id"] == e.id
    await ws.close()


async def test_legacy_protocol_rejects_a_bad_token(server: LiveServer) -> None:
    ws = await WS.open(server.ws_url, LEGACY_WS)
    await ws.send({"type": "connection_init", "payload": {"authorization": "Bearer nope"}})
    msg = await ws.recv()
    assert msg["type"] == "connection_error"


async def test_legacy_oversized_frame_4400_and_logout_4403(
    server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    big = await WS.open(server.ws_url, LEGACY_WS)
    await big.send("x" * (server.settings.ws_max_message_bytes + 1))
    assert (await big.closed())[0] == 4400

    ws = await WS.open(server.ws_url, LEGACY_WS)
    await ws.send({"type": "connection_init", "payload": {"authorization": f"Bearer {user_token}"}})
    assert (await ws.recv())["type"] == "connection_ack"
    async with registered(server, 1):
        await ws.send({"id": "1", "type": "start", "payload": {"query": EVENTS}})
    assert (await gql("mutation { logout }"))["data"]["logout"] is True
    assert (await ws.closed())[0] == 4403
