"""Retries with exponential backoff (:class:`app.backoff.Backoff`), and a small circuit breaker.

A backend that failed all its retries is considered down for ``cooldown_s``: calls made in
that window fail at once with ``UpstreamUnavailable`` instead of queueing up behind
timeouts, so an unreachable server never slows the rest of the app.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.backoff import Backoff
from app.errors import UpstreamUnavailable
from app.observability.metrics import chain_attempt, chain_backend_up

HINT = "Check that the server is running and reachable, or configure another one."

T = TypeVar("T")


class Transient(Exception):
    """A failure worth retrying (connection error, timeout, 5xx, 429)."""

    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.retry_after = retry_after


class Breaker:
    """Opens after a call failed with all its retries; closes on the next success."""

    def __init__(self, cooldown_s: float = 5.0) -> None:
        self.cooldown_s = cooldown_s
        self.open_until = 0.0
        self.last_error: str | None = None

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self.open_until

    def trip(self, why: str) -> None:
        self.last_error = why
        self.open_until = time.monotonic() + self.cooldown_s

    def reset(self) -> None:
        self.open_until = 0.0


async def with_retries(
    op: Callable[[], Awaitable[T]],
    *,
    retries: int,
    server: str,
    breaker: Breaker | None = None,
    base_delay: float = 0.1,
) -> T:
    """Run ``op``; retry on :class:`Transient`; raise ``UpstreamUnavailable`` naming the server."""
    if breaker is not None and breaker.is_open:
        raise UpstreamUnavailable(
            f"Chain server {server} is unreachable: {breaker.last_error}",
            hint=HINT,
        )
    attempt = 0
    backoff = Backoff(base_delay, 5.0)  # jitter: uniform in [d/2, d)
    while True:
        try:
            with chain_attempt(server):
                result = await op()
        except Transient as exc:
            if attempt >= retries:
                chain_backend_up(server, False)
                if breaker is not None:
                    breaker.trip(exc.why)
                raise UpstreamUnavailable(
                    f"Chain server {server} did not answer: {exc.why}",
                    hint=HINT,
                ) from None
            delay = backoff.next()
            if exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, 10.0))
            attempt += 1
            await asyncio.sleep(delay)
        else:
            chain_backend_up(server, True)
            if breaker is not None:
                breaker.reset()
            return result
