"""Peers with alias and announced address (GetNodeInfo); networkNodes from DescribeGraph, paginated."""

from __future__ import annotations

from typing import Any

import pytest

from app.dev.devlnd import DevLnd
from tests.lightning.test_graphql import OPEN, connect
from tests.support.server import GraphQLClient, error_codes

NODES = """query($id: ID!, $f: Int, $a: String, $s: String) { lightningNode(id: $id) {
  networkNodes(first: $f, after: $a, search: $s) { totalCount pageInfo { hasNextPage endCursor }
    edges { node { pubkey alias addresses channels capacity connectAddress } } } } }"""


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"lnd_timeout_s": 3.0, "lnd_stream_min_backoff_s": 0.05, "lnd_stream_max_backoff_s": 0.3}


async def test_peers_have_alias_and_addresses(gql: GraphQLClient, user_token: str, devlnd: DevLnd) -> None:
    n = await connect(gql, devlnd)
    q = "query($id: ID!) { lightningNode(id: $id) { peers { pubkey alias address addresses } } }"
    peers = (await gql(q, {"id": n["id"]}))["data"]["lightningNode"]["peers"]
    by_pub = {p.pubkey: p for p in devlnd.state.directory.values()}
    assert len(peers) == 4
    for p in peers:
        assert p["alias"] == by_pub[p["pubkey"]].alias and p["addresses"] == [by_pub[p["pubkey"]].host]


async def test_network_nodes_paginated_and_usable(gql: GraphQLClient, user_token: str, devlnd: DevLnd) -> None:
    n = await connect(gql, devlnd)
    first = (await gql(NODES, {"id": n["id"], "f": 10}))["data"]["lightningNode"]["networkNodes"]
    total = first["totalCount"]
    assert total == len(devlnd.state.directory) + 30 and first["pageInfo"]["hasNextPage"]
    seen = [e["node"] for e in first["edges"]]
    after = first["pageInfo"]["endCursor"]
    while after:
        page = (await gql(NODES, {"id": n["id"], "f": 10, "a": after}))["data"]["lightningNode"]["networkNodes"]
        seen += [e["node"] for e in page["edges"]]
        after = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    assert len(seen) == total and len({s["pubkey"] for s in seen}) == total
    assert devlnd.state.pubkey not in {s["pubkey"] for s in seen}
    caps = [s["capacity"] for s in seen]
    assert caps == sorted(caps, reverse=True) and all(s["connectAddress"] for s in seen)
    # search by alias, then open a channel to a node found there
    found = (await gql(NODES, {"id": n["id"], "s": "NODE-07"}))["data"]["lightningNode"]["networkNodes"]
    assert [e["node"]["alias"] for e in found["edges"]] == ["node-07"]
    body = await gql(NODES, {"id": n["id"], "a": "bogus"}, expect_errors=True)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    body = await gql(NODES, {"id": n["id"], "f": -1}, expect_errors=True)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    grace = next(p for p in devlnd.state.directory.values() if p.alias == "grace")
    target = next(s for s in seen if s["pubkey"] == grace.pubkey)
    opened = await gql(OPEN, {"i": {"nodeId": n["id"], "peer": target["connectAddress"], "capacity": 600_000}})
    assert opened["data"]["openChannel"]["kind"] == "OPENING"
