"""Walking a Relay connection both ways (tests of lists that page)."""

from __future__ import annotations

from typing import Any

from tests.support.server import GraphQLClient


def connection(body: dict[str, Any]) -> dict[str, Any]:
    node: Any = body["data"]
    while "edges" not in node:
        (node,) = node.values()
    return dict(node)


async def walk(gql: GraphQLClient, query: str, size: int, **fixed: Any) -> tuple[list[Any], list[Any]]:
    """Every item forward (``first``/``after``) and backward (``last``/``before``), checking each
    page's flags and cursors against the Relay rules on the way."""
    forward: list[Any] = []
    after = None
    while True:
        conn = connection(await gql(query, {**fixed, "first": size, "after": after}))
        info, edges = conn["pageInfo"], conn["edges"]
        assert info["hasPreviousPage"] is (after is not None)  # items at or before `after` exist
        if edges:
            assert (info["startCursor"], info["endCursor"]) == (edges[0]["cursor"], edges[-1]["cursor"])
        forward += [e["node"] for e in edges]
        assert len(edges) <= size
        if not info["hasNextPage"]:
            break
        assert len(edges) == size
        after = info["endCursor"]
    total = conn["totalCount"]
    backward: list[Any] = []
    before = None
    while True:
        conn = connection(await gql(query, {**fixed, "last": size, "before": before}))
        info, edges = conn["pageInfo"], conn["edges"]
        assert info["hasNextPage"] is (before is not None)  # items at or after `before` exist
        assert conn["totalCount"] == total
        if edges:
            assert (info["startCursor"], info["endCursor"]) == (edges[0]["cursor"], edges[-1]["cursor"])
        backward = [e["node"] for e in edges] + backward
        if not info["hasPreviousPage"]:
            break
        assert len(edges) == size
        before = info["startCursor"]
    assert len(forward) == total
    return forward, backward
