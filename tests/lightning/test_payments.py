"""Paying over GraphQL against devlnd's routerrpc: decodeInvoice, payInvoice, keysend, paymentUpdated."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from typing import Any

import bolt11 as independent
import pytest
from embit.ec import PrivateKey

from app.dev.devlnd import DevLnd
from app.dev.devlnd import bolt11 as devbolt11
from app.events.envelope import id_floor
from tests.lightning.test_graphql import connect, next_data
from tests.subscriptions.wsclient import EVENTS, WS
from tests.support.server import GraphQLClient, LiveServer, error_codes


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"lnd_timeout_s": 3.0, "lnd_stream_min_backoff_s": 0.05, "lnd_stream_max_backoff_s": 0.3}


DECODE = """query($n: ID!, $r: String!) { decodeInvoice(nodeId: $n, paymentRequest: $r) {
  destination paymentHash amount amountMsat description descriptionHash createdAt expiry expiresAt expired
  cltvExpiry fallbackAddress paymentAddr routeHints { nodeId chanId feeBaseMsat feeProportionalMillionths
  cltvExpiryDelta } features { bit name isRequired isKnown } } }"""
PAY = """mutation($i: PayInvoiceInput!) { payInvoice(input: $i) {
  paymentHash amount amountMsat fee feeMsat status preimage failureReason attempts lastHtlcFailure paymentRequest } }"""
KEYSEND = """mutation($i: KeysendInput!) { keysend(input: $i) {
  paymentHash amountMsat feeMsat status preimage failureReason } }"""
PAYMENTS = """query($id: ID!) { lightningNode(id: $id) { payments(first: 10) { totalCount
  edges { node { paymentHash status failureReason preimage feeMsat } } } } }"""


async def audited(gql: GraphQLClient) -> list[tuple[str, str, str]]:
    """The viewer's audit log as (action, subject, detail): spends are audited, amounts only."""
    log = await gql("{ auditLog(first: 50) { edges { node { action subject detail } } } }")
    return [(e["node"]["action"], e["node"]["subject"], e["node"]["detail"]) for e in log["data"]["auditLog"]["edges"]]


def peer(node: DevLnd, alias: str) -> Any:
    return next(p for p in node.state.directory.values() if p.alias == alias)


def chan_with(node: DevLnd, pubkey: str) -> Any:
    return next(c for c in node.state.open_channels() if c.remote_pubkey == pubkey)


async def test_devlnd_invoices_are_signed_bolt11_an_independent_decoder_accepts(devlnd: DevLnd) -> None:
    own = devlnd.state._new_invoice("coffee ☕", 1_500_000, 600)
    d = independent.decode(own.payment_request)
    assert d.payee == devlnd.state.pubkey
    assert d.amount_msat == 1_500_000 and d.description == "coffee ☕" and d.expiry == 600
    assert bytes.fromhex(d.payment_hash) == own.r_hash and bytes.fromhex(d.payment_secret) == own.payment_addr
    carol = peer(devlnd, "carol")
    hint = devbolt11.HopHint(carol.pubkey, 123 << 40 | 5 << 16 | 1, 1000, 10, 40)
    pr = devbolt11.encode(
        "regtest", 0, int(time.time()), os.urandom(32), "any", 60, os.urandom(32),
        node_secret=carol.secret, route_hints=((hint,),),
    )
    d = independent.decode(pr)
    assert d.payee == carol.pubkey and d.amount_msat is None
    assert d.route_hints[0].routes[0].public_key == carol.pubkey
    assert d.route_hints[0].routes[0].short_channel_id == "123x5x1"
    assert d.route_hints[0].routes[0].ppm_fee == 10
    # a tampered string fails its checksum, a re-signed one names another payee
    with pytest.raises(devbolt11.InvoiceError):
        devbolt11.decode(pr[:-8] + ("q" if pr[-8] != "q" else "p") + pr[-7:])


