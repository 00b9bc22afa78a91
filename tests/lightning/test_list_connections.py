"""The contract's list fields ``lightningNodes`` and ``LightningNode.peers`` keep their shape; their
connections (``lightningNodeConnection``, ``peerConnection``) page the same items in the same order,
forward and backward."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from app.dev.devlnd import DevLnd
from app.store.models.lightning import LightningNode
from tests.lightning.test_graphql import connect
from tests.support.connections import walk
from tests.support.server import GraphQLClient, LiveServer

ARGS = "$first: Int, $after: String, $last: Int, $before: String"
PASS = "first: $first, after: $after, last: $last, before: $before"
PAGE = "totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { %s } }"


async def test_lightning_nodes_and_peers_page_like_their_lists(
    gql: GraphQLClient, user_token: str, devlnd: DevLnd, server: LiveServer
) -> None:
    node = await connect(gql, devlnd)
    async with server.container.store.write() as s:  # two more stored nodes (one devlnd answers for all)
        row = (await s.exec(select(LightningNode))).one()
        for n in (1, 2):
            copy = LightningNode(**{k: v for k, v in row.model_dump().items() if k != "id"})
            copy.name, copy.pubkey = f"node {n}", f"{n:02x}" * 33
            copy.created_at = row.created_at + timedelta(seconds=n)
            s.add(copy)
    listed = (await gql("{ lightningNodes { id name } }"))["data"]["lightningNodes"]
    assert len(listed) == 3 and listed[0]["id"] == node["id"]
    nodes = listed
    query = f"query({ARGS}) {{ lightningNodeConnection({PASS}) {{ {PAGE % 'id name'} }} }}"
    for size in (1, 2, 3):
        forward, backward = await walk(gql, query, size)
        assert forward == backward == listed

    peers = await gql("query($id: ID!) { lightningNode(id: $id) { peers { pubkey } } }", {"id": nodes[0]["id"]})
    peer_list = peers["data"]["lightningNode"]["peers"]
    assert len(peer_list) == 4
    query = f"""query($id: ID!, {ARGS}) {{ lightningNode(id: $id) {{
      peerConnection({PASS}) {{ {PAGE % "pubkey"} }} }} }}"""
    for size in (1, 3):
        forward, backward = await walk(gql, query, size, id=nodes[0]["id"])
        assert forward == backward == peer_list
