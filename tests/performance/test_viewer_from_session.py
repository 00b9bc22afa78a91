"""``{ viewer { ... } }`` is answered from the signed-in session's cached view of the account (no SQL),
and every change of the account's fields is seen by the very next read: over HTTP (the cached viewer
is dropped) and over a WebSocket kept open since before the change (its viewer's copy is stale)."""

from __future__ import annotations

import pytest

from tests.performance.test_session_cache import statements
from tests.security.accounts_helpers import DISABLE, PASSWORD, code_at, enable_2fa
from tests.subscriptions.wsclient import WS
from tests.support.server import GraphQLClient, LiveServer

ME = "{ viewer { id email role totpEnabled createdAt } }"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    # Sessions from memory (one process: no Redis needed), whole answers never: each read executes.
    return {"session_cache_ttl_s": 30, "response_cache_ttl_s": 0}


async def me(gql: GraphQLClient, token: str) -> dict[str, object]:
    body = await gql(ME, token=token)
    viewer: dict[str, object] = body["data"]["viewer"]
    return viewer


async def ws_me(ws: WS, op_id: str) -> dict[str, object]:
    await ws.subscribe(op_id, ME)
    msg = await ws.recv()
    assert msg["type"] == "next" and msg["id"] == op_id, msg
    assert await ws.recv() == {"id": op_id, "type": "complete"}
    viewer: dict[str, object] = msg["payload"]["data"]["viewer"]
    return viewer


async def test_the_viewer_is_read_without_sql_and_changes_are_seen_at_once(
    server: LiveServer, gql: GraphQLClient
) -> None:
    admin = await gql.register("admin@example.com")
    token = await gql.register("v@example.com")
    first = await me(gql, token)
    assert first["email"] == "v@example.com" and first["totpEnabled"] is False and first["role"] == "USER"
    with statements(server.container) as seen:
        again = await me(gql, token)
    assert again == first and seen == []  # executed, from the session's view: not one statement

    ws = await WS.open(server.ws_url)
    try:
        assert (await ws.init(token))["type"] == "connection_ack"
        assert await ws_me(ws, "1") == first

        # Second factor on: the signed-in session (kept) sees it on its next read, HTTP and WebSocket.
        totp, _codes = await enable_2fa(gql, token)
        assert (await me(gql, token))["totpEnabled"] is True
        assert (await ws_me(ws, "2"))["totpEnabled"] is True
        with statements(server.container) as seen:  # and it is cached again
            assert (await me(gql, token))["totpEnabled"] is True
        assert seen == []

        # A role changed by an admin.
        set_role = "mutation($u: ID!) { setUserRole(userId: $u, role: VIEWER) { role } }"
        assert (await gql(set_role, {"u": first["id"]}, token=admin))["data"]["setUserRole"]["role"] == "VIEWER"
        assert (await me(gql, token))["role"] == "VIEWER"
        assert (await ws_me(ws, "3"))["role"] == "VIEWER"

        # Second factor off again.
        off = await gql(DISABLE, {"o": code_at(totp, 1), "p": PASSWORD}, token=token)
        assert off["data"]["disableTwoFactor"] is True
        assert (await me(gql, token))["totpEnabled"] is False
        assert (await ws_me(ws, "4"))["totpEnabled"] is False
    finally:
        await ws.close()
