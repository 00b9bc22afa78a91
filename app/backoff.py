"""Retry delays: exponential growth from ``initial_s`` up to ``max_s``, times a random jitter factor.

    backoff = Backoff(0.5, 30.0)
    while True:
        try:
            ...
            backoff.reset()  # after a healthy run
        except Exception:
            await asyncio.sleep(backoff.next())

``jitter=(low, high)`` scales each delay by a uniform factor in ``[low, high)``: ``(0.5, 1.0)``
(the default) spreads reconnecting clients without ever waiting longer than the cap; ``(0.0,
1.0)`` is "full jitter".
"""

from __future__ import annotations

import random

# 2**64 times any sensible initial delay is past any sensible cap; the exponent stops there so
# the arithmetic never overflows however many attempts fail.
_MAX_EXPONENT = 64


class Backoff:
    def __init__(
        self,
        initial_s: float,
        max_s: float,
        *,
        jitter: tuple[float, float] = (0.5, 1.0),
        rng: random.Random | None = None,
    ) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.low, self.high = jitter
        self._random = rng.random if rng is not None else random.random
        self.attempt = 0

    def delay(self, attempt: int) -> float:
        """The delay before retry number ``attempt`` (0 = the first retry)."""
        base = min(self.max_s, self.initial_s * (2 ** min(attempt, _MAX_EXPONENT)))
        return base * (self.low + (self.high - self.low) * self._random())

    def next(self) -> float:
        """The next delay; each call doubles the base until the cap."""
        d = self.delay(self.attempt)
        self.attempt += 1
        return d

    def reset(self) -> None:
        """Start again from ``initial_s`` (after a success)."""
        self.attempt = 0
