"""Price providers against a local server serving the providers' recorded JSON shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest

from app.config import Settings
from app.errors import BadInput, UpstreamUnavailable
from app.prices.bitstamp import BitstampProvider
from app.prices.bundled import BundledProvider
from app.prices.chain import PriceChain, build_chain
from app.prices.coinbase import CoinbaseProvider
from app.prices.coingecko import CoinGeckoProvider
from app.prices.kraken import KrakenProvider
from app.prices.provider import ProviderError
from tests.prices.server import FakeApis, serve_fake_apis

OCT1, OCT3 = date(2025, 10, 1), date(2025, 10, 3)
EXPECTED_CLOSES = [Decimal("118594.99"), Decimal("120681.26"), Decimal("122266.53")]


@pytest.fixture(scope="module")
def apis_module() -> Iterator[FakeApis]:
    with serve_fake_apis() as apis:
        yield apis


@pytest.fixture
def apis(apis_module: FakeApis) -> FakeApis:
    apis_module.modes.clear()
    apis_module.requests.clear()
    return apis_module


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


@pytest.fixture(scope="module")
def bundled() -> BundledProvider:
    return BundledProvider()


def make(apis: FakeApis, client: httpx.AsyncClient, cls: type, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    urls = apis.settings_urls()
    return cls(urls[f"{cls.name}_url"], client, timeout)


@pytest.mark.parametrize(
    ("cls", "value", "at"),
    [
        (CoinbaseProvider, "123456.78", datetime(2025, 10, 4, 12, 0, 0, 123456, UTC)),
        (KrakenProvider, "123460.00000", None),
        (CoinGeckoProvider, "123450.12", datetime(2025, 10, 4, 12, 0, tzinfo=UTC)),
        (BitstampProvider, "123470", datetime(2025, 10, 4, 11, 56, 40, tzinfo=UTC)),
    ],
)
async def test_spot_parses_each_provider(apis, client, cls, value, at) -> None:  # type: ignore[no-untyped-def]
    before = datetime.now(UTC)
    price = await make(apis, client, cls).spot("usd")
    assert price.currency == "USD"
    assert price.value == Decimal(value)
    assert price.source == cls.name
    if at is None:  # Kraken has no timestamp: fetch time
        assert price.at >= before
    else:
        assert price.at == at


@pytest.mark.parametrize("cls", [CoinbaseProvider, KrakenProvider, CoinGeckoProvider, BitstampProvider])
async def test_history_parses_each_provider(apis, client, cls) -> None:  # type: ignore[no-untyped-def]
    rows = await make(apis, client, cls).history("USD", OCT1, OCT3)
    assert [r.day for r in rows] == [OCT1, date(2025, 10, 2), OCT3]
    assert [r.close for r in rows] == EXPECTED_CLOSES
    assert {r.source for r in rows} == {cls.name}


async def test_history_requests_use_the_real_query_parameters(apis, client) -> None:  # type: ignore[no-untyped-def]
    for cls in (CoinbaseProvider, KrakenProvider, CoinGeckoProvider, BitstampProvider):
        await make(apis, client, cls).history("USD", OCT1, OCT3)
    by_path = {p: q for p, q in apis.requests}
    assert by_path["/coinbase/products/BTC-USD/candles"]["granularity"] == ["86400"]
    assert by_path["/coinbase/products/BTC-USD/candles"]["start"] == ["2025-10-01T00:00:00Z"]
    assert by_path["/kraken/0/public/OHLC"]["pair"] == ["XBTUSD"]
    assert by_path["/kraken/0/public/OHLC"]["interval"] == ["1440"]
    assert by_path["/coingecko/api/v3/coins/bitcoin/market_chart/range"]["vs_currency"] == ["usd"]
    assert by_path["/bitstamp/api/v2/ohlc/btcusd/"]["step"] == ["86400"]


@pytest.mark.parametrize("mode", ["500", "malformed", "empty"])
@pytest.mark.parametrize("cls", [CoinbaseProvider, KrakenProvider, CoinGeckoProvider, BitstampProvider])
async def test_provider_failures_raise_provider_error(apis, client, cls, mode) -> None:  # type: ignore[no-untyped-def]
    apis.modes[cls.name] = mode
    with pytest.raises(ProviderError):
        await make(apis, client, cls).spot("USD")
    with pytest.raises(ProviderError):
        rows = await make(apis, client, cls).history("USD", OCT1, OCT3)
        if not rows:  # an empty object is "no data", which the chain treats like a failure too
            raise ProviderError("empty")


async def test_provider_timeout_raises_provider_error(apis, client) -> None:  # type: ignore[no-untyped-def]
    apis.modes["coinbase"] = "timeout"
    apis.hang_s = 1.0
    with pytest.raises(ProviderError, match="timed out"):
        await make(apis, client, CoinbaseProvider, timeout=0.2).spot("USD")


async def test_unsupported_currency_is_a_provider_error(apis, client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ProviderError):
        await make(apis, client, BitstampProvider).spot("JPY")
    assert apis.requests == []  # no request was made for a market that does not exist


def chain_for(apis: FakeApis, client: httpx.AsyncClient, bundled: BundledProvider, timeout: float = 5.0) -> PriceChain:
    settings = Settings(price_timeout_s=timeout, **apis.settings_urls())  # type: ignore[arg-type]
    return build_chain(settings, client, bundled)


async def test_chain_falls_back_in_order(apis, client, bundled) -> None:  # type: ignore[no-untyped-def]
    apis.hang_s = 2.0
    apis.modes.update({"coinbase": "500", "kraken": "timeout", "coingecko": "malformed"})
    price = await chain_for(apis, client, bundled, timeout=0.3).spot("USD")
    assert (price.source, price.value) == ("bitstamp", Decimal("123470"))
    asked = [p.split("/")[1] for p, _ in apis.requests]
    assert asked == ["coinbase", "kraken", "coingecko", "bitstamp"]


async def test_chain_uses_first_provider_when_healthy(apis, client, bundled) -> None:  # type: ignore[no-untyped-def]
    price = await chain_for(apis, client, bundled).spot("usd")
    assert price.source == "coinbase"
    assert len(apis.requests) == 1


async def test_chain_all_live_down_answers_stale_bundled_price(apis, client, bundled) -> None:  # type: ignore[no-untyped-def]
    apis.modes.update({n: "500" for n in ("coinbase", "kraken", "coingecko", "bitstamp")})
    price = await chain_for(apis, client, bundled).spot("USD")
    assert price.source == "bundled"
    assert price.at == datetime(2025, 9, 24, tzinfo=UTC)  # end of the last bundled day
    assert price.age_seconds() > 86400  # visibly stale


async def test_chain_eur_all_down_is_upstream_unavailable(apis, client, bundled) -> None:  # type: ignore[no-untyped-def]
    apis.modes.update({n: "500" for n in ("coinbase", "kraken", "coingecko", "bitstamp")})
    with pytest.raises(UpstreamUnavailable) as exc:
        await chain_for(apis, client, bundled).spot("EUR")
    assert "coinbase" in exc.value.message and "bitstamp" in exc.value.message


@pytest.mark.parametrize("currency", ["XYZ", "usdollar", "", "12$"])
async def test_chain_rejects_currency_no_provider_has(apis, client, bundled, currency) -> None:  # type: ignore[no-untyped-def]
    chain = chain_for(apis, client, bundled)
    with pytest.raises(BadInput) as exc:
        await chain.spot(currency)
    assert exc.value.field == "currency"
    with pytest.raises(BadInput):
        await chain.history(currency, OCT1, OCT3)
    assert apis.requests == []


async def test_chain_history_uses_bundled_then_live_for_missing_days(apis, client, bundled) -> None:  # type: ignore[no-untyped-def]
    rows = await chain_for(apis, client, bundled).history("USD", date(2025, 9, 22), OCT3)
    assert [(r.day.isoformat(), r.source) for r in rows] == [
        ("2025-09-22", "bundled"),
        ("2025-09-23", "bundled"),
        # 2025-09-24..30 are not in the recorded candles: absent, never invented
        ("2025-10-01", "coinbase"),
        ("2025-10-02", "coinbase"),
        ("2025-10-03", "coinbase"),
    ]
    # only the days the bundled file lacks were asked of the live provider
    (path, query), *_ = apis.requests
    assert path.endswith("/candles") and query["start"] == ["2025-09-24T00:00:00Z"]


async def test_chain_history_skips_failing_provider(apis, client, bundled) -> None:  # type: ignore[no-untyped-def]
    apis.modes.update({"coinbase": "500", "kraken": "malformed"})
    rows = await chain_for(apis, client, bundled).history("USD", OCT1, OCT3)
    assert {r.source for r in rows} == {"coingecko"}
    assert [r.close for r in rows] == EXPECTED_CLOSES


async def test_chain_history_before_any_data_is_empty(apis, client, bundled) -> None:  # type: ignore[no-untyped-def]
    apis.modes.update({n: "empty" for n in ("coinbase", "kraken", "coingecko", "bitstamp")})
    rows = await chain_for(apis, client, bundled).history("USD", date(2009, 1, 3), date(2009, 1, 10))
    assert rows == []


async def test_bundled_history_uses_close_not_the_bad_low_print(bundled) -> None:  # type: ignore[no-untyped-def]
    rows = await bundled.history("USD", date(2017, 4, 15), date(2017, 4, 15))
    assert rows[0].close == Decimal("1178.85")  # the day's `low` is the bad 0.06 print
    assert bundled.close_on(date(2017, 12, 17)) == Decimal("19378.99")
    assert bundled.close_on(date(2021, 11, 10)) == Decimal("64912.2")
    assert len(bundled.days) == 5151


async def test_coingecko_key_is_sent_as_a_header_never_in_the_url(apis, client, bundled) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        price_providers=["coingecko"],
        coingecko_api_key="CG-demo-key",
        **apis.settings_urls(),  # type: ignore[arg-type]
    )
    price = await build_chain(settings, client, bundled).spot("USD")
    assert price.source == "coingecko"
    assert apis.headers[-1]["x-cg-demo-api-key"] == "CG-demo-key"
    assert all("CG-demo-key" not in str(q) for _, q in apis.requests)
    assert "CG-demo-key" not in str(settings.redacted())