def test_bolt11_specification_vectors_decode() -> None:
    """BOLT 11's examples (payee recovered from the signature, sats, description, features)."""
    vec = (
        "lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqq"
        "syqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaq9qrsgq357wnc5r2ueh7ck6q9"
        "3dj32dlqnls087fxdwk8qakdyafkq3yap9us6v52vjjsrvywa6rt52cm9r9zqt8r2t7mlcwspyetp5h2tztugp9lfyql"
    )
    inv = devbolt11.decode(vec)
    ref = independent.decode(vec)
    assert inv.payee == ref.payee == "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad"
    assert inv.description == ref.description == "Please consider supporting this project"
    assert inv.amount_msat == 0 and inv.network == "mainnet" and inv.timestamp == 1496314658
    assert inv.payment_hash.hex() == "0001020304050607080900010203040506070809000102030405060708090102"
    assert inv.features == {8, 14}


async def test_decode_invoice_before_paying(gql: GraphQLClient, user_token: str, devlnd: DevLnd) -> None:
    n = await connect(gql, devlnd)
    erin = peer(devlnd, "erin")
    pr = devlnd.peer_invoice("erin", 21_000_000, "a book", expiry=900)
    d = (await gql(DECODE, {"n": n["id"], "r": f"lightning:{pr.upper()}"}))["data"]["decodeInvoice"]
    assert d["destination"] == erin.pubkey and d["amount"] == 21_000 and d["amountMsat"] == "21000000"
    assert d["description"] == "a book" and d["expiry"] == 900 and d["expired"] is False
    assert d["cltvExpiry"] == 80 and d["routeHints"] == [] and len(d["paymentAddr"]) == 64
    assert {f["name"] for f in d["features"]} == {"tlv-onion", "payment-addr"}
    assert all(not f["isRequired"] and f["isKnown"] for f in d["features"])

    for bad in ["lnbcrt1garbage", "hello", pr[:-1] + ("q" if pr[-1] != "q" else "p")]:
        body = await gql(DECODE, {"n": n["id"], "r": bad}, expect_errors=True)
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert body["errors"][0]["extensions"]["field"] == "paymentRequest"
    mainnet = devbolt11.encode("mainnet", 1000, int(time.time()), os.urandom(32), "x", 60, os.urandom(32),
                               node_secret=erin.secret)
    body = await gql(DECODE, {"n": n["id"], "r": mainnet}, expect_errors=True)
    assert error_codes(body) == ["BAD_USER_INPUT"] and "network" in body["errors"][0]["message"]


