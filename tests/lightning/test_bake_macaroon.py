"""bakeMacaroon: the admin macaroon is swapped for a baked one with only the ticked permissions."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from app.dev.devlnd import DevLnd
from app.lightning import macaroon as mac
from app.store.models.lightning import LightningNode
from tests.lightning.conftest import client_for
from tests.lightning.test_graphql import CONNECT, connect, node_input
from tests.support.server import GraphQLClient, LiveServer, error_codes

BAKE = """mutation($i: BakeMacaroonInput!) { bakeMacaroon(input: $i) {
  id capabilities { readOnly granted permissions canBake } } }"""
INVOICE = "mutation($i: CreateInvoiceInput!) { createInvoice(input: $i) { paymentRequest state } }"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"lnd_timeout_s": 3.0, "lnd_stream_min_backoff_s": 0.05, "lnd_stream_max_backoff_s": 0.3}


async def stored_macaroon(server: LiveServer) -> str:
    async with server.container.store.read() as s:
        row = (await s.exec(select(LightningNode))).one()
    return server.container.keyring.decrypt(row.macaroon_enc, aad=row.user_id)


async def test_bake_a_narrow_macaroon_and_drop_the_admin_one(
    gql: GraphQLClient, user_token: str, devlnd: DevLnd, server: LiveServer
) -> None:
    n = await connect(gql, devlnd)
    node = (await gql("query($id: ID!) { lightningNode(id: $id) { capabilities { canBake } } }", {"id": n["id"]}))
    assert node["data"]["lightningNode"]["capabilities"]["canBake"] is True
    baked = (await gql(BAKE, {"i": {"nodeId": n["id"], "capabilities": ["READ_NODE", "CREATE_INVOICES"]}}))["data"][
        "bakeMacaroon"
    ]
    caps = baked["capabilities"]
    assert caps["granted"] == ["CREATE_INVOICES", "READ_NODE"] and caps["canBake"] is False
    wanted = ["info:read", "invoices:write", "offchain:read", "onchain:read", "peers:read"]
    assert caps["permissions"] == wanted
    hexmac = await stored_macaroon(server)
    assert hexmac != devlnd.macaroons["admin"] and sorted(mac.decode(bytes.fromhex(hexmac)).permissions) == wanted
    assert devlnd.calls["BakeMacaroon"] == 1
    # devlnd's own permission checker accepts it for what it allows, and refuses the rest
    inv = (await gql(INVOICE, {"i": {"nodeId": n["id"], "amount": 1000}}))["data"]["createInvoice"]
    assert inv["state"] == "OPEN" and inv["paymentRequest"].startswith("lnbcrt10u1")
    q = "query($id: ID!) { lightningNode(id: $id) { channels { totalCount } peers { pubkey } } }"
    assert (await gql(q, {"id": n["id"]}))["data"]["lightningNode"]["channels"]["totalCount"] == 4
    async with client_for(devlnd, hexmac) as c:
        c.permissions = None  # skip the local check: ask the node itself
        with pytest.raises(Exception, match="permission"):
            await c.list_invoices()
    pay = """mutation($i: PayInvoiceInput!) { payInvoice(input: $i) { status } }"""
    pr = devlnd.peer_invoice("alice", 1000)
    body = await gql(pay, {"i": {"nodeId": n["id"], "paymentRequest": pr, "feeLimitMsat": "0"}}, expect_errors=True)
    assert error_codes(body) == ["FORBIDDEN"]
    # the admin macaroon is gone: no second bake
    body = await gql(BAKE, {"i": {"nodeId": n["id"], "capabilities": ["READ_NODE"]}}, expect_errors=True)
    assert error_codes(body) == ["FORBIDDEN"] and "macaroon:generate" in body["errors"][0]["message"]


async def test_bad_bakes_change_nothing(
    gql: GraphQLClient, user_token: str, devlnd: DevLnd, server: LiveServer
) -> None:
    n = await connect(gql, devlnd)
    body = await gql(BAKE, {"i": {"nodeId": n["id"], "capabilities": []}}, expect_errors=True)
    assert error_codes(body) == ["BAD_USER_INPUT"] and body["errors"][0]["extensions"]["field"] == "capabilities"
    bob = await gql.register("bob@example.com")
    body = await gql(BAKE, {"i": {"nodeId": n["id"], "capabilities": ["READ_NODE"]}}, token=bob, expect_errors=True)
    assert error_codes(body) == ["NOT_FOUND"]
    assert await stored_macaroon(server) == devlnd.macaroons["admin"] and devlnd.calls["BakeMacaroon"] == 0
    ro = (await gql(CONNECT, {"i": node_input(devlnd, "readonly")}, token=bob))["data"]["connectLightningNode"]
    body = await gql(BAKE, {"i": {"nodeId": ro["id"], "capabilities": ["READ_NODE"]}}, token=bob, expect_errors=True)
    assert error_codes(body) == ["FORBIDDEN"] and "macaroon:generate" in body["errors"][0]["message"]


async def test_devlnd_bakes_like_lnd(devlnd: DevLnd) -> None:
    from app.lightning import baking

    async with client_for(devlnd) as c:
        with pytest.raises(Exception, match="invalid permission entity"):
            await baking.bake(c, ["wallet:read"])
        with pytest.raises(Exception, match="invalid permission action"):
            await baking.bake(c, ["info:delete"])
        hexmac = await baking.bake(c, ["uri:/lnrpc.Lightning/GetInfo"])
    async with client_for(devlnd, hexmac) as only_getinfo:
        assert (await only_getinfo.get_info()).pubkey == devlnd.state.pubkey
        only_getinfo.permissions = None
        with pytest.raises(Exception, match="permission"):
            await only_getinfo.list_peers()
