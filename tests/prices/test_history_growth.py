"""The stored daily history grows from the providers' history endpoints while the server runs: a
server started today has real closes up to yesterday when any provider answered (here Coinbase
fails and Kraken answers), in USD after the bundled file ends and in the other base currencies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from app.container import Container
from tests.conftest import make_settings
from tests.prices.history_server import HistoryApis, close_of, serve_history_apis
from tests.support.signals import until

BUNDLED_END = date(2025, 9, 23)


@pytest.fixture
def apis() -> Iterator[HistoryApis]:
    with serve_history_apis() as a:
        yield a


async def test_a_running_server_stores_closes_up_to_yesterday(
    tmp_path: Path, database_url: str, apis: HistoryApis
) -> None:
    apis.modes["coinbase"] = "500"  # one provider down: the next one answers
    settings = make_settings(
        tmp_path, database_url, price_poll_enabled=True,
        price_poll_interval_s=3600, price_timeout_s=5.0, **apis.settings(),
    )  # fmt: skip
    c = Container(settings)
    await c.start()
    try:
        today = datetime.now(UTC).date()
        yesterday = today - timedelta(days=1)

        async def stored_to_yesterday() -> bool:
            return (await c.prices.extend_history("USD")) == yesterday

        await until(stored_to_yesterday, "USD closes stored up to yesterday", wait_s=60)
        rows = await c.prices.history("USD", BUNDLED_END, today)
        by_day = {r.day: r for r in rows}
        assert by_day[BUNDLED_END].source == "bundled"
        assert (by_day[BUNDLED_END + timedelta(days=1)].close, by_day[BUNDLED_END + timedelta(days=1)].source) == (
            close_of(BUNDLED_END + timedelta(days=1)),
            "kraken",
        )
        assert by_day[yesterday].close == close_of(yesterday) and today not in by_day  # the running day is no close
        assert len(rows) == (yesterday - BUNDLED_END).days + 1  # no day missing in between
        assert any(path.endswith("/candles") for path, _ in apis.requests)  # coinbase was asked first
    finally:
        await c.stop()


@pytest.mark.parametrize("currency", ["EUR", "GBP", "CHF", "JPY", "CAD", "AUD"])
async def test_other_base_currencies_are_valued_and_grow(
    tmp_path: Path, database_url: str, apis: HistoryApis, currency: str
) -> None:
    settings = make_settings(tmp_path, database_url, price_timeout_s=5.0, **apis.settings())
    c = Container(settings)
    await c.start()
    try:
        today = datetime.now(UTC).date()
        spot = await c.prices.spot(currency)
        assert (spot.currency, spot.value) == (currency, close_of(today, currency))
        assert spot.age_seconds() < 60  # staleness reported as for USD
        assert spot.source == ("coinbase" if currency in ("EUR", "GBP") else "kraken")  # coinbase has no BTC-JPY
        assert await c.prices.extend_history(currency) == today - timedelta(days=1)
        rows = await c.prices.history(currency, today - timedelta(days=30), today)
        assert [r.close for r in rows] == [close_of(today - timedelta(days=30 - i), currency) for i in range(30)]
    finally:
        await c.stop()


CURRENCIES = "{ priceCurrencies { code providers offlineHistory note } }"


async def test_currencies_say_which_need_a_live_provider(tmp_path: Path, database_url: str, apis: HistoryApis) -> None:
    """EUR (and every currency but USD) has no offline history: the API says it needs a provider, and
    when the providers fail the error says so too."""
    from app.errors import UpstreamUnavailable

    settings = make_settings(tmp_path, database_url, price_timeout_s=5.0, **apis.settings())
    c = Container(settings)
    await c.start()
    try:
        sources = {code: (providers, offline) for code, providers, offline in c.prices.currency_sources()}
        assert sources["USD"] == (["coinbase", "kraken"], True)
        assert sources["EUR"] == (["coinbase", "kraken"], False)
        for code in ("GBP", "CHF", "JPY", "CAD", "AUD"):
            assert sources[code][1] is False and "kraken" in sources[code][0]
        apis.modes.update(coinbase="500", kraken="500")
        with pytest.raises(UpstreamUnavailable) as err:
            await c.prices.spot("EUR", fresh=True)
        assert "EUR has no offline history bundled" in (err.value.hint or "")
        usd = await c.prices.spot("USD", fresh=True)  # USD falls back to the bundled file, stale and saying so
        assert usd.source == "bundled" and usd.age_seconds() > 86400
    finally:
        await c.stop()
