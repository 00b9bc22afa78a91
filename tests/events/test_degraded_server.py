"""A server whose Redis is down at start-up: it starts, /readyz says the hub is degraded, and
live delivery to local subscribers keeps working."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from app.events.envelope import Event
from tests.subscriptions.test_ws import connect, user_id_of
from tests.subscriptions.wsclient import EVENTS
from tests.support.server import GraphQLClient, LiveServer
from tests.support.signals import registered


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"redis_url": f"redis://127.0.0.1:{closed_port()}/0"}


async def test_redis_down_at_start(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    async with httpx.AsyncClient() as c:
        r = await c.get(f"{server.url}/readyz", headers={"authorization": f"Bearer {user_token}"})  # the admin
    assert r.status_code == 200  # the hub is not critical: the server is ready, degraded
    events = r.json()["components"]["events"]
    assert events["backend"] == "redis" and events["status"] == "degraded" and events["error"]

    alice = await user_id_of(gql, user_token)
    ws = await connect(server, user_token)
    async with registered(server, 1):
        await ws.subscribe("1", EVENTS)
    e = Event(type="walletUpdated", user_id=alice, payload={"n": 1})
    await server.container.hub.publish(e)
    msg = await ws.recv()
    assert msg["payload"]["data"]["events"]["id"] == e.id
    # Resuming needs the log: a clear, retryable error instead of a hang.
    await ws.subscribe("2", EVENTS, {"after": e.id})
    msg = await ws.recv()
    errors = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    await ws.close()
