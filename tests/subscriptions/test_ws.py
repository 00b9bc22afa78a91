"""GraphQL subscriptions over a real WebSocket against uvicorn: delivery, resume, isolation,
ownership, the protocol's close codes, limits, token lifetime, keep-alive, shared execution."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.events.envelope import Event
from app.store.models.accounts import AuthSession
from app.store.models.base import utcnow
from subscriptions.registry import LiveConnections
from tests.subscriptions.wsclient import EVENTS, LEGACY_WS, WS
from tests.support.server import GraphQLClient, LiveServer
from tests.support.signals import hub_subscribers, registered, until
from tests.wallets.helpers import import_wallet

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "ws_init_timeout_s": 0.5,
        "ws_keepalive_s": 0.3,
        "ws_max_connections_per_user": 3,
        "ws_max_subscriptions_per_connection": 3,
        "ws_max_message_bytes": 4096,
        # Wallet imports here must never reach public chain servers: their first sync fails fast.
        "esplora_url": "http://127.0.0.1:9",
        "sync_interval_s": 3600,
        "chain_retries": 0,
    }


async def connect(server: LiveServer, token: str | None) -> WS:
    ws = await WS.open(server.ws_url)
    assert (await ws.init(token)) == {"type": "connection_ack"}  # no payload: nothing to say
    return ws


async def publish(server: LiveServer, event: Event) -> None:
    await server.container.hub.publish(event)


async def scalar(server: LiveServer, query: Any) -> Any:
    async with server.container.store.read() as s:
        return (await (await s.connection()).execute(query)).scalar()


async def sync_failed(gql: GraphQLClient, wallet_id: str) -> None:
    """Wait (bounded) until the import's first sync (to an unreachable server) has given up."""
    async with asyncio.timeout(20):
        while True:
            body = await gql("query($id: ID!) { wallet(id: $id) { syncStatus } }", {"id": wallet_id})
            if body["data"]["wallet"]["syncStatus"] == "ERROR":
                return
            await asyncio.sleep(0.05)


async def user_id_of(gql: GraphQLClient, token: str) -> str:
    body = await gql("{ viewer { id } }", token=token)
    return str(body["data"]["viewer"]["id"])


