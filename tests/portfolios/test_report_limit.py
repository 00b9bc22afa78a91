"""The per-user limit of running report jobs, through real jobs over the API.

A report needs the spot price. The local price-provider server holds every request until the
test releases it, so the report jobs really are running (RUNNING in ``reports``) for as long as
the test needs; nothing private is written. While three of Alice's reports run, a fourth is
RATE_LIMITED and leaves no report behind; Bob is not limited by Alice's jobs; once the jobs
finish, Alice may generate again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.services.reports import MAX_RUNNING_PER_USER
from tests.prices.server import FakeApis, serve_fake_apis
from tests.support.server import GraphQLClient, error_codes
from tests.support.signals import until

GENERATE = "mutation($i: GenerateReportInput!) { generateReport(input: $i) { id status } }"
REPORTS = "{ reports(first: 20) { totalCount edges { node { id status progress } } } }"
CREATE = "mutation($i: CreatePortfolioInput!) { createPortfolio(input: $i) { id } }"


@pytest.fixture
def apis() -> Iterator[FakeApis]:
    with serve_fake_apis() as a:
        a.modes = {p: "hold" for p in ("coinbase", "kraken", "coingecko", "bitstamp")}
        try:
            yield a
        finally:
            a.release.set()


@pytest.fixture
def settings_overrides(apis: FakeApis) -> dict[str, Any]:
    return {"price_timeout_s": 60.0, "price_poll_enabled": False, **apis.settings_urls()}


async def reports(gql: GraphQLClient, token: str) -> list[dict[str, Any]]:
    body = await gql(REPORTS, token=token)
    return [e["node"] for e in body["data"]["reports"]["edges"]]


async def generate(gql: GraphQLClient, token: str, portfolio_id: str) -> dict[str, Any]:
    return await gql(
        GENERATE,
        {"i": {"portfolioId": portfolio_id, "timeframe": "M1", "format": "JSON"}},
        token=token,
        expect_errors=True,
    )


async def test_running_report_jobs_are_limited_per_user(
    gql: GraphQLClient, user_token: str, apis: FakeApis
) -> None:
    alice = user_token
    bob = await gql.register("bob@example.com")
    mine = (await gql(CREATE, {"i": {"name": "Mine", "walletIds": []}}, token=alice))["data"]["createPortfolio"]["id"]
    his = (await gql(CREATE, {"i": {"name": "His", "walletIds": []}}, token=bob))["data"]["createPortfolio"]["id"]

    started = []
    for _ in range(MAX_RUNNING_PER_USER):
        body = await generate(gql, alice, mine)
        assert not body.get("errors"), body
        started.append(body["data"]["generateReport"]["id"])

    async def all_running() -> bool:
        # RUNNING, and a price request of theirs is waiting at the provider: none can finish now
        rs = await reports(gql, alice)
        return len(rs) == MAX_RUNNING_PER_USER and all(r["status"] == "RUNNING" for r in rs) and apis.held >= 1

    await until(all_running, "Alice's reports are running (held on a price request)")

    over = await generate(gql, alice, mine)
    assert error_codes(over) == ["RATE_LIMITED"], over
    assert over["data"] is None
    assert {r["id"] for r in await reports(gql, alice)} == set(started)  # no report row for the refused one

    # The limit is per user: Bob's report starts while Alice's three run.
    bobs = await generate(gql, bob, his)
    assert not bobs.get("errors"), bobs

    apis.release.set()  # the provider answers: every job finishes

    async def finished(token: str, n: int) -> bool:
        rs = await reports(gql, token)
        return len(rs) == n and all(r["status"] == "SUCCEEDED" for r in rs)

    await until(lambda: finished(alice, MAX_RUNNING_PER_USER), "Alice's reports finished")
    await until(lambda: finished(bob, 1), "Bob's report finished")
    again = await generate(gql, alice, mine)  # capacity is back
    assert not again.get("errors"), again
    await until(lambda: finished(alice, MAX_RUNNING_PER_USER + 1), "Alice's new report finished")
