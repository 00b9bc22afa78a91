"""A fallback chain over price providers.

``spot``: providers are tried in the configured order, each bounded by ``timeout_s``; the first good
answer wins. When every live provider fails, the bundled history answers with its last close, whose
``at`` shows how stale it is. ``history``: the providers fill the requested days in order (the
bundled
file first: it is offline and exact), each later provider only asked for what is still missing.

A currency that no provider quotes raises ``BadInput(field="currency")``; a currency that providers
quote but none answered raises ``UpstreamUnavailable``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import date, timedelta

import httpx
import structlog

from app.config import Settings
from app.errors import BadInput, UpstreamUnavailable
from app.prices.bitstamp import BitstampProvider
from app.prices.bundled import BundledProvider
from app.prices.coinbase import CoinbaseProvider
from app.prices.coingecko import CoinGeckoProvider, api_key_header
from app.prices.kraken import KrakenProvider
from app.prices.provider import DailyClose, Price, PriceProvider, ProviderError

log = structlog.get_logger(__name__)

_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


class PriceChain:
    """Ordered providers with per-provider timeouts and fallback."""

    def __init__(self, providers: Sequence[PriceProvider], timeout_s: float = 10.0) -> None:
        if not providers:
            raise ValueError("a price chain needs at least one provider")
        self.providers = list(providers)
        self.timeout_s = timeout_s
        self._failing: set[str] = set()

    def _failed(self, provider: str, what: str, error: str) -> None:
        """Warn when a provider starts failing, not on every poll (an offline node polls all day)."""
        if provider not in self._failing:
            self._failing.add(provider)
            log.warning(f"price {what} failed", provider=provider, error=error)
        else:
            log.debug(f"price {what} failed", provider=provider, error=error)

    def _answered(self, provider: str) -> None:
        if provider in self._failing:
            self._failing.discard(provider)
            log.info("price provider recovered", provider=provider)

    def normalise(self, currency: str) -> str:
        if not isinstance(currency, str) or not _CURRENCY.match(currency.strip()):
            raise BadInput(
                f"{currency!r} is not a currency code",
                field="currency",
                hint="Use a 3-letter ISO code such as USD.",
            )
        cur = currency.strip().upper()
        if not any(p.supports(cur) for p in self.providers):
            raise BadInput(
                f"No price provider quotes BTC in {cur}.",
                field="currency",
                hint=f"Supported: {', '.join(sorted(self.currencies()))}. Only USD has an offline history bundled; "
                f"{cur} needs a live price provider that quotes it (MBF_PRICE_PROVIDERS: kraken or coingecko).",
            )
        return cur

    def currencies(self) -> set[str]:
        out: set[str] = set()
        for p in self.providers:
            out |= set(getattr(p, "currencies", set()))
            if p.supports("USD"):
                out.add("USD")
        return out

    async def spot(self, currency: str) -> Price:
        cur = self.normalise(currency)
        errors: list[str] = []
        # Live providers first; the bundled history (stale by nature) only as the last resort.
        ordered = sorted(
            (p for p in self.providers if p.supports(cur)),
            key=lambda p: isinstance(p, BundledProvider),
        )
        for p in ordered:
            try:
                price = await asyncio.wait_for(p.spot(cur), self.timeout_s)
            except (ProviderError, TimeoutError) as exc:
                msg = str(exc) or f"{p.name}: timed out after {self.timeout_s}s"
                errors.append(msg)
                self._failed(p.name, "provider", msg)
                continue
            self._answered(p.name)
            return price
        offline = any(isinstance(p, BundledProvider) and p.supports(cur) for p in self.providers)
        raise UpstreamUnavailable(
            f"No price provider answered for {cur}: " + "; ".join(errors),
            hint="Check network access to the price APIs, or retry later."
            + ("" if offline else f" {cur} has no offline history bundled (only USD has): it needs a live provider."),
        )

    async def history(self, currency: str, start: date, end: date) -> list[DailyClose]:
        """Closes for the days in ``start..end`` any provider could give (missing days simply
        absent)."""
        cur = self.normalise(currency)
        if end < start:
            raise BadInput("'from' is after 'to'.", field="from")
        got: dict[date, DailyClose] = {}
        ordered = sorted(
            (p for p in self.providers if p.supports(cur)),
            key=lambda p: not isinstance(p, BundledProvider),
        )
        for p in ordered:
            missing = _missing_range(got, start, end)
            if missing is None:
                break
            lo, hi = missing
            try:
                rows = await asyncio.wait_for(p.history(cur, lo, hi), self.timeout_s * 3)
            except (ProviderError, TimeoutError) as exc:
                self._failed(p.name, "history", str(exc) or "timeout")
                continue
            self._answered(p.name)
            for row in rows:
                got.setdefault(row.day, row)
        return [got[d] for d in sorted(got)]


def _missing_range(got: dict[date, DailyClose], start: date, end: date) -> tuple[date, date] | None:
    """The smallest range covering every day not yet in ``got`` (None when complete)."""
    lo = start
    while lo <= end and lo in got:
        lo += timedelta(days=1)
    if lo > end:
        return None
    hi = end
    while hi in got:
        hi -= timedelta(days=1)
    return lo, hi


PROVIDER_CLASSES = {
    "coinbase": (CoinbaseProvider, "coinbase_url"),
    "kraken": (KrakenProvider, "kraken_url"),
    "coingecko": (CoinGeckoProvider, "coingecko_url"),
    "bitstamp": (BitstampProvider, "bitstamp_url"),
}


def build_chain(settings: Settings, client: httpx.AsyncClient, bundled: BundledProvider | None = None) -> PriceChain:
    """The chain named by ``Settings.price_providers`` plus the bundled history."""
    providers: list[PriceProvider] = []
    for name in settings.price_providers:
        entry = PROVIDER_CLASSES.get(name.lower())
        if entry is None:
            raise ValueError(f"unknown price provider {name!r} (known: {', '.join(PROVIDER_CLASSES)})")
        cls, url_field = entry
        url = getattr(settings, url_field)
        headers: dict[str, str] = {}
        if cls is CoinGeckoProvider and settings.coingecko_api_key is not None:
            headers = api_key_header(url, settings.coingecko_api_key.get_secret_value())
        providers.append(cls(url, client, settings.price_timeout_s, headers))
    providers.append(bundled or BundledProvider())
    return PriceChain(providers, settings.price_timeout_s)
