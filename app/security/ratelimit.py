"""A small in-process sliding-window limiter (login attempts per email and per client)."""

from __future__ import annotations

import time
from collections import deque

from app.errors import RateLimited


class SlidingWindowLimiter:
    def __init__(self, limit: int, window_s: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str) -> None:
        """Record one attempt; raise :class:`RateLimited` when the key is over its limit."""
        now = time.monotonic()
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._hits.clear()  # bounded memory under a spray of keys
            hits = self._hits[key] = deque()
        while hits and now - hits[0] > self.window_s:
            hits.popleft()
        if len(hits) >= self.limit:
            retry = int(self.window_s - (now - hits[0])) + 1
            raise RateLimited(f"Too many attempts; try again in {retry} s.", hint=f"retry after {retry} seconds")
        hits.append(now)

    def reset(self, key: str) -> None:
        self._hits.pop(key, None)
