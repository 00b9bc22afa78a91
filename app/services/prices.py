"""Prices: the provider chain, the stored daily history with backfill, and the background poller.

- ``spot(currency)``: the latest price from the provider chain (cached for ``CACHE_S`` seconds),
  always with ``at`` and ``source``.
- ``daily(currency, start, end)``: closes from the ``prices`` table; days missing there are fetched
  once from the providers (bundled history first for USD) and stored. Days no provider has stay
  missing: the analytics interpolate them and mark the result partial.
- The poller (when ``MBF_PRICE_POLL_ENABLED``) fetches the spot price of every currency in use every
  ``MBF_PRICE_POLL_INTERVAL_S``; when it moved it publishes ``priceUpdated`` (a public event,
  ``subject`` = currency) and awaits the re-valuation the container connected (the portfolios'
  ``revalue``: ``portfolioValueChanged``). Which currencies are in use is the portfolios' answer
  too (``connect_valuation``): this area reads only its own table, ``prices``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa
import structlog

from app.analytics.pricing import DailyPrices
from app.config import Settings
from app.errors import BadInput, UpstreamUnavailable
from app.events.envelope import Event
from app.events.hub import EventHub
from app.observability.metrics import price_failed, price_obtained
from app.prices.bundled import BundledProvider
from app.prices.chain import PriceChain, build_chain
from app.prices.provider import DailyClose, Price
from app.store.db import Store
from app.store.models.portfolios import PriceRow

log = structlog.get_logger(__name__)

PRICES: sa.Table = PriceRow.__table__  # type: ignore[attr-defined]

CACHE_S = 30.0
RETRY_MISSING_S = 3600.0  # ask providers again for days they did not have after an hour
MAX_RANGE_DAYS = 366 * 30
GROW_DAYS = 365  # a currency with no stored close grows from this many days back


class PriceService:
    def __init__(
        self,
        store: Store,
        hub: EventHub,
        settings: Settings,
        chain: PriceChain | None = None,
        bundled: BundledProvider | None = None,
    ) -> None:
        self.store = store
        self.hub = hub
        self.settings = settings
        self._client: httpx.AsyncClient | None = None
        self.bundled = bundled
        self._chain = chain
        self._spot: dict[str, tuple[float, Price]] = {}
        self._asked: dict[tuple[str, date, date], float] = {}
        self._last_published: dict[str, Decimal] = {}
        self._backfilled: dict[str, date] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._currencies: Callable[[], Awaitable[Collection[str]]] | None = None
        self._revalue: Callable[[Price], Awaitable[object]] | None = None
        self.last_error: str | None = None

    @property
    def chain(self) -> PriceChain:
        if self._chain is None:
            if self._client is None:
                self._client = httpx.AsyncClient(follow_redirects=True)
            self.bundled = self.bundled or BundledProvider()
            self._chain = build_chain(self.settings, self._client, self.bundled)
        return self._chain

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.settings.price_poll_enabled:
            self._task = asyncio.create_task(self._poll_forever(), name="price-poller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def health(self) -> dict[str, Any]:
        status = "ok" if self.last_error is None else "degraded"
        out: dict[str, Any] = {"status": status, "poller": self._task is not None}
        if self.last_error:
            out["error"] = self.last_error
        return out

    # -- queries ----------------------------------------------------------------------------------

    def normalise(self, currency: str) -> str:
        return self.chain.normalise(currency)

    def currency_sources(self) -> list[tuple[str, list[str], bool]]:
        """(currency, live providers quoting it, whether an offline history is bundled), by code."""
        chain = self.chain
        out = []
        for code in sorted(chain.currencies()):
            live = [p.name for p in chain.providers if p.supports(code) and not isinstance(p, BundledProvider)]
            offline = any(p.supports(code) for p in chain.providers if isinstance(p, BundledProvider))
            out.append((code, live, offline))
        return out

    async def spot(self, currency: str, *, fresh: bool = False) -> Price:
        cur = self.normalise(currency)
        hit = self._spot.get(cur)
        if hit and not fresh and time.monotonic() - hit[0] < CACHE_S:
            return hit[1]
        price = await self.chain.spot(cur)
        self._spot[cur] = (time.monotonic(), price)
        return price

    async def price_at(self, currency: str, at: datetime | None) -> Price:
        """The spot price (``at`` None or within the last hour), else the close of that UTC day."""
        cur = self.normalise(currency)
        now = datetime.now(UTC)
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=UTC)  # a time without offset is taken as UTC
        if at is None or timedelta(0) <= (now - at) < timedelta(hours=1):
            return await self.spot(cur)
        day = at.astimezone(UTC).date()
        if at > now:
            raise BadInput("That time is in the future.", field="at")
        rows = await self.history(cur, day, day)
        if not rows:
            raise BadInput(
                f"No {cur} price is known for {day.isoformat()}.",
                field="at",
                hint="Bitcoin prices start in 2010; try a later date or another currency.",
            )
        r = rows[0]
        return Price(cur, r.close, datetime.combine(r.day + timedelta(days=1), datetime.min.time(), UTC), r.source)

    async def history(self, currency: str, start: date, end: date) -> list[DailyClose]:
        """Stored closes for ``start..end`` (inclusive), backfilled from providers where missing."""
        cur = self.normalise(currency)
        if end < start:
            raise BadInput("'from' must not be after 'to'.", field="from")
        if (end - start).days > MAX_RANGE_DAYS:
            raise BadInput("The range is too long.", field="from", hint="Ask for at most 30 years.")
        today = datetime.now(UTC).date()
        end = min(end, today - timedelta(days=1))  # only closed days have a close
        if end < start:
            return []
        rows = await self._stored(cur, start, end)
        have = {r.day for r in rows}
        expected = (end - start).days + 1
        if len(have) < expected:
            await self._backfill(cur, start, end, have)
            rows = await self._stored(cur, start, end)
        return rows

    async def daily_prices(self, currency: str, start: date, end: date) -> DailyPrices:
        """Closes as :class:`DailyPrices` for the analytics; includes the spot price as today's
        value so that the last day of a timeframe is valued now."""
        rows = await self.history(currency, start, end)
        pairs = [(r.day, r.close) for r in rows]
        today = datetime.now(UTC).date()
        if end >= today:
            try:
                spot = await self.spot(currency)
                if spot.age_seconds() < 2 * 86400:  # a stale fallback is not today's price
                    pairs.append((today, spot.value))
            except UpstreamUnavailable:
                pass
        if not pairs:
            # nothing in range: take the nearest known close before it (marked estimated later)
            before = await self._latest_before(self.normalise(currency), start)
            if before is not None:
                pairs.append((before.day, before.close))
        if not pairs:
            # last resort: the (stale) spot price, on the day it is from; every day is then estimated
            with contextlib.suppress(UpstreamUnavailable):
                spot = await self.spot(currency)
                pairs.append(((spot.at - timedelta(seconds=1)).date(), spot.value))
        if not pairs:
            raise BadInput(
                f"No {currency.upper()} price is known for this period.",
                field="timeframe",
            )
        return DailyPrices.from_pairs(pairs, max_gap_days=self.settings.price_max_gap_days)

    async def stored_closes(self, days: set[date]) -> dict[date, dict[str, Decimal]]:
        """The stored closes of those days in every currency (no provider is asked): for exports
        that value past amounts (BIP-329 ``fmv``)."""
        if not days:
            return {}
        q = sa.select(PRICES.c.day, PRICES.c.currency, PRICES.c.close).where(PRICES.c.day.in_(sorted(days)))
        async with self.store.read() as s:
            rows = (await (await s.connection()).execute(q)).all()
        out: dict[date, dict[str, Decimal]] = {}
        for d, cur, close in rows:
            out.setdefault(d, {})[cur] = _clean(close)
        return out

    async def _latest_before(self, cur: str, day: date) -> DailyClose | None:
        q = (
            sa.select(PRICES.c.day, PRICES.c.close, PRICES.c.source)
            .where(PRICES.c.currency == cur, PRICES.c.day < day)
            .order_by(PRICES.c.day.desc())
            .limit(1)
        )
        async with self.store.read(live=True) as s:  # closes are filled in during requests
            row = (await (await s.connection()).execute(q)).first()
        return None if row is None else DailyClose(cur, row[0], _clean(row[1]), row[2])

    async def _stored(self, cur: str, start: date, end: date) -> list[DailyClose]:
        q = (
            sa.select(PRICES.c.day, PRICES.c.close, PRICES.c.source)
            .where(PRICES.c.currency == cur, PRICES.c.day >= start, PRICES.c.day <= end)
            .order_by(PRICES.c.day)
        )
        async with self.store.read(live=True) as s:  # closes are filled in during requests
            rows = (await (await s.connection()).execute(q)).all()
        return [DailyClose(cur, d, _clean(c), src) for d, c, src in rows]

    async def _backfill(self, cur: str, start: date, end: date, have: set[date]) -> None:
        key = (cur, start, end)
        async with self._lock:
            asked = self._asked.get(key)
            if asked is not None and time.monotonic() - asked < RETRY_MISSING_S:
                return
            self._asked[key] = time.monotonic()
            # the smallest range covering what is missing
            lo, hi = start, end
            while lo <= hi and lo in have:
                lo += timedelta(days=1)
            while hi >= lo and hi in have:
                hi -= timedelta(days=1)
            if lo > hi:
                return
            try:
                fetched = await self.chain.history(cur, lo, hi)
            except UpstreamUnavailable as exc:
                self.last_error = exc.message
                return
            new = [r for r in fetched if r.day not in have]
            if not new:
                return
            await self.store_closes(new)
            log.info("prices_backfilled", currency=cur, days=len(new), start=str(lo), end=str(hi))

    async def store_closes(self, rows: list[DailyClose]) -> None:
        """Insert closes, keeping rows that are already stored."""
        if not rows:
            return
        async with self.store.write() as s:
            conn = await s.connection()
            days_by_cur: dict[str, set[date]] = {}
            for r in rows:
                days_by_cur.setdefault(r.currency, set()).add(r.day)
            existing: set[tuple[str, date]] = set()
            for cur, days in days_by_cur.items():
                res = await conn.execute(
                    sa.select(PRICES.c.day).where(
                        PRICES.c.currency == cur, PRICES.c.day >= min(days), PRICES.c.day <= max(days)
                    )
                )
                existing |= {(cur, d) for (d,) in res.all()}
            now = datetime.now(UTC)
            values = [
                {"currency": r.currency, "day": r.day, "close": r.close, "source": r.source, "fetched_at": now}
                for r in rows
                if (r.currency, r.day) not in existing
            ]
            for i in range(0, len(values), 1000):
                await conn.execute(sa.insert(PRICES), values[i : i + 1000])

    # -- poller -----------------------------------------------------------------------------------

    def connect_valuation(
        self,
        currencies: Callable[[], Awaitable[Collection[str]]],
        revalue: Callable[[Price], Awaitable[object]],
    ) -> None:
        """The container's wiring to the valuing area (portfolios), which this one does not import:
        the currencies it values in (polled besides USD), and its re-valuation, awaited for each
        moved price so that a poll ends after its re-valuations."""
        self._currencies = currencies
        self._revalue = revalue

    async def currencies_in_use(self) -> set[str]:
        return {"USD"} | (set(await self._currencies()) if self._currencies is not None else set())

    async def poll_once(self) -> list[Price]:
        """Fetch every currency in use; publish and re-value for those whose price moved."""
        moved: list[Price] = []
        errors: list[str] = []
        for cur in sorted(await self.currencies_in_use()):
            await self._daily_backfill(cur)  # the stored history grows while the server runs
            try:
                price = await self.spot(cur, fresh=True)
            except (UpstreamUnavailable, BadInput) as exc:
                errors.append(f"{cur}: {exc.message}")
                price_failed(cur)
                continue
            price_obtained(cur, price.at)
            if price.age_seconds() > 2 * 86400:
                errors.append(f"{cur}: only a stale price ({price.source}, {price.at.isoformat()})")
                price_failed(cur)
            if self._last_published.get(cur) == price.value:
                continue
            self._last_published[cur] = price.value
            moved.append(price)
            await self.hub.publish(
                Event(
                    type="priceUpdated",
                    user_id=None,
                    subject=cur,
                    payload={
                        "currency": cur,
                        "value": str(price.value),
                        "at": price.at.isoformat(),
                        "source": price.source,
                    },
                )
            )
            if self._revalue is not None:
                try:
                    await self._revalue(price)
                except Exception:
                    log.exception("revalue_failed", currency=cur)
        self.last_error = "; ".join(errors) or None
        return moved

    async def _daily_backfill(self, cur: str) -> None:
        """Once a UTC day per currency: grow the stored history up to yesterday's close."""
        today = datetime.now(UTC).date()
        if self._backfilled.get(cur) == today:
            return
        try:
            last = await self.extend_history(cur)
        except (UpstreamUnavailable, BadInput) as exc:
            log.warning("daily_backfill_failed", currency=cur, error=exc.message)
            return
        if last is not None and last >= today - timedelta(days=1):
            self._backfilled[cur] = today  # complete for today; otherwise try again next poll

    async def extend_history(self, currency: str) -> date | None:
        """Store the closes after the last stored one (for USD at least from the bundled file's end,
        else the last ``GROW_DAYS``) up to yesterday, from the providers' history endpoints.
        Returns the last stored day afterwards (None when nothing is stored)."""
        cur = self.normalise(currency)
        today = datetime.now(UTC).date()
        yesterday = today - timedelta(days=1)
        last = await self._latest_before(cur, today)
        if last is not None:
            start = last.day + timedelta(days=1)
        else:
            start = today - timedelta(days=GROW_DAYS)
            bundled = self.bundled or BundledProvider()
            if bundled.supports(cur):
                start = min(start, bundled.last_day + timedelta(days=1))
        if start <= yesterday:
            await self.history(cur, start, yesterday)
            last = await self._latest_before(cur, today)
        return None if last is None else last.day

    async def _poll_forever(self) -> None:
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("price_poll_failed")
            await asyncio.sleep(self.settings.price_poll_interval_s)


def _clean(value: object) -> Decimal:
    """A stored Numeric(28, 8) without its trailing zeros (never in exponent notation)."""
    d = Decimal(str(value))
    n = d.normalize()
    return n.quantize(Decimal(1)) if n == n.to_integral_value() else n