async def test_events_live_and_isolated_per_user(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    bob_token = await gql.register("bob@example.com")
    alice, bob = await user_id_of(gql, user_token), await user_id_of(gql, bob_token)
    a, b = await connect(server, user_token), await connect(server, bob_token)
    async with registered(server, 2):
        await a.subscribe("1", EVENTS)
        await b.subscribe("1", EVENTS)
    most = 2_100_000_000_000_000  # 21 million BTC in sats: beyond a 32-bit Int, exact as Sats
    balance = {"confirmed": most, "unconfirmed": -5, "total": most - 5}
    payload = {"walletId": "w1", "balance": balance, "txCount": 3, "tipHeight": 800_000}
    e = Event(type="walletUpdated", user_id=alice, subject="w1", payload=payload)
    await publish(server, e)
    await publish(server, Event(type="walletUpdated", user_id=bob, subject="w2", payload={"change": "renamed"}))
    got = await a.recv()
    assert got["type"] == "next" and got["id"] == "1"
    ev = got["payload"]["data"]["events"]
    assert ev["id"] == e.id and ev["__typename"] == "WalletUpdate" and ev["walletId"] == "w1"
    assert ev["change"] == "SYNCED" and ev["balance"] == balance
    assert ev["txCount"] == 3 and ev["tipHeight"] == 800_000
    got_b = await b.recv()  # Bob sees only his own
    ev_b = got_b["payload"]["data"]["events"]
    assert ev_b["walletId"] == "w2" and ev_b["change"] == "RENAMED" and ev_b["balance"] is None
    await a.close()
    await b.close()


async def test_events_resume_after_id_then_live(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    alice = await user_id_of(gql, user_token)
    sent = [Event(type="walletUpdated", user_id=alice, payload={"n": n}) for n in range(5)]
    for e in sent:
        await publish(server, e)
    ws = await connect(server, user_token)
    await ws.subscribe("r", EVENTS, {"after": sent[1].id})
    # The replayed events come after the live subscription exists (follow() subscribes first).
    got = [(await ws.recv())["payload"]["data"]["events"]["id"] for _ in range(3)]
    assert got == [e.id for e in sent[2:]]
    later = Event(type="transactionReceived", user_id=alice, payload={"n": 5})
    await publish(server, later)
    assert (await ws.recv())["payload"]["data"]["events"]["id"] == later.id
    # A bad cursor is a user error, not a crash.
    await ws.subscribe("bad", EVENTS, {"after": "nope"})
    msg = await ws.recv()
    assert msg["id"] == "bad"
    errors = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    await ws.close()


WALLET = "subscription($w: ID!) { walletUpdated(walletId: $w) { id walletId change } }"


async def test_another_users_object_is_not_found_and_streams_nothing(
    server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    bob_token = await gql.register("bob@example.com")
    bob = await user_id_of(gql, bob_token)
    alice_object = (await import_wallet(gql, source=ZPUB))["id"]
    bob_gql = GraphQLClient(server.url)
    bob_gql.token = bob_token
    bobs_object = (await import_wallet(bob_gql, source=ZPUB))["id"]
    await bob_gql.aclose()
    ws = await connect(server, user_token)
    await ws.subscribe("x", WALLET, {"w": bobs_object})
    msg = await ws.recv()
    assert msg["id"] == "x" and msg["type"] in ("next", "error")
    errors = msg["payload"]["errors"] if msg["type"] == "next" else msg["payload"]
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    if msg["type"] == "next":
        assert (await ws.recv()) == {"id": "x", "type": "complete"}
    # Bob's events for that object never reach Alice, whatever the arguments say.
    async with registered(server, 1):
        await ws.subscribe("own", WALLET, {"w": alice_object})
    await publish(server, Event(type="walletUpdated", user_id=bob, subject=bobs_object, payload={"n": 1}))
    alice = await user_id_of(gql, user_token)
    mine = Event(type="walletUpdated", user_id=alice, subject=alice_object, payload={"n": 2})
    await publish(server, Event(type="walletUpdated", user_id=alice, subject="other", payload={"n": 3}))
    await publish(server, mine)
    got = await ws.recv()
    assert got["id"] == "own" and got["payload"]["data"]["walletUpdated"]["id"] == mine.id
    await ws.close()


async def test_unauthenticated_user_subscription_and_public_prices(server: LiveServer, user_token: str) -> None:
    anon = await connect(server, None)
    await anon.subscribe("e", EVENTS)
    msg = await anon.recv()
    errors = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    async with registered(server, 1):
        await anon.subscribe("p", 'subscription { priceUpdated(currency: "usd") { currency value source at } }')
    at = "2026-11-25T18:00:12+00:00"
    for code, value in (("EUR", "1"), ("USD", "97123.45")):
        payload = {"currency": code, "value": value, "at": at, "source": "kraken"}
        await publish(server, Event(type="priceUpdated", user_id=None, subject=code, payload=payload))
    msg = await anon.recv()
    while msg["id"] == "e":  # the `complete` of the failed subscription
        msg = await anon.recv()
    assert msg["id"] == "p"
    price = msg["payload"]["data"]["priceUpdated"]
    assert price == {"currency": "USD", "value": "97123.45", "source": "kraken", "at": at}
    await anon.close()


async def test_shared_execution_one_group_many_sockets(
    server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    bob_token = await gql.register("bob@example.com")
    alice = await user_id_of(gql, user_token)
    wallet = (await import_wallet(gql, source=ZPUB))["id"]
    await sync_failed(gql, wallet)  # the import's first sync publishes its own events
    marker = Event(type="walletUpdated", user_id=alice, subject="-", payload={})
    await publish(server, marker)  # the latest event of Alice's: resuming after it replays nothing
    baseline = hub_subscribers(server)  # the server's own hub listeners (e.g. the wallet key cache)
    socks = [await connect(server, t) for t in (user_token, user_token, bob_token)]
    price = 'subscription { priceUpdated(currency: "USD") { value } }'
    # One hub reader per shared execution: prices (public), Alice's events, Bob's events, Alice's wallet.
    async with registered(server, 4):
        for i, ws in enumerate(socks):
            await ws.subscribe(f"e{i}", EVENTS)
            await ws.subscribe(f"p{i}", price)
        for i, ws in enumerate(socks[:2]):
            await ws.subscribe(f"w{i}", WALLET, {"w": wallet})
    registry = server.live
    # priceUpdated: one execution for everyone (public); walletUpdated and live-only events: one
    # per user; events(after: <id>) is never shared (each subscriber has its own cursor).
    bob = await user_id_of(gql, bob_token)
    resumer = await connect(server, user_token)
    async with registered(server, 1):
        await resumer.subscribe("resume", EVENTS, {"after": marker.id})
    await until(lambda: sum(len(g.members) for g in registry.shared.groups.values()) == 8, "8 shared subscribers")
    groups = {(g.key[0] or "public", "events" in g.key[1]): g for g in registry.shared.groups.values()}
    assert {k: len(g.members) for k, g in groups.items()} == {
        ("public", False): 3,
        (alice, False): 2,
        (alice, True): 2,
        (bob, True): 1,
    }
    await publish(server, Event(type="priceUpdated", user_id=None, subject="USD", payload={"value": "1.5"}))
    for ws in socks:
        msg = await ws.recv()
        assert msg["id"].startswith("p"), msg
        assert msg["payload"]["data"]["priceUpdated"] == {"value": "1.5"}
    e = Event(type="walletUpdated", user_id=alice, subject=wallet, payload={"n": 1})
    await publish(server, e)
    for n, ws in enumerate(socks[:2]):
        got = {m["id"]: m for m in [await ws.recv(), await ws.recv()]}  # events + walletUpdated
        assert got[f"w{n}"]["payload"]["data"]["walletUpdated"]["id"] == e.id
        assert got[f"e{n}"]["payload"]["data"]["events"]["id"] == e.id
    assert (await resumer.recv())["payload"]["data"]["events"]["id"] == e.id
    await resumer.close()
    # Executed once per event, not once per subscriber.
    assert {k: g.results for k, g in groups.items()} == {
        ("public", False): 1,
        (alice, False): 1,
        (alice, True): 1,
        (bob, True): 0,
    }
    # Completing one subscriber keeps the others; the last one out ends the execution.
    for i, ws in enumerate(socks[:2]):
        await ws.send({"id": f"p{i}", "type": "complete"})
    await until(lambda: len(groups[("public", False)].members) == 1, "two of three price subscribers gone")
    assert groups[("public", False)] in registry.shared.groups.values()  # the last one keeps it running
    await socks[2].send({"id": "p2", "type": "complete"})
    await until(lambda: "public" not in [g.key[0] or "public" for g in registry.shared.groups.values()], "prices ended")
    for ws in socks:
        await ws.close()
    await until(lambda: not registry.shared.groups and not registry.all, "every group and connection gone")
    assert registry.shared.groups == {}
    assert registry.all == set()
    assert hub_subscribers(server) == baseline


# -- protocol rules -----------------------------------------------------------------------------


async def test_init_timeout_4408(server: LiveServer) -> None:
    ws = await WS.open(server.ws_url)
    assert (await ws.closed())[0] == 4408


async def test_duplicate_init_4429(server: LiveServer, user_token: str) -> None:
    ws = await connect(server, user_token)
    await ws.send({"type": "connection_init", "payload": {}})
    assert (await ws.closed())[0] == 4429


async def test_subscribe_before_ack_4401(server: LiveServer) -> None:
    ws = await WS.open(server.ws_url)
    await ws.subscribe("1", EVENTS)
    assert (await ws.closed())[0] == 4401


async def test_duplicate_operation_id_4409(server: LiveServer, user_token: str) -> None:
    ws = await connect(server, user_token)
    await ws.subscribe("same", EVENTS)
    await ws.subscribe("same", EVENTS)
    assert (await ws.closed())[0] == 4409


async def test_init_accepts_the_header_name_capitalised(
    server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    alice = await user_id_of(gql, user_token)
    ws = await WS.open(server.ws_url)
    await ws.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {user_token}"}})
    assert (await ws.recv())["type"] == "connection_ack"
    async with registered(server, 1):  # signed in: a subscription to one's own events is accepted
        await ws.subscribe("1", EVENTS)
    e = Event(type="walletUpdated", user_id=alice, payload={"n": 1})
    await publish(server, e)
    msg = await ws.recv()
    assert msg["type"] == "next" and msg["payload"]["data"]["events"]["id"] == e.id
    await ws.close()


async def test_invalid_token_4403(server: LiveServer) -> None:
    ws = await WS.open(server.ws_url)
    await ws.send({"type": "connection_init", "payload": {"authorization": "Bearer nope"}})
    assert (await ws.closed())[0] == 4403
    for odd in (123, ["Bearer x"], {"token": "x"}):  # not a string: refused the same way, no crash
        ws = await WS.open(server.ws_url)
        await ws.send({"type": "connection_init", "payload": {"authorization": odd}})
        assert await ws.closed() == (4403, "Forbidden"), odd


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        b"\x00\x01binary",
        json.dumps([1, 2, 3]),
        json.dumps({"type": 5}),
        json.dumps({"type": "subscribe", "id": "1", "payload": "x"}),
        json.dumps({"type": "subscribe", "id": 7, "payload": {"query": "{x}"}}),
        json.dumps({"type": "subscribe", "id": "1", "payload": {"query": "{x}", "variables": [1]}}),
        json.dumps({"type": "whatever"}),
        json.dumps({"type": "connection_ack"}),
        "x" * 5000,  # over ws_max_message_bytes
        json.dumps({"type": "ping", "payload": {"pad": "é" * 3000}}, ensure_ascii=False),  # bytes > limit
    ],
)
async def test_garbage_and_oversized_frames_4400(server: LiveServer, user_token: str, frame: str | bytes) -> None:
    ws = await connect(server, user_token)
    await ws.send(frame)
    assert (await ws.closed())[0] == 4400
    # The server is unaffected.
    again = await connect(server, user_token)
    await again.send({"type": "ping"})
    assert (await again.recv())["type"] == "pong"
    await again.close()


async def test_syntax_error_in_subscription_closes_4400(server: LiveServer, user_token: str) -> None:
    ws = await connect(server, user_token)
    await ws.subscribe("1", "subscription { events(")
    assert (await ws.closed())[0] == 4400


async def test_subscription_limit_then_flood_4429(server: LiveServer, user_token: str) -> None:
    ws = await connect(server, user_token)
    for i in range(3):
        await ws.subscribe(f"ok{i}", EVENTS)
    await ws.subscribe("over", EVENTS)
    msg = await ws.recv()
    assert msg["type"] == "error" and msg["id"] == "over"
    for i in range(2000):  # thousands of subscribe messages on one socket
        try:
            await ws.subscribe(f"flood{i}", EVENTS)
        except Exception:
            break
    assert (await ws.closed())[0] == 4429
    other = await connect(server, user_token)  # server unaffected
    await other.close()


async def test_connection_limit_per_user_4429(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    socks = [await connect(server, user_token) for _ in range(3)]
    extra = await WS.open(server.ws_url)
    await extra.send({"type": "connection_init", "payload": {"authorization": f"Bearer {user_token}"}})
    assert (await extra.closed())[0] == 4429
    bob = await connect(server, await gql.register("bob@example.com"))  # other users unaffected
    registry = server.live
    alice_conns = registry.by_user[await user_id_of(gql, user_token)]
    await socks[0].close()
    await until(lambda: len(alice_conns) == 2, "the closed connection released its slot")
    again = await connect(server, user_token)  # a slot is free again
    for ws in [*socks[1:], bob, again]:
        await ws.close()


async def test_keepalive_pings(server: LiveServer, user_token: str) -> None:
    ws = await connect(server, user_token)
    raw = await asyncio.wait_for(ws.conn.recv(), 5)
    assert json.loads(raw) == {"type": "ping"}
    await ws.close()


async def test_token_expiry_closes_4403_at_expiry(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    async with server.container.store.write() as s:
        soon = utcnow() + timedelta(seconds=1.5)
        await (await s.connection()).execute(sa.update(AuthSession).values(expires_at=soon))
    ws = await connect(server, user_token)
    await ws.subscribe("1", EVENTS)
    code, reason = await ws.closed(wait_s=10)
    assert code == 4403 and "expired" in reason.lower()


async def test_logout_closes_4403_at_once(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    ws = await connect(server, user_token)
    async with registered(server, 1):
        await ws.subscribe("1", EVENTS)
    assert (await gql("mutation { logout }"))["data"]["logout"] is True
    code, reason = await ws.closed(wait_s=10)
    assert code == 4403 and "revoked" in reason.lower()


async def test_revocation_without_event_is_found_by_the_recheck(
    server: LiveServer, gql: GraphQLClient, user_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LiveConnections, "recheck_s", 0.3)
    ws = await connect(server, user_token)
    async with registered(server, 1):
        await ws.subscribe("1", EVENTS)
    async with server.container.store.write() as s:  # e.g. revoked by another tool
        await (await s.connection()).execute(sa.update(AuthSession).values(revoked_at=utcnow()))
    code, _ = await ws.closed(wait_s=10)
    assert code == 4403


async def test_revocation_event_closes_4403_immediately(
    server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    alice = await user_id_of(gql, user_token)
    ws = await connect(server, user_token)
    session_id = await scalar(server, sa.select(AuthSession.id).where(AuthSession.user_id == alice))
    await publish(server, Event(type="sessionRevoked", user_id=alice, subject="another-session", payload={}))
    await ws.send({"type": "ping"})
    assert (await ws.recv())["type"] == "pong"  # another session's revocation: still open
    await publish(server, Event(type="sessionRevoked", user_id=alice, subject=session_id, payload={}))
    assert (await ws.closed())[0] == 4403


async def test_legacy_protocol_refused_unless_enabled(server: LiveServer) -> None:
    # The handshake completes without a subprotocol, then the server closes with 4406.
    ws = await WS.open(server.ws_url, LEGACY_WS)
    assert ws.conn.subprotocol is None
    assert await ws.closed() == (4406, "Subprotocol not acceptable")
