"""Lightning over real HTTP GraphQL (and WebSocket subscriptions) against devlnd."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlmodel import select

from app.dev.devlnd import DevLnd
from app.dev.devlnd.tls import make_cert
from app.lightning import macaroon as mac
from app.store.models.lightning import LightningNode
from tests.subscriptions.wsclient import WS, nothing_pending, refused
from tests.support.server import GraphQLClient, LiveServer, error_codes
from tests.support.signals import registered

CONNECT = """mutation($i: ConnectLightningNodeInput!) { connectLightningNode(input: $i) {
  id name network alias pubkey capabilities { readOnly granted permissions } } }"""

NODE = """query($id: ID!) { lightningNode(id: $id) {
  id name alias pubkey version syncedToChain blockHeight numPeers available
  status { available state }
  capabilities { readOnly granted }
  channels(first: 2) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { channelPoint chanId remotePubkey peerAlias capacity localBalance remoteBalance commitFee
      active private uptime lifetime localPolicy { baseFeeMsat feeRatePpm timeLockDelta } } } }
  pendingChannels { kind channelPoint capacity maturityHeight blocksTilMaturity }
  closedChannels { totalCount edges { node { channelPoint closeType settledBalance } } }
  balance { onchainConfirmed channelLocal channelRemote total }
  liquidity { totalInbound totalOutbound channels { peerAlias inbound outbound outboundRatio } }
  forwardingHistory { count totalFees totalFeesMsat volume perChannel { chanId peerAlias feesMsat forwardsOut }
    events(first: 5) { totalCount edges { node { at feeMsat chanIdOut } } } }
  invoices(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node { memo amount amountMsat state } } }
  payments(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node { amount feeMsat status } } }
  peers { pubkey }
} }"""


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"lnd_timeout_s": 3.0, "lnd_stream_min_backoff_s": 0.05, "lnd_stream_max_backoff_s": 0.3}


def node_input(node: DevLnd, macaroon: str = "admin", **over: Any) -> dict[str, Any]:
    base = {
        "name": "my node",
        "host": node.host,
        "port": node.port,
        "tlsCert": node.tls_cert_pem,
        "macaroon": node.macaroons.get(macaroon, macaroon),
        "network": "REGTEST",
    }
    base.update(over)
    return base


async def connect(gql: GraphQLClient, node: DevLnd, macaroon: str = "admin", **over: Any) -> dict[str, Any]:
    body = await gql(CONNECT, {"i": node_input(node, macaroon, **over)})
    return body["data"]["connectLightningNode"]  # type: ignore[no-any-return]


async def node_count(gql: GraphQLClient) -> int:
    return len((await gql("{ lightningNodes { id } }"))["data"]["lightningNodes"])


async def test_connect_and_read_everything(
    gql: GraphQLClient, user_token: str, devlnd: DevLnd, server: LiveServer
) -> None:
    n = await connect(gql, devlnd)
    assert n["network"] == "REGTEST" and n["alias"] == "devlnd" and n["pubkey"] == devlnd.state.pubkey
    assert n["capabilities"]["readOnly"] is False
    assert "OPEN_CHANNELS" in n["capabilities"]["granted"] and "offchain:write" in n["capabilities"]["permissions"]

    data = (await gql(NODE, {"id": n["id"]}))["data"]["lightningNode"]
    assert data["version"].startswith("0.17") and data["syncedToChain"] and data["blockHeight"] == 1200
    assert data["available"] is True
    chans = data["channels"]
    assert chans["totalCount"] == 4 and chans["pageInfo"]["hasNextPage"] and len(chans["edges"]) == 2
    first = chans["edges"][0]["node"]
    assert isinstance(first["capacity"], int) and isinstance(first["chanId"], str)
    assert isinstance(first["localPolicy"]["baseFeeMsat"], str)
    assert first["localBalance"] + first["remoteBalance"] + first["commitFee"] == first["capacity"]
    assert first["peerAlias"] in {"alice", "bob", "carol", "dave"}
    assert sorted(p["kind"] for p in data["pendingChannels"]) == ["CLOSING", "FORCE_CLOSING", "OPENING"]
    force = next(p for p in data["pendingChannels"] if p["kind"] == "FORCE_CLOSING")
    assert force["maturityHeight"] - 1200 == force["blocksTilMaturity"]
    assert {e["node"]["closeType"] for e in data["closedChannels"]["edges"]} == {
        "COOPERATIVE_CLOSE",
        "REMOTE_FORCE_CLOSE",
    }
    bal = data["balance"]
    assert bal["onchainConfirmed"] == 5_000_000 and bal["total"] == 5_000_000 + bal["channelLocal"]
    liq = data["liquidity"]
    assert liq["totalInbound"] == bal["channelRemote"] and liq["totalOutbound"] == bal["channelLocal"]
    fh = data["forwardingHistory"]
    assert fh["count"] >= 39 and fh["totalFees"] == int(fh["totalFeesMsat"]) // 1000
    assert sum(int(c["feesMsat"]) for c in fh["perChannel"]) == int(fh["totalFeesMsat"])
    assert {c["peerAlias"] for c in fh["perChannel"]} == {"alice", "bob", "carol"}
    assert fh["events"]["totalCount"] == fh["count"] and len(fh["events"]["edges"]) == 5
    inv = data["invoices"]
    assert inv["totalCount"] == 4 and [e["node"]["memo"] for e in inv["edges"]] == ["rent", "donation"]
    assert inv["edges"][0]["node"]["amountMsat"] == "150000000" and inv["edges"][0]["node"]["amount"] == 150000
    pays = data["payments"]
    assert pays["totalCount"] == 3 and pays["pageInfo"]["hasNextPage"]
    assert len(data["peers"]) == 4

    # next pages
    q = """query($id: ID!, $c: String, $i: String) { lightningNode(id: $id) {
      channels(first: 10, after: $c) { edges { node { chanId } } pageInfo { hasNextPage } }
      invoices(first: 10, after: $i) { edges { node { memo } } pageInfo { hasNextPage } } } }"""
    more = (await gql(q, {"id": n["id"], "c": chans["pageInfo"]["endCursor"], "i": inv["pageInfo"]["endCursor"]}))[
        "data"
    ]["lightningNode"]
    assert len(more["channels"]["edges"]) == 2 and not more["channels"]["pageInfo"]["hasNextPage"]
    assert [e["node"]["memo"] for e in more["invoices"]["edges"]] == ["book", "coffee"]

    # stored encrypted, bound to the owner
    async with server.container.store.read() as s:
        row = (await s.exec(select(LightningNode))).one()
    assert devlnd.macaroons["admin"] not in row.macaroon_enc and "BEGIN CERTIFICATE" not in row.tls_cert_enc
    assert server.container.keyring.decrypt(row.macaroon_enc, aad=row.user_id) == devlnd.macaroons["admin"]


async def test_bad_input_saves_nothing(gql: GraphQLClient, user_token: str, devlnd: DevLnd) -> None:
    other_cert, _ = make_cert()
    m = mac.decode_hex(devlnd.macaroons["admin"])
    tampered = mac.Macaroon(identifier=m.identifier, signature=bytes(32), location=m.location).hex()
    cases: list[tuple[dict[str, Any], str, str, str]] = [
        ({"host": "https://x:1"}, "BAD_USER_INPUT", "host", "not a host name"),
        ({"port": 70000}, "BAD_USER_INPUT", "port", "out of range"),
        ({"tlsCert": "nope"}, "BAD_USER_INPUT", "tlsCert", "PEM"),
        ({"macaroon": "xyz"}, "BAD_USER_INPUT", "macaroon", "hexadecimal"),
        ({"macaroon": "0201"}, "BAD_USER_INPUT", "macaroon", "not an LND macaroon"),
        ({"tlsCert": other_cert.decode()}, "BAD_USER_INPUT", "tlsCert", "certificate"),
        ({"macaroon": tampered}, "BAD_USER_INPUT", "macaroon", "signature mismatch"),
        ({"macaroon": devlnd.bake({"offchain": ("read",)})}, "BAD_USER_INPUT", "macaroon", "info:read"),
        ({"network": "MAINNET"}, "BAD_USER_INPUT", "network", "runs on regtest"),
        ({"name": " "}, "BAD_USER_INPUT", "name", "name"),
    ]
    for over, code, field, text in cases:
        body = await gql(CONNECT, {"i": node_input(devlnd, **over)}, expect_errors=True)
        err = body["errors"][0]
        assert err["extensions"]["code"] == code, (over, err)
        assert err["extensions"].get("field") == field, (over, err)
        assert text in err["message"], (over, err)
    await devlnd.stop()
    body = await gql(CONNECT, {"i": node_input(devlnd)}, expect_errors=True)
    assert error_codes(body) == ["UPSTREAM_UNAVAILABLE"] and "Nothing was saved" in body["errors"][0]["message"]
    assert await node_count(gql) == 0


async def test_other_users_node_is_not_found(gql: GraphQLClient, user_token: str, devlnd: DevLnd) -> None:
    n = await connect(gql, devlnd)
    bob = await gql.register("bob@example.com")
    assert (await gql("{ lightningNodes { id } }", token=bob))["data"]["lightningNodes"] == []
    for query, variables in [
        ("query($id: ID!) { lightningNode(id: $id) { name } }", {"id": n["id"]}),
        ("mutation($id: ID!) { disconnectLightningNode(id: $id) }", {"id": n["id"]}),
        (
            "mutation($i: CloseChannelInput!) { closeChannel(input: $i) { closingTxid } }",
            {"i": {"nodeId": n["id"], "channelPoint": "ab" * 32 + ":0"}},
        ),
        (
            "mutation($i: CreateInvoiceInput!) { createInvoice(input: $i) { paymentRequest } }",
            {"i": {"nodeId": n["id"], "amount": 1}},
        ),
    ]:
        body = await gql(query, variables, token=bob, expect_errors=True)
        assert error_codes(body) == ["NOT_FOUND"], body
    # bob may connect the same node to his own account; each sees only their own
    bobs = (await gql(CONNECT, {"i": node_input(devlnd, "readonly")}, token=bob))["data"]["connectLightningNode"]
    assert bobs["id"] != n["id"]
    assert [x["id"] for x in (await gql("{ lightningNodes { id } }", token=bob))["data"]["lightningNodes"]] == [
        bobs["id"]
    ]
    assert await node_count(gql) == 1
    body = await gql("query($id: ID!) { lightningNode(id: $id) { name } }", {"id": bobs["id"]}, expect_errors=True)
    assert error_codes(body) == ["NOT_FOUND"]
    body = await gql(CONNECT, {"i": node_input(devlnd)}, expect_errors=True)
    assert error_codes(body) == ["CONFLICT"]


async def test_readonly_macaroon_cannot_write(gql: GraphQLClient, user_token: str, devlnd: DevLnd) -> None:
    n = await connect(gql, devlnd, "readonly")
    assert n["capabilities"]["readOnly"] is True
    assert n["capabilities"]["granted"] == ["READ_INVOICES", "READ_NODE"]
    body = await gql(
        "mutation($i: CreateInvoiceInput!) { createInvoice(input: $i) { paymentRequest } }",
        {"i": {"nodeId": n["id"], "amount": 1000}},
        expect_errors=True,
    )
    assert error_codes(body) == ["FORBIDDEN"] and "invoices:write" in body["errors"][0]["message"]
    alice = next(p for p in devlnd.state.directory.values() if p.alias == "alice")
    body = await gql(
        "mutation($i: OpenChannelInput!) { openChannel(input: $i) { channelPoint } }",
        {"i": {"nodeId": n["id"], "peer": alice.pubkey, "capacity": 100000}},
        expect_errors=True,
    )
    assert error_codes(body) == ["FORBIDDEN"]
    assert "onchain:write" in body["errors"][0]["message"] and "offchain:write" in body["errors"][0]["message"]
    # reads still work
    assert (await gql(NODE, {"id": n["id"]}))["data"]["lightningNode"]["channels"]["totalCount"] == 4


async def test_invoice_macaroon_can_only_invoice(gql: GraphQLClient, user_token: str, devlnd: DevLnd) -> None:
    n = await connect(gql, devlnd, devlnd.bake({"info": ("read",), "invoices": ("read", "write")}))
    body = await gql(
        """mutation($i: CreateInvoiceInput!) { createInvoice(input: $i) {
        paymentRequest amount amountMsat memo state expiry } }""",
        {"i": {"nodeId": n["id"], "amount": 2100, "memo": "tip", "expiry": 600}},
    )
    inv = body["data"]["createInvoice"]
    assert inv["paymentRequest"].startswith("lnbcrt21u1") and inv["amount"] == 2100
    assert inv["amountMsat"] == "2100000" and inv["state"] == "OPEN" and inv["expiry"] == 600
    body = await gql(
        """mutation($i: UpdateChannelPolicyInput!) { updateChannelPolicy(input: $i) {
        failedUpdates { reason } } }""",
        {"i": {"nodeId": n["id"], "baseFeeMsat": "0", "feeRatePpm": 1, "timeLockDelta": 40}},
        expect_errors=True,
    )
    assert error_codes(body) == ["FORBIDDEN"] and "offchain:write" in body["errors"][0]["message"]


OPEN = """mutation($i: OpenChannelInput!) { openChannel(input: $i) {
  kind channelPoint capacity localBalance remoteBalance private } }"""


async def test_writes(gql: GraphQLClient, user_token: str, devlnd: DevLnd) -> None:
    n = await connect(gql, devlnd)
    erin = next(p for p in devlnd.state.directory.values() if p.alias == "erin")
    peer = f"{erin.pubkey}@{erin.host}"
    body = await gql(OPEN, {"i": {"nodeId": n["id"], "peer": peer, "capacity": 10_000}}, expect_errors=True)
    err = body["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and err["extensions"]["field"] == "capacity"
    assert "minimum channel size is: 20000 SAT" in err["message"]
    body = await gql(OPEN, {"i": {"nodeId": n["id"], "peer": peer, "capacity": 9_000_000}}, expect_errors=True)
    assert "not enough witness outputs" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["field"] == "capacity"
    body = await gql(OPEN, {"i": {"nodeId": n["id"], "peer": "bogus", "capacity": 100_000}}, expect_errors=True)
    assert body["errors"][0]["extensions"]["field"] == "peer"

    opened = (
        await gql(
            OPEN,
            {
                "i": {
                    "nodeId": n["id"],
                    "peer": peer,
                    "capacity": 300_000,
                    "pushAmount": 5000,
                    "private": True,
                    "satPerVbyte": 3,
                }
            },
        )
    )["data"]["openChannel"]
    assert opened["kind"] == "OPENING" and opened["capacity"] == 300_000 and opened["remoteBalance"] == 5000
    assert opened["private"] is True

    chans = (
        await gql(
            "query($id: ID!) { lightningNode(id: $id) { channels(first: 50) { edges { node {"
            " channelPoint active } } } } }",
            {"id": n["id"]},
        )
    )["data"]["lightningNode"]["channels"]
    point = next(e["node"]["channelPoint"] for e in chans["edges"] if e["node"]["active"])
    inactive = next(e["node"]["channelPoint"] for e in chans["edges"] if not e["node"]["active"])

    policy = """mutation($i: UpdateChannelPolicyInput!) { updateChannelPolicy(input: $i) {
        failedUpdates { channelPoint reason } } }"""
    res = await gql(
        policy,
        {"i": {"nodeId": n["id"], "channelPoint": point, "baseFeeMsat": "250", "feeRatePpm": 777, "timeLockDelta": 40}},
    )
    assert res["data"]["updateChannelPolicy"]["failedUpdates"] == []
    body = await gql(
        policy,
        {
            "i": {
                "nodeId": n["id"],
                "channelPoint": "ef" * 32 + ":0",
                "baseFeeMsat": "1",
                "feeRatePpm": 1,
                "timeLockDelta": 40,
            }
        },
        expect_errors=True,
    )
    assert error_codes(body) == ["BAD_USER_INPUT"] and "UPDATE_FAILURE_NOT_FOUND" in body["errors"][0]["message"]
    body = await gql(
        policy, {"i": {"nodeId": n["id"], "baseFeeMsat": "1", "feeRatePpm": 1, "timeLockDelta": 3}}, expect_errors=True
    )
    assert "time lock delta of 3 is too small" in body["errors"][0]["message"]
    pol = await gql(
        "query($id: ID!) { lightningNode(id: $id) { channels(first: 50) { edges { node {"
        " channelPoint localPolicy { baseFeeMsat feeRatePpm } } } } } }",
        {"id": n["id"]},
    )
    mine = next(
        e["node"] for e in pol["data"]["lightningNode"]["channels"]["edges"] if e["node"]["channelPoint"] == point
    )
    assert mine["localPolicy"] == {"baseFeeMsat": "250", "feeRatePpm": 777}

    close = "mutation($i: CloseChannelInput!) { closeChannel(input: $i) { channelPoint closingTxid force } }"
    body = await gql(close, {"i": {"nodeId": n["id"], "channelPoint": "ab" * 32 + ":0"}}, expect_errors=True)
    assert error_codes(body) == ["BAD_USER_INPUT"] and "channel not found" in body["errors"][0]["message"]
    body = await gql(close, {"i": {"nodeId": n["id"], "channelPoint": inactive}}, expect_errors=True)
    assert "try force closing it instead" in body["errors"][0]["message"]
    body = await gql(
        close, {"i": {"nodeId": n["id"], "channelPoint": inactive, "force": True, "satPerVbyte": 5}}, expect_errors=True
    )
    assert body["errors"][0]["extensions"]["field"] == "satPerVbyte"
    done = await gql(close, {"i": {"nodeId": n["id"], "channelPoint": inactive, "force": True}})
    assert done["data"]["closeChannel"]["force"] is True
    coop = await gql(close, {"i": {"nodeId": n["id"], "channelPoint": point, "satPerVbyte": 2}})
    assert len(coop["data"]["closeChannel"]["closingTxid"]) == 64
    devlnd.mine(1)
    pend = (
        await gql(
            "query($id: ID!) { lightningNode(id: $id) { pendingChannels { kind channelPoint } "
            "closedChannels(first: 1) { edges { node { channelPoint closeType } } } } }",
            {"id": n["id"]},
        )
    )["data"]["lightningNode"]
    assert {"kind": "FORCE_CLOSING", "channelPoint": inactive} in pend["pendingChannels"]
    assert pend["closedChannels"]["edges"][0]["node"]["closeType"] in ("COOPERATIVE_CLOSE", "LOCAL_FORCE_CLOSE")

    peer_q = "mutation($i: ConnectLightningPeerInput!) { connectLightningPeer(input: $i) { pubkey } }"
    grace = next(p for p in devlnd.state.directory.values() if p.alias == "grace")
    assert (await gql(peer_q, {"i": {"nodeId": n["id"], "peer": f"{grace.pubkey}@{grace.host}"}}))["data"][
        "connectLightningPeer"
    ]["pubkey"] == grace.pubkey


async def test_node_down_is_unavailable_without_failing_other_fields(
    gql: GraphQLClient, user_token: str, devlnd: DevLnd, server: LiveServer
) -> None:
    n = await connect(gql, devlnd)
    await asyncio.wait_for(server.container.lightning.wait_streams_up(n["id"]), 10)
    assert (await gql.http.get("/readyz")).json()["components"]["lightning"]["status"] == "ok"
    await devlnd.stop()
    q = """query($id: ID!) { viewer { email } lightningNodes { name }
      lightningNode(id: $id) { name alias available status { available } version channels { totalCount } } }"""
    body = await gql(q, {"id": n["id"]}, expect_errors=True)
    node = body["data"]["lightningNode"]
    assert body["data"]["viewer"]["email"] == "alice@example.com"
    assert node["name"] == "my node" and node["alias"] == "devlnd"
    assert node["available"] is False and node["version"] is None and node["channels"] is None
    assert set(error_codes(body)) == {"UPSTREAM_UNAVAILABLE"}
    assert {tuple(e["path"]) for e in body["errors"]} == {("lightningNode", "version"), ("lightningNode", "channels")}

    async with asyncio.timeout(10):
        while server.container.lightning.status(n["id"]).available is not False:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    ready = await gql.http.get("/readyz", headers={"authorization": f"Bearer {user_token}"})  # alice is the admin
    assert ready.status_code == 200  # a node down degrades, never fails readiness
    assert ready.json()["components"]["lightning"] == {"status": "degraded", "nodes": 1, "unavailable": [n["id"]]}
    node = (await gql(q, {"id": n["id"]}, expect_errors=True))["data"]["lightningNode"]
    assert node["status"]["available"] is False

    await devlnd.serve()
    await asyncio.wait_for(server.container.lightning.wait_streams_up(n["id"]), 10)
    node = (await gql(q, {"id": n["id"]}))["data"]["lightningNode"]
    assert node["available"] is True and node["status"]["available"] is True and node["channels"]["totalCount"] == 4


async def next_data(ws: WS, op: str) -> dict[str, Any]:
    while True:
        msg = await ws.recv()
        if msg.get("id") == op and msg["type"] == "next":
            return msg["payload"]  # type: ignore[no-any-return]
        assert msg["type"] not in ("error", "complete"), msg


async def test_subscriptions_channel_events_and_invoices(
    gql: GraphQLClient, user_token: str, devlnd: DevLnd, server: LiveServer
) -> None:
    n = await connect(gql, devlnd)
    await asyncio.wait_for(server.container.lightning.wait_streams_up(n["id"]), 10)
    channel_doc = (
        "subscription($n: ID!) { channelEvents(nodeId: $n) { __typename "
        "... on ChannelUpdate { id nodeId channelPoint } "
        "... on ChannelOpened { channel { capacity active remotePubkey } } "
        "... on NodeTransaction { txid amount } } }"
    )
    invoice_doc = (
        "subscription($n: ID!) { invoiceUpdated(nodeId: $n) { paymentHash state amountMsat amountPaidMsat memo "
        "createdAt settledAt } }"
    )
    # Another user naming this node gets NOT_FOUND on nodeId for both, and nothing of its events.
    bob = await WS.open(server.ws_url)
    assert (await bob.init(await gql.register("bob@example.com")))["type"] == "connection_ack"
    for op, doc in (("c", channel_doc), ("i", invoice_doc)):
        await bob.subscribe(op, doc, {"n": n["id"]})
        error = await refused(bob, op)
        assert error["extensions"]["code"] == "NOT_FOUND" and error["extensions"]["field"] == "nodeId"
    ws = await WS.open(server.ws_url)
    try:
        assert (await ws.init(user_token))["type"] == "connection_ack"
        async with registered(server, 2):
            await ws.subscribe("c", channel_doc, {"n": n["id"]})
            await ws.subscribe("i", invoice_doc, {"n": n["id"]})
        point = next(c.channel_point for c in devlnd.state.open_channels() if c.active)
        devlnd.set_channel_active(point, False)
        ev = (await next_data(ws, "c"))["data"]["channelEvents"]
        assert ev["__typename"] == "ChannelInactive" and ev["nodeId"] == n["id"] and ev["channelPoint"] == point

        created = await gql(
            "mutation($i: CreateInvoiceInput!) { createInvoice(input: $i) { paymentHash } }",
            {"i": {"nodeId": n["id"], "amountMsat": "1500", "memo": "live"}},
        )
        ph = created["data"]["createInvoice"]["paymentHash"]
        added = (await next_data(ws, "i"))["data"]["invoiceUpdated"]
        assert added["paymentHash"] == ph and added["state"] == "OPEN" and added["amountMsat"] == "1500"
        assert added["memo"] == "live" and added["settledAt"] is None and added["createdAt"]
        devlnd.settle_invoice(ph)
        settled = (await next_data(ws, "i"))["data"]["invoiceUpdated"]
        assert settled["state"] == "SETTLED" and settled["amountPaidMsat"] == "1500" and settled["settledAt"]

        # a channel opened: pending, then open after blocks
        erin = next(p for p in devlnd.state.directory.values() if p.alias == "erin")
        new = await gql(OPEN, {"i": {"nodeId": n["id"], "peer": f"{erin.pubkey}@{erin.host}", "capacity": 50_000}})
        point = new["data"]["openChannel"]["channelPoint"]
        kinds = []
        while "ChannelPending" not in kinds:
            kinds.append((await next_data(ws, "c"))["data"]["channelEvents"]["__typename"])
        devlnd.mine(3)
        opened: dict[str, Any] = {}
        while not opened:
            p = (await next_data(ws, "c"))["data"]["channelEvents"]
            kinds.append(p["__typename"])
            if p["__typename"] == "ChannelOpened" and p["channelPoint"] == point:
                opened = p["channel"]
        assert opened["capacity"] == 50_000 and opened["remotePubkey"] == erin.pubkey
        assert "NodeTransaction" in kinds  # the funding transaction
        await nothing_pending(bob)  # the owner got all of that; the other user nothing
    finally:
        await ws.close()
        await bob.close()
    # the resume indexes were stored
    async with server.container.store.read() as s:
        row = (await s.exec(select(LightningNode))).one()
    assert row.invoice_add_index == 5 and row.invoice_settle_index == 3


async def test_disconnect(gql: GraphQLClient, user_token: str, devlnd: DevLnd, server: LiveServer) -> None:
    n = await connect(gql, devlnd)
    assert (await gql("mutation($id: ID!) { disconnectLightningNode(id: $id) }", {"id": n["id"]}))["data"][
        "disconnectLightningNode"
    ] is True
    assert await node_count(gql) == 0
    assert server.container.lightning.status(n["id"]).state == "idle"
    body = await gql("query($id: ID!) { lightningNode(id: $id) { name } }", {"id": n["id"]}, expect_errors=True)
    assert error_codes(body) == ["NOT_FOUND"]


async def test_channel_policies_fetched_only_when_asked_and_only_for_the_page(
    gql: GraphQLClient, user_token: str, devlnd: DevLnd
) -> None:
    n = await connect(gql, devlnd)
    devlnd.calls.clear()
    q = "query($id: ID!) { lightningNode(id: $id) { channels(first: 2) { edges { node { chanId } } } } }"
    await gql(q, {"id": n["id"]})
    assert devlnd.calls["ListChannels"] == 1 and devlnd.calls["GetChanInfo"] == 0
    q = """query($id: ID!) { lightningNode(id: $id) { channels(first: 2) { edges { node { ...P } } } } }
      fragment P on Channel { localPolicy { feeRatePpm } }"""
    await gql(q, {"id": n["id"]})
    assert devlnd.calls["GetChanInfo"] == 2


async def test_several_nodes_per_user(gql: GraphQLClient, user_token: str, devlnd: DevLnd) -> None:
    async with DevLnd.start(seed=99, alias="second") as other:
        a = await connect(gql, devlnd, name="first")
        b = await connect(gql, other, name="second", macaroon=other.macaroons["readonly"])
        nodes = (await gql("{ lightningNodes { id name alias capabilities { readOnly } } }"))["data"]["lightningNodes"]
        assert [(x["id"], x["name"], x["alias"], x["capabilities"]["readOnly"]) for x in nodes] == [
            (a["id"], "first", "devlnd", False),
            (b["id"], "second", "second", True),
        ]
        await other.stop()  # one node down does not disturb the other
        q = "query($id: ID!) { lightningNode(id: $id) { available balance { total } } }"
        assert (await gql(q, {"id": a["id"]}))["data"]["lightningNode"]["available"] is True
        down = await gql(q, {"id": b["id"]}, expect_errors=True)
        assert down["data"]["lightningNode"] == {"available": False, "balance": None}
