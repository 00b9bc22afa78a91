"""Fee estimates per network from the configured chain backend, cached, with recommendations.

The recommendation follows what Sparrow and mempool.space show: *fastest* (next block), *half
hour* (3 blocks), *hour* (6 blocks), *economy* (144 blocks, a day) and *minimum* (the node's
minimum relay rate, 1 sat/vB when the server does not say). Each is at least the next slower one,
and none is below the minimum. When the server cannot answer, the last estimates are served with
their age (``stale``); with none cached, ``UpstreamUnavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from app.chain.backend import ChainBackend, FeeEstimates
from app.errors import BadInput, UpstreamUnavailable

# target name -> blocks
TARGETS = {"FASTEST": 1, "HALF_HOUR": 3, "HOUR": 6, "ECONOMY": 144, "MINIMUM": 0}
DEFAULT_MIN_RELAY = Decimal("1.0")
STALE_AFTER_S = 600.0  # estimates older than this are flagged stale even if served


def _rate(value: float) -> Decimal:
    """A fee rate in sat/vB to one decimal place, rounded up (a rate, never money)."""
    return Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_CEILING)


@dataclass(frozen=True, slots=True)
class FeeRecommendation:
    network: str
    fastest: Decimal
    half_hour: Decimal
    hour: Decimal
    economy: Decimal
    minimum: Decimal
    by_target: dict[int, Decimal]
    histogram: tuple[tuple[float, int], ...]
    fetched_at: datetime
    age_s: float
    stale: bool
    source: str  # backend name

    def for_target(self, name: str) -> Decimal:
        return {
            "FASTEST": self.fastest,
            "HALF_HOUR": self.half_hour,
            "HOUR": self.hour,
            "ECONOMY": self.economy,
            "MINIMUM": self.minimum,
        }[name]


def recommend(
    network: str, est: FeeEstimates, source: str, fetched: float, now: float, failed: bool = False
) -> FeeRecommendation:
    minimum = _rate(est.min_relay) if est.min_relay else DEFAULT_MIN_RELAY
    picks: list[Decimal] = []
    for blocks in (1, 3, 6, 144):
        r = est.for_target(blocks)
        if r is None:  # no estimate this fast: the fastest the server has
            r = est.by_target[min(est.by_target)]
        picks.append(max(_rate(r), minimum))
    # Never a faster target cheaper than a slower one.
    for i in range(len(picks) - 2, -1, -1):
        picks[i] = max(picks[i], picks[i + 1])
    age = max(0.0, now - fetched)
    return FeeRecommendation(
        network=network,
        fastest=picks[0],
        half_hour=picks[1],
        hour=picks[2],
        economy=picks[3],
        minimum=minimum,
        by_target={t: _rate(r) for t, r in sorted(est.by_target.items())},
        histogram=est.histogram,
        fetched_at=datetime.fromtimestamp(fetched, UTC),
        age_s=age,
        stale=failed or age > STALE_AFTER_S,
        source=source,
    )


class FeeService:
    """Cached estimates per network; publishes ``feeEstimatesUpdated`` when they change."""

    def __init__(
        self,
        backend_for: Callable[[str], Awaitable[ChainBackend]],
        *,
        cache_s: float = 30.0,
        publish: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._backend_for = backend_for
        self.cache_s = cache_s
        self._publish = publish
        self._clock = clock
        self._cache: dict[str, tuple[float, FeeEstimates, str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._failed: set[str] = set()  # networks whose last refresh failed: served estimates are stale
        self._task: asyncio.Task[None] | None = None
        self.networks: Callable[[], list[str]] = lambda: []  # networks with a chain backend in use

    # -- component lifecycle: a refresh every cache period keeps feeEstimatesUpdated live ---------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None

    async def health(self) -> dict[str, Any]:
        return {"status": "ok", "networks": sorted(self._cache)}

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cache_s)
            for network in sorted(set(self._cache) | set(self.networks())):
                with contextlib.suppress(UpstreamUnavailable):
                    await self.estimates(network, refresh=True)

    async def estimates(self, network: str, *, refresh: bool = False) -> FeeRecommendation:
        now = self._clock()
        cached = self._cache.get(network)
        if cached is not None and not refresh and now - cached[0] < self.cache_s:
            return recommend(network, cached[1], cached[2], cached[0], now, network in self._failed)
        lock = self._locks.setdefault(network, asyncio.Lock())
        async with lock:
            cached = self._cache.get(network)
            if cached is not None and not refresh and self._clock() - cached[0] < self.cache_s:
                return recommend(network, cached[1], cached[2], cached[0], self._clock(), network in self._failed)
            try:
                backend = await self._backend_for(network)
                est = await backend.fee_estimates()
            except UpstreamUnavailable as exc:
                if cached is None:
                    raise UpstreamUnavailable(
                        f"No fee estimates for {network}: {exc.message}",
                        hint="Enter a fee rate in sat/vB yourself, or retry when the chain server answers.",
                    ) from None
                self._failed.add(network)
                return recommend(network, cached[1], cached[2], cached[0], self._clock(), True)  # with its age
            fetched = self._clock()
            self._failed.discard(network)
            self._cache[network] = (fetched, est, backend.name)
            rec = recommend(network, est, backend.name, fetched, fetched)
            if self._publish is not None and (cached is None or cached[1] != est):
                await self._publish(network, fee_payload(rec))
            return rec

    async def cached_rate(self, network: str = "mainnet", target: str = "HOUR") -> float | None:
        """The last known rate for ``target`` without asking the server (risk scores, analytics):
        ``None`` until estimates were fetched for the network."""
        cached = self._cache.get(network)
        if cached is None:
            return None
        return float(recommend(network, cached[1], cached[2], cached[0], self._clock()).for_target(target))

    async def rate_for(self, network: str, target: str) -> Decimal:
        if target not in TARGETS:
            raise BadInput(f"Unknown fee target {target}.", field="feeTarget")
        return (await self.estimates(network)).for_target(target)


def fee_payload(rec: FeeRecommendation) -> dict[str, Any]:
    return {
        "network": rec.network,
        "fastest": str(rec.fastest),
        "halfHour": str(rec.half_hour),
        "hour": str(rec.hour),
        "economy": str(rec.economy),
        "minimum": str(rec.minimum),
        "fetchedAt": rec.fetched_at.isoformat(),
        "targets": {str(b): str(v) for b, v in rec.by_target.items()},
        "stale": rec.stale,
        "source": rec.source,
    }
