"""Attempt throttling with exponential backoff per key (a client, an account, an account from a client).

Each key counts attempts that have not (yet) proven good. The first ``free`` attempts pass at
once; after that attempt ``n`` must wait ``min(cap, base * 2 ** (n - free))`` seconds after the
previous one. An attempt refused while waiting is *not* counted and does not move the clock, so
an attacker sending requests during a backoff gains nothing and cannot extend it. A successful
check gives its attempt back (:meth:`Throttle.succeed`) or clears the key (:meth:`Throttle.clear`).

:class:`MemoryThrottle` is per process (LRU-bounded: the least recently used key is evicted,
never all of them); :class:`RedisThrottle` keeps the counters in Redis (one atomic script, keys
expire on their own) so every process of a deployment shares them. Acquiring several keys at
once is all-or-nothing: when one key is waiting, none is counted.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    free: int = 5  # attempts before any delay
    base_s: float = 1.0  # the first delay
    cap_s: float = 900.0  # the longest delay
    forget_s: float = 3600.0  # a key is forgotten this long after its last attempt

    def delay(self, attempts: int) -> float:
        if attempts < self.free:
            return 0.0
        return float(min(self.cap_s, self.base_s * 2 ** min(attempts - self.free, 40)))


class Throttle(Protocol):
    async def acquire(self, keys: Sequence[str], policy: BackoffPolicy) -> float:
        """Count one attempt on every key and return 0, or return the seconds to wait (nothing counted)."""
        ...

    async def succeed(self, keys: Sequence[str]) -> None:
        """Give back the attempt counted by :meth:`acquire` (it proved good)."""
        ...

    async def clear(self, keys: Sequence[str]) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def health(self) -> dict[str, Any]: ...


class MemoryThrottle:
    """Per-process counters; at most ``max_keys`` keys, the least recently used evicted first."""

    backend = "memory"

    def __init__(self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_keys = max_keys
        self.clock = clock
        self._keys: OrderedDict[str, tuple[int, float]] = OrderedDict()  # key -> (attempts, last attempt)

    def _state(self, key: str, now: float, policy: BackoffPolicy) -> tuple[int, float]:
        state = self._keys.get(key)
        if state is None or now - state[1] > policy.forget_s + policy.cap_s:
            return 0, 0.0
        return state

    async def acquire(self, keys: Sequence[str], policy: BackoffPolicy) -> float:
        now = self.clock()
        states = [self._state(k, now, policy) for k in keys]
        for key in keys:  # a key being asked about is in use: least recently used keys are evicted first
            if key in self._keys:
                self._keys.move_to_end(key)
        wait = max((last + policy.delay(n) - now for n, last in states), default=0.0)
        if wait > 0:
            return wait
        for key, (n, _) in zip(keys, states, strict=True):
            self._keys[key] = (n + 1, now)
            self._keys.move_to_end(key)
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
        return 0.0

    async def succeed(self, keys: Sequence[str]) -> None:
        for key in keys:
            state = self._keys.get(key)
            if state is not None:
                self._keys[key] = (max(0, state[0] - 1), state[1])

    async def clear(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._keys.pop(key, None)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def health(self) -> dict[str, Any]:
        return {"status": "ok", "backend": self.backend, "keys": len(self._keys)}


# KEYS: the keys; ARGV: now, free, base, cap, ttl_ms. Hash fields: n (attempts), t (last attempt).
# A key quiet for ttl is forgotten by its Redis TTL, and by the same rule here (clocks may differ).
_ACQUIRE = """
local now, free, base, cap, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local wait = 0
local counts = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'n', 't')
  local n, t = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  if now - t > tonumber(ttl) / 1000 then n = 0 end
  counts[i] = n
  if n >= free then
    local w = t + math.min(cap, base * 2 ^ math.min(n - free, 40)) - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, 'n', counts[i] + 1, 't', now)
  redis.call('PEXPIRE', key, ttl)
end
return '0'
"""

_SUCCEED = """
for _, key in ipairs(KEYS) do
  if redis.call('HINCRBY', key, 'n', -1) < 0 then redis.call('HSET', key, 'n', 0) end
  if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0
"""


class RedisThrottle:
    """Counters shared by every process through Redis; falls back to memory while Redis is down."""

    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "mbf:throttle",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.prefix = prefix
        self.clock = clock  # wall clock: shared by processes (and hosts) through Redis
        self._redis: Redis = Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0)
        self._fallback = MemoryThrottle(clock=clock)
        self._degraded = False
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._succeed = self._redis.register_script(_SUCCEED)

    def _keys(self, keys: Sequence[str]) -> list[str]:
        return [f"{self.prefix}:{k}" for k in keys]

    @staticmethod
    def _ttl_ms(policy: BackoffPolicy) -> int:
        return int((policy.forget_s + policy.cap_s) * 1000)

    def _down(self, exc: Exception) -> None:
        if not self._degraded:
            log.warning("throttle_redis_unavailable", error=type(exc).__name__)
        self._degraded = True

    async def acquire(self, keys: Sequence[str], policy: BackoffPolicy) -> float:
        p = policy
        args = [self.clock(), p.free, p.base_s, p.cap_s, self._ttl_ms(p)]
        try:
            raw = await self._acquire(keys=self._keys(keys), args=args)
        except (RedisError, OSError) as exc:
            self._down(exc)
            return await self._fallback.acquire(keys, policy)
        self._degraded = False
        return max(0.0, float(raw))

    async def succeed(self, keys: Sequence[str]) -> None:
        try:
            await self._succeed(keys=self._keys(keys), args=[self._ttl_ms(BackoffPolicy())])
        except (RedisError, OSError) as exc:
            self._down(exc)
            await self._fallback.succeed(keys)

    async def clear(self, keys: Sequence[str]) -> None:
        try:
            await self._redis.delete(*self._keys(keys))
        except (RedisError, OSError) as exc:
            self._down(exc)
            await self._fallback.clear(keys)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self._redis.aclose()

    async def health(self) -> dict[str, Any]:
        return {"status": "degraded" if self._degraded else "ok", "backend": self.backend}


def make_throttle(redis_url: str | None, prefix: str = "mbf:throttle") -> Throttle:
    """Redis-backed when the deployment has Redis (shared by its processes), else per process."""
    return RedisThrottle(redis_url, prefix=prefix) if redis_url else MemoryThrottle()
