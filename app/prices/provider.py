"""The price-provider interface and the values every provider returns.

Every price carries ``at`` (the time the provider says the value is from) and ``source``
(the provider's name), so a caller can always tell how fresh a number is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Price:
    """One BTC price in ``currency`` (upper-case ISO code) as of ``at``, from ``source``."""

    currency: str
    value: Decimal
    at: datetime
    source: str

    def age_seconds(self, now: datetime | None = None) -> float:
        """How old the price is (staleness), in seconds."""
        return ((now or datetime.now(UTC)) - self.at).total_seconds()


@dataclass(frozen=True, slots=True)
class DailyClose:
    """The close of one UTC calendar day (00:00-24:00 UTC)."""

    currency: str
    day: date
    close: Decimal
    source: str


class ProviderError(Exception):
    """A provider failed (HTTP error, timeout, malformed answer); the chain tries the next one."""


@runtime_checkable
class PriceProvider(Protocol):
    """A source of BTC prices."""

    name: str

    def supports(self, currency: str) -> bool:
        """Whether the provider quotes BTC in ``currency`` at all (no I/O)."""
        ...

    async def spot(self, currency: str) -> Price:
        """The latest price; raises :class:`ProviderError` on any failure."""
        ...

    async def history(self, currency: str, start: date, end: date) -> list[DailyClose]:
        """Daily closes for the days ``start..end`` (inclusive) the provider has, oldest first."""
        ...


def to_decimal(value: Any, what: str) -> Decimal:
    """Parse a JSON number or numeric string into a Decimal, or raise :class:`ProviderError`."""
    if isinstance(value, bool) or value is None:
        raise ProviderError(f"malformed {what}: {value!r}")
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ProviderError(f"malformed {what}: {value!r}") from exc
    if not d.is_finite() or d <= 0:
        raise ProviderError(f"implausible {what}: {value!r}")
    return d


def parse_json(text: str) -> Any:
    """JSON with floats kept exact as Decimal."""
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise ProviderError(f"malformed JSON: {exc}") from exc


def utc_from_unix(ts: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(Decimal(str(ts))), UTC)
    except (InvalidOperation, ValueError, OverflowError) as exc:
        raise ProviderError(f"malformed timestamp: {ts!r}") from exc


def day_start_unix(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())
