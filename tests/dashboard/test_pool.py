"""More concurrent operations than the database pool has connections, each holding its snapshot's
connection and needing a second one (price closes are read live): every one answers, none waits for
the pool's timeout (snapshots take at most half the pool)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.server import GraphQLClient

QUERY = '{ portfolio(id: "all") { performance(timeframe: W1) { timeWeightedReturn } } }'


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"price_providers": []}


async def test_operations_beyond_the_pool_size_all_answer(gql: GraphQLClient, user_token: str) -> None:
    await gql(QUERY)  # the week's closes stored once
    answers = await asyncio.wait_for(asyncio.gather(*(gql(QUERY) for _ in range(24))), 25)
    assert all(a["data"]["portfolio"]["performance"] is not None for a in answers)
