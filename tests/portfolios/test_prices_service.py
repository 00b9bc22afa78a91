"""The price service against the local provider server: backfill into the database, the poller's
`priceUpdated` / `portfolioValueChanged` events, fallback when a provider fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.container import Container
from app.events.envelope import Event
from tests.conftest import make_settings
from tests.prices.server import FakeApis, serve_fake_apis


@pytest.fixture
def apis() -> Iterator[FakeApis]:
    with serve_fake_apis() as a:
        yield a


@pytest.fixture
async def container(tmp_path: Path, database_url: str, apis: FakeApis) -> AsyncIterator[Container]:
    settings = make_settings(tmp_path, database_url, price_timeout_s=2.0, **apis.settings_urls())
    c = Container(settings)
    await c.start()
    yield c
    await c.stop()


async def test_backfill_stores_provider_closes_once(container: Container, apis: FakeApis) -> None:
    rows = await container.prices.history("USD", date(2025, 9, 23), date(2025, 10, 3))
    got = {r.day.isoformat(): (r.close, r.source) for r in rows}
    assert got["2025-09-23"][1] == "bundled"
    assert got["2025-10-02"] == (Decimal("120681.26"), "coinbase")
    assert "2025-09-25" not in got  # no provider had it: absent, never invented
    first_requests = len(apis.requests)
    assert first_requests >= 1
    again = await container.prices.history("USD", date(2025, 10, 1), date(2025, 10, 3))
    assert [r.close for r in again] == [Decimal("118594.99"), Decimal("120681.26"), Decimal("122266.53")]
    assert len(apis.requests) == first_requests  # served from the database


async def collect(it: AsyncIterator[Event], n: int, timeout: float = 5.0) -> list[Event]:
    out: list[Event] = []

    async def run() -> None:
        async for e in it:
            if e.type in ("priceUpdated", "portfolioValueChanged"):
                out.append(e)
                if len(out) >= n:
                    return

    await asyncio.wait_for(run(), timeout)
    return out


async def test_poller_publishes_price_and_portfolio_value(container: Container, apis: FakeApis) -> None:
    user = await container.accounts.create_user("alice@example.com", "correct horse battery staple")
    p = await container.portfolios.create(user.id, "Savings", [])
    sub: Any = container.hub.subscribe(user.id)
    task = asyncio.create_task(collect(sub, 2))  # subscribed above: events queue until it reads
    moved = await container.prices.poll_once()
    assert [(m.currency, m.value, m.source) for m in moved] == [("USD", Decimal("123456.78"), "coinbase")]
    events = await task
    price_event = next(e for e in events if e.type == "priceUpdated")
    assert price_event.user_id is None and price_event.subject == "USD"
    assert price_event.payload["value"] == "123456.78" and price_event.payload["source"] == "coinbase"
    value_event = next(e for e in events if e.type == "portfolioValueChanged")
    assert value_event.subject == p.id and value_event.user_id == user.id
    assert value_event.payload["value"] == "0.00"

    # no move, no event
    assert await container.prices.poll_once() == []
    # the first provider fails: the next one answers, at another price -> a new tick
    apis.modes["coinbase"] = "500"
    moved = await container.prices.poll_once()
    assert [(m.value, m.source) for m in moved] == [(Decimal("123460.00000"), "kraken")]
    health = await container.prices.health()
    assert health["status"] == "ok"


async def test_all_providers_down_reports_degraded_health(container: Container, apis: FakeApis) -> None:
    apis.modes.update({n: "500" for n in ("coinbase", "kraken", "coingecko", "bitstamp")})
    await container.portfolios.create(
        (await container.accounts.create_user("bob@example.com", "correct horse battery staple")).id, "EUR", [], "EUR"
    )
    moved = await container.prices.poll_once()
    # USD falls back to the stale bundled close; EUR has no fallback
    assert [(m.currency, m.source) for m in moved] == [("USD", "bundled")]
    health = await container.prices.health()
    assert health["status"] == "degraded" and "EUR" in health["error"]


async def test_report_job_publishes_progress(container: Container) -> None:
    user = await container.accounts.create_user("carol@example.com", "correct horse battery staple")
    p = await container.portfolios.create(user.id, "Reports", [])
    sub: Any = container.hub.subscribe(user.id)
    seen: list[Event] = []

    async def watch() -> None:
        async for e in sub:
            if e.type == "reportProgress":
                seen.append(e)
                if e.payload["status"] in ("SUCCEEDED", "FAILED"):
                    return

    task = asyncio.create_task(asyncio.wait_for(watch(), 30))  # subscribed above: events queue
    r = await container.reports.generate(user.id, p.id, "M1", "HTML")
    await task
    assert all(e.subject == r.id and e.user_id == user.id for e in seen)
    progress = [e.payload["progress"] for e in seen]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert seen[-1].payload["status"] == "SUCCEEDED"
    assert [e.payload["status"] for e in seen[:1]] == ["RUNNING"]
