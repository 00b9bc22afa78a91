"""Every connection of a Lightning node pages both ways over devlnd: LND's index offsets (invoices,
payments), in-memory lists (channels, closed channels, graph nodes) and computed ones (forwards);
a forward and a backward walk give the same items in the same order."""

from __future__ import annotations

from typing import Any

import pytest

from app.dev.devlnd import DevLnd
from tests.lightning.test_graphql import connect
from tests.support.connections import connection, walk
from tests.support.server import GraphQLClient

ARGS = "$id: ID!, $first: Int, $after: String, $last: Int, $before: String"
PASS = "first: $first, after: $after, last: $last, before: $before"
PAGE = "totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { %s } }"
LISTS = {
    "invoices": ("invoices", "memo paymentHash"),
    "payments": ("payments", "paymentHash amount"),
    "channels": ("channels", "chanId"),
    "closedChannels": ("closedChannels", "channelPoint"),
    "networkNodes": ("networkNodes", "pubkey"),
}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"lnd_timeout_s": 3.0}


def _query(field: str, node: str) -> str:
    return f"query({ARGS}) {{ lightningNode(id: $id) {{ {field}({PASS}) {{ {PAGE % node} }} }} }}"


async def test_node_lists_page_both_ways(gql: GraphQLClient, user_token: str, devlnd: DevLnd) -> None:
    node = await connect(gql, devlnd)
    for name, (field, selection) in LISTS.items():
        query = _query(field, selection)
        everything = connection(await gql(query, {"id": node["id"], "first": 500}))
        assert everything["totalCount"] == len(everything["edges"]) > 1, name
        for size in (1, 2, 3):
            forward, backward = await walk(gql, query, size, id=node["id"])
            assert forward == backward == [e["node"] for e in everything["edges"]], (name, size)
    events = f"events({PASS}) {{ {PAGE % 'at feeMsat'} }}"
    forwards = f"query({ARGS}) {{ lightningNode(id: $id) {{ forwardingHistory {{ {events} }} }} }}"
    forward, backward = await walk(gql, forwards, 7, id=node["id"])
    assert forward == backward and len(forward) >= 39


async def test_invoice_cursors_from_both_ends(gql: GraphQLClient, user_token: str, devlnd: DevLnd) -> None:
    node = await connect(gql, devlnd)
    query = _query("invoices", "memo")
    newest = connection(await gql(query, {"id": node["id"], "first": 1}))
    oldest = connection(await gql(query, {"id": node["id"], "last": 1}))
    between = {"id": node["id"], "after": newest["pageInfo"]["endCursor"], "before": oldest["pageInfo"]["startCursor"]}
    forward = connection(await gql(query, {**between, "first": 10}))
    backward = connection(await gql(query, {**between, "last": 10}))
    assert [e["node"]["memo"] for e in forward["edges"]] == ["donation", "book"]
    assert forward["edges"] == backward["edges"]
    assert forward["pageInfo"]["hasPreviousPage"] and not forward["pageInfo"]["hasNextPage"]
    assert backward["pageInfo"]["hasNextPage"] and not backward["pageInfo"]["hasPreviousPage"]
    body = await gql(
        query, {"id": node["id"], "last": 2, "before": newest["edges"][0]["cursor"] + "x"}, expect_errors=True
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["field"] == "before"
