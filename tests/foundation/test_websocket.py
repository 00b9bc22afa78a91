"""graphql-transport-ws handshake rules over a real WebSocket against uvicorn."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.server import GraphQLClient, LiveServer

PROTO = "graphql-transport-ws"


async def _closed_code(ws: Any, timeout: float = 5) -> int:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed as exc:
        assert exc.rcvd is not None
        return int(exc.rcvd.code)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"ws_init_timeout_s": 0.5}


async def test_auth_in_connection_init_and_query_over_ws(server: LiveServer, gql: GraphQLClient) -> None:
    token = await gql.register("ws@example.com")
    async with websockets.connect(server.ws_url, subprotocols=[PROTO]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": {"query": "{ viewer { email } }"}}))
        msg = json.loads(await ws.recv())
        assert msg["type"] == "next" and msg["payload"]["data"]["viewer"]["email"] == "ws@example.com"
        assert json.loads(await ws.recv())["type"] == "complete"


async def test_bad_token_is_rejected_4403(server: LiveServer) -> None:
    async with websockets.connect(server.ws_url, subprotocols=[PROTO]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer mbf_nope"}}))
        assert await _closed_code(ws) == 4403


async def test_init_timeout_4408(server: LiveServer) -> None:
    async with websockets.connect(server.ws_url, subprotocols=[PROTO]) as ws:
        assert await _closed_code(ws) == 4408


async def test_subscribe_before_ack_4401(server: LiveServer) -> None:
    async with websockets.connect(server.ws_url, subprotocols=[PROTO]) as ws:
        await ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": {"query": "{ viewer { id } }"}}))
        assert await _closed_code(ws) == 4401


async def test_duplicate_init_4429(server: LiveServer) -> None:
    async with websockets.connect(server.ws_url, subprotocols=[PROTO]) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"type": "connection_init"}))
        assert await _closed_code(ws) == 4429


async def test_malformed_message_4400(server: LiveServer) -> None:
    async with websockets.connect(server.ws_url, subprotocols=[PROTO]) as ws:
        await ws.send("this is not json")
        assert await _closed_code(ws) == 4400


async def test_legacy_protocol_off_by_default(server: LiveServer) -> None:
    with pytest.raises((InvalidStatus, ConnectionClosed, websockets.InvalidHandshake)):
        async with websockets.connect(server.ws_url, subprotocols=["graphql-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init"}))
            await asyncio.wait_for(ws.recv(), 5)