async def test_pay_invoice_succeeds_with_preimage_fee_and_events(
    gql: GraphQLClient, user_token: str, devlnd: DevLnd, server: LiveServer
) -> None:
    n = await connect(gql, devlnd)
    before = sum(c.local_balance for c in devlnd.state.open_channels())
    since = id_floor(int(time.time() * 1000) - 1)
    pr = devlnd.peer_invoice("grace", 40_000_000, "two hops")  # grace: no channel with us, routed
    p = (await gql(PAY, {"i": {"nodeId": n["id"], "paymentRequest": pr, "feeLimitPercent": "1"}}))["data"][
        "payInvoice"
    ]
    assert p["status"] == "SUCCEEDED" and p["failureReason"] is None and p["paymentRequest"] == pr
    assert hashlib.sha256(bytes.fromhex(p["preimage"])).hexdigest() == p["paymentHash"]
    fee = int(p["feeMsat"])
    assert 0 < fee <= 400_000 and p["amount"] == 40_000 and p["attempts"] == 1
    assert sum(c.local_balance for c in devlnd.state.open_channels()) == before - (-(-(40_000_000 + fee) // 1000))
    listed = (await gql(PAYMENTS, {"id": n["id"]}))["data"]["lightningNode"]["payments"]
    assert listed["totalCount"] == 4 and listed["edges"][0]["node"]["paymentHash"] == p["paymentHash"]
    assert listed["edges"][0]["node"]["status"] == "SUCCEEDED" and listed["edges"][0]["node"]["preimage"]
    assert ("payment.sent", n["id"], "msat=40000000") in await audited(gql)

    # every update went out on paymentUpdated (replayed here from the event log, in order)
    ws = await WS.open(server.ws_url)
    try:
        await ws.init(user_token)
        await ws.subscribe("e", EVENTS, {"after": since})
        seen = []
        while not seen or seen[-1]["paymentStatus"] not in ("SUCCEEDED", "FAILED"):
            ev = (await next_data(ws, "e"))["data"]["events"]
            if ev["__typename"] == "PaymentUpdate":
                assert ev["nodeId"] == n["id"]
                seen.append(ev)
        assert [s["paymentStatus"] for s in seen] == ["IN_FLIGHT", "IN_FLIGHT", "SUCCEEDED"]
        assert seen[-1]["preimage"] == p["preimage"] and seen[-1]["feeMsat"] == str(fee)
    finally:
        await ws.close()

    # paying it again: LND refuses (ALREADY_EXISTS "invoice is already paid"), nothing changes
    body = await gql(PAY, {"i": {"nodeId": n["id"], "paymentRequest": pr, "feeLimitPercent": "1"}}, expect_errors=True)
    assert error_codes(body) == ["BAD_USER_INPUT"] and "already paid" in body["errors"][0]["message"]
    assert len(devlnd.state.payments) == 4


async def test_failures_carry_lnds_reason(gql: GraphQLClient, user_token: str, devlnd: DevLnd) -> None:
    n = await connect(gql, devlnd)

    async def pay(pr: str, **kw: Any) -> dict[str, Any]:
        i = {"nodeId": n["id"], "paymentRequest": pr, "feeLimitMsat": "0", **kw}
        return (await gql(PAY, {"i": i}))["data"]["payInvoice"]  # type: ignore[no-any-return]

    # a routed payment with a zero fee limit: no route within the limit
    p = await pay(devlnd.peer_invoice("grace", 10_000_000))
    assert p["status"] == "FAILED" and p["failureReason"] == "FAILURE_REASON_NO_ROUTE" and p["preimage"] is None
    # more than all outbound liquidity
    p = await pay(devlnd.peer_invoice("alice", 9_000_000_000), feeLimitMsat=None, feeLimitPercent="1")
    assert p["failureReason"] == "FAILURE_REASON_INSUFFICIENT_BALANCE"
    # the payee does not know the hash (an invoice devlnd's alice never issued, but signed by her key)
    alice = peer(devlnd, "alice")
    forged = devbolt11.encode("regtest", 5_000_000, int(time.time()), os.urandom(32), "x", 600, os.urandom(32),
                              node_secret=alice.secret)
    p = await pay(forged)
    assert p["failureReason"] == "FAILURE_REASON_INCORRECT_PAYMENT_DETAILS"
    assert p["lastHtlcFailure"] == "INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS"
    # an unknown node
    stranger = PrivateKey(os.urandom(32))
    unknown = devbolt11.encode("regtest", 5_000_000, int(time.time()), os.urandom(32), "x", 600, os.urandom(32),
                               node_secret=stranger.secret)
    assert (await pay(unknown))["failureReason"] == "FAILURE_REASON_NO_ROUTE"
    # the route fails (devlnd --fail-route): HTLCs fail with TEMPORARY_CHANNEL_FAILURE, then no route
    devlnd.payments.fail_route = True
    p = await pay(devlnd.peer_invoice("alice", 1_000_000))
    assert p["status"] == "FAILED" and p["failureReason"] == "FAILURE_REASON_NO_ROUTE"
    assert p["attempts"] == 2 and p["lastHtlcFailure"] == "TEMPORARY_CHANNEL_FAILURE"
    # a failed payment may be retried; direct channel, no fee needed
    devlnd.payments.fail_route = False
    retry = devlnd.peer_invoice("alice", 1_000_000)
    assert (await pay(retry))["status"] == "SUCCEEDED"


async def test_bad_input_sends_nothing(gql: GraphQLClient, user_token: str, devlnd: DevLnd) -> None:
    n = await connect(gql, devlnd)
    pr = devlnd.peer_invoice("alice", 1_000_000)
    anyamount = devlnd.peer_invoice("alice", 0)
    expired = devbolt11.encode("regtest", 1000, int(time.time()) - 3600, os.urandom(32), "old", 60, os.urandom(32),
                               node_secret=peer(devlnd, "alice").secret)
    own = devlnd.state._new_invoice("self", 1000, 600).payment_request
    cases = [
        ({"paymentRequest": pr}, "feeLimitMsat"),
        ({"paymentRequest": pr, "feeLimitMsat": "10", "feeLimitPercent": "1"}, "feeLimitMsat"),
        ({"paymentRequest": pr, "feeLimitPercent": "-1"}, "feeLimitPercent"),
        ({"paymentRequest": pr, "feeLimitPercent": "101"}, "feeLimitPercent"),
        ({"paymentRequest": pr, "feeLimitMsat": "-5"}, "feeLimitMsat"),
        ({"paymentRequest": pr, "feeLimitMsat": "0", "amountMsat": "5"}, "amountMsat"),
        ({"paymentRequest": anyamount, "feeLimitMsat": "0"}, "amountMsat"),
        ({"paymentRequest": pr, "feeLimitMsat": "0", "timeoutSeconds": 0}, "timeoutSeconds"),
        ({"paymentRequest": expired, "feeLimitMsat": "0"}, "paymentRequest"),
        ({"paymentRequest": own, "feeLimitMsat": "0"}, "paymentRequest"),
        ({"paymentRequest": "bitcoin:bc1q", "feeLimitMsat": "0"}, "paymentRequest"),
    ]
    for extra, field in cases:
        body = await gql(PAY, {"i": {"nodeId": n["id"], **extra}}, expect_errors=True)
        assert error_codes(body) == ["BAD_USER_INPUT"], (extra, body)
        assert body["errors"][0]["extensions"].get("field") == field, (extra, body)
    for extra, field in [
        ({"destination": "02" + "ab" * 31, "amountMsat": "1000", "feeLimitMsat": "0"}, "destination"),
        ({"destination": peer(devlnd, "alice").pubkey, "amountMsat": "0", "feeLimitMsat": "0"}, "amountMsat"),
        ({"destination": devlnd.state.pubkey, "amountMsat": "1000", "feeLimitMsat": "0"}, "destination"),
    ]:
        body = await gql(KEYSEND, {"i": {"nodeId": n["id"], **extra}}, expect_errors=True)
        assert error_codes(body) == ["BAD_USER_INPUT"] and body["errors"][0]["extensions"]["field"] == field, body
    assert devlnd.calls["SendPaymentV2"] == 0 and len(devlnd.state.payments) == 3
    # the zero-amount invoice with an amount pays that amount
    p = (await gql(PAY, {"i": {"nodeId": n["id"], "paymentRequest": anyamount, "amountMsat": "2500",
                                "feeLimitMsat": "0"}}))["data"]["payInvoice"]
    assert p["status"] == "SUCCEEDED" and p["amountMsat"] == "2500"


async def test_paying_is_forbidden_without_offchain_write(gql: GraphQLClient, user_token: str, devlnd: DevLnd) -> None:
    n = await connect(gql, devlnd, "readonly")
    pr = devlnd.peer_invoice("alice", 1_000_000)
    body = await gql(PAY, {"i": {"nodeId": n["id"], "paymentRequest": pr, "feeLimitMsat": "0"}}, expect_errors=True)
    assert error_codes(body) == ["FORBIDDEN"] and "offchain:write" in body["errors"][0]["message"]
    ks = {"nodeId": n["id"], "destination": peer(devlnd, "alice").pubkey, "amountMsat": "1000", "feeLimitMsat": "0"}
    body = await gql(KEYSEND, {"i": ks}, expect_errors=True)
    assert error_codes(body) == ["FORBIDDEN"]
    # decoding only reads (offchain:read)
    assert (await gql(DECODE, {"n": n["id"], "r": pr}))["data"]["decodeInvoice"]["amountMsat"] == "1000000"
    assert devlnd.calls["SendPaymentV2"] == 0
    # another user's node: not found
    bob = await gql.register("bob@example.com")
    body = await gql(DECODE, {"n": n["id"], "r": pr}, token=bob, expect_errors=True)
    assert error_codes(body) == ["NOT_FOUND"]
    body = await gql(PAY, {"i": {"nodeId": n["id"], "paymentRequest": pr, "feeLimitMsat": "0"}}, token=bob,
                     expect_errors=True)
    assert error_codes(body) == ["NOT_FOUND"]


async def test_keysend_to_a_channel_peer(gql: GraphQLClient, user_token: str, devlnd: DevLnd) -> None:
    n = await connect(gql, devlnd)
    alice = peer(devlnd, "alice")
    before = chan_with(devlnd, alice.pubkey).local_balance
    ks = {"nodeId": n["id"], "destination": alice.pubkey.upper(), "amountMsat": "21000", "feeLimitPercent": "0.5"}
    p = (await gql(KEYSEND, {"i": ks}))["data"]["keysend"]
    assert p["status"] == "SUCCEEDED" and p["feeMsat"] == "0" and p["amountMsat"] == "21000"
    assert hashlib.sha256(bytes.fromhex(p["preimage"])).hexdigest() == p["paymentHash"]
    assert chan_with(devlnd, alice.pubkey).local_balance == before - 21
    assert ("keysend.sent", n["id"], "msat=21000") in await audited(gql)


async def test_live_payment_updated(
    gql: GraphQLClient, user_token: str, server: LiveServer
) -> None:
    """The subscription sees each step live (a node claiming 0.21: INITIATED, IN_FLIGHT, SUCCEEDED)."""
    async with DevLnd.start(seed=11, version="0.21.2-beta") as node:
        n = await connect(gql, node)
        alice = peer(node, "alice")
        ws = await WS.open(server.ws_url)
        try:
            await ws.init(user_token)
            doc = "subscription($n: ID!) { paymentUpdated(nodeId: $n) { paymentHash status preimage } }"
            await ws.subscribe("p", doc, {"n": n["id"]})
            ks = {"nodeId": n["id"], "destination": alice.pubkey, "amountMsat": "1000", "feeLimitMsat": "0"}
            got: asyncio.Task[Any] = asyncio.ensure_future(next_data(ws, "p"))
            while not got.done():  # keysend until the subscription is live (its first event proves it)
                await gql(KEYSEND, {"i": ks})
                await asyncio.wait({got}, timeout=0.2)
            pr = node.peer_invoice("bob", 3_000_000, "live")
            p = (await gql(PAY, {"i": {"nodeId": n["id"], "paymentRequest": pr, "feeLimitMsat": "0"}}))["data"][
                "payInvoice"
            ]
            steps = []
            while not steps or steps[-1]["status"] not in ("SUCCEEDED", "FAILED"):
                payload = (await next_data(ws, "p"))["data"]["paymentUpdated"]
                if payload["paymentHash"] == p["paymentHash"]:
                    steps.append(payload)
            # LND >= 0.18: INITIATED (a status newer than the vendored definitions, sent and read by number) first.
            assert steps[0]["status"] == "INITIATED"
            assert {s["status"] for s in steps[1:-1]} == {"IN_FLIGHT"} and steps[-1]["status"] == "SUCCEEDED"
            assert steps[-1]["preimage"] == p["preimage"] and p["status"] == "SUCCEEDED"
        finally:
            await ws.close()
