"""Redis event hub: one pub/sub connection per process, local fan-out, Redis Streams replay log.

* Publish: the event goes to this process's subscribers at once, then to an outbound buffer
  that a sender task writes to Redis in pipelined batches: ``XADD mbf:s:<user>`` (the replay
  log, ``MAXLEN ~ retention_count``, trimmed by age with ``XTRIM MINID ~`` and expired when idle)
  and ``PUBLISH mbf:events`` (``<origin>\\n<envelope json>``). Publishers never wait for Redis.
* Receive: ONE pub/sub connection subscribed to ``mbf:events``; messages from other processes
  are fanned out locally by user (our own are skipped by origin: already delivered). The reader
  blocks in ``get_message(timeout=ping_interval)`` and PINGs when idle to detect dead links.
* Faults: Redis down at start-up or later → ``health()`` says degraded, local delivery goes on,
  the outbound buffer (bounded) waits; the reader reconnects with exponential backoff + jitter,
  re-subscribes, flushes the buffer and puts a ``gap`` marker in every local subscriber's queue
  with its cursor from the moment the link was lost, so subscriptions replay what they missed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import time
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from app.backoff import Backoff
from app.errors import UpstreamUnavailable
from app.events.envelope import Event, id_time_ms
from app.events.fanout import FanoutSubscribe, LocalFanout, Subscriber
from app.ids import new_id

log = structlog.get_logger(__name__)


class RedisHub(FanoutSubscribe):
    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        queue_size: int = 256,
        retention_count: int = 10_000,
        retention_hours: float = 72,
        prefix: str = "mbf",
        connect_timeout_s: float = 2.0,
        ping_interval_s: float = 10.0,
        backoff_base_s: float = 0.1,
        backoff_cap_s: float = 10.0,
        outbound_max: int = 20_000,
        clock_skew_s: float = 300.0,
    ) -> None:
        self.url = url
        self.fanout = LocalFanout(queue_size)
        self._connected = asyncio.Event()
        self.fanout.linked = self._connected.is_set  # caches answer from memory only while linked
        self.retention_count = retention_count
        self.retention_ms = int(retention_hours * 3_600_000)
        self.channel = f"{prefix}:events"
        self.stream_prefix = f"{prefix}:s:"
        self.connect_timeout_s = connect_timeout_s
        self.ping_interval_s = ping_interval_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.outbound_max = outbound_max
        self.clock_skew_ms = int(clock_skew_s * 1000)
        self.origin = new_id()  # this process, to skip our own messages coming back
        self._origin_b = self.origin.encode()

        self._cmd: Redis | None = None
        self._outbound: collections.deque[Event] = collections.deque()
        self._out_wake = asyncio.Event()
        self._sent = asyncio.Condition()
        self._enqueued = 0
        self._done = 0
        self._first_connect = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.last_error: str | None = None
        self.reconnects = 0
        self.published = 0
        self.received = 0
        self.outbound_dropped = 0

    # -- lifecycle ---------------------------------------------------------------------

    def _client(self) -> Redis:
        # retries=0: a lost connection surfaces here instead of being silently re-made by
        # redis-py, so we know to tell subscribers about the gap.
        return Redis.from_url(
            self.url,
            socket_connect_timeout=self.connect_timeout_s,
            socket_timeout=max(self.ping_interval_s * 3, 5.0),
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
            client_name=f"mbf-hub-{self.origin}",
        )

    async def start(self) -> None:
        if self._tasks:
            return
        self._stopping = False
        self._cmd = self._client()
        self._tasks = [
            asyncio.create_task(self._reader(), name="events-redis-reader"),
            asyncio.create_task(self._sender(), name="events-redis-sender"),
        ]
        # Give the first connection a moment so /readyz is accurate; never fail start-up.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.connect_timeout_s + 0.5):
                await self._first_connect.wait()
        if not self._connected.is_set():
            log.warning("event_hub_degraded", backend="redis", error=self.last_error)

    async def stop(self) -> None:
        if self._connected.is_set():
            with contextlib.suppress(Exception):
                await self._flush(wait_s=2.0)
        self._stopping = True
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        if self._cmd is not None:
            with contextlib.suppress(Exception):
                await self._cmd.aclose()
            self._cmd = None
        self.fanout.close_all()

    # -- publishing --------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        self.published += 1
        self.fanout.deliver(event)
        if len(self._outbound) >= self.outbound_max:
            self._outbound.popleft()  # Redis has been away for long: keep memory bounded
            self.outbound_dropped += 1
            self._done += 1
        self._outbound.append(event)
        self._enqueued += 1
        self._out_wake.set()

    def _skey(self, user_id: str) -> str:
        return self.stream_prefix + user_id

    async def _sender(self) -> None:
        failures = 0
        send_retry = Backoff(self.backoff_base_s, 2.0, jitter=(1.0, 1.0))  # the buffer waits, in order
        while True:
            await self._out_wake.wait()
            self._out_wake.clear()
            while self._outbound:
                await self._connected.wait()
                batch = list(itertools.islice(self._outbound, 500))
                try:
                    await self._write(batch)
                except (RedisError, OSError) as exc:
                    # Kept in the buffer; a partly written batch may be written twice (readers
                    # dedupe by event id).
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("event_hub_send_failed", error=self.last_error)
                    failures += 1
                    await asyncio.sleep(send_retry.delay(failures))
                    continue
                failures = 0
                for _ in batch:
                    if self._outbound:
                        self._outbound.popleft()
                self._done += len(batch)
                async with self._sent:
                    self._sent.notify_all()

    async def _write(self, batch: list[Event]) -> None:
        assert self._cmd is not None
        pipe = self._cmd.pipeline(transaction=False)
        users: set[str] = set()
        for e in batch:
            body = e.to_json()
            if e.user_id is not None:
                users.add(e.user_id)
                pipe.xadd(
                    self._skey(e.user_id),
                    {"i": e.id, "e": body},
                    maxlen=self.retention_count,
                    approximate=True,
                )
            pipe.publish(self.channel, self._origin_b + b"\n" + body.encode())
        min_id = max(int(time.time() * 1000) - self.retention_ms, 0)
        for user in users:
            pipe.xtrim(self._skey(user), minid=min_id, approximate=True)
            pipe.pexpire(self._skey(user), self.retention_ms)
        await pipe.execute()

    async def flush(self) -> None:
        if self._connected.is_set():
            await self._flush(wait_s=2.0)

    async def _flush(self, wait_s: float = 2.0) -> None:
        target = self._enqueued
        if self._done >= target:
            return
        async with self._sent:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._sent.wait_for(lambda: self._done >= target)

    # -- receiving ---------------------------------------------------------------------

    async def _reader(self) -> None:
        retry = Backoff(self.backoff_base_s, self.backoff_cap_s, jitter=(0.5, 1.0))
        lost_cursors: dict[Subscriber, str] | None = None
        while not self._stopping:
            client = self._client()
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                retry.reset()
                self.last_error = None
                self._connected.set()
                self._first_connect.set()
                self._out_wake.set()
                if lost_cursors is not None:
                    self.reconnects += 1
                    log.info("event_hub_reconnected", backend="redis")
                    # Anything published while we were away is in the streams: let readers resume.
                    await self._flush(wait_s=2.0)
                    self.fanout.gap_all(lost_cursors)
                    lost_cursors = None
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, ConnectionError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # never let the hub die
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("event_hub_reader_error")
            finally:
                if self._connected.is_set() or lost_cursors is None:
                    lost_cursors = self.fanout.cursors()
                self._connected.clear()
                self.fanout.missed()
                self._first_connect.set()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()
            if self._stopping:
                return
            delay = retry.next()
            log.warning("event_hub_disconnected", error=self.last_error, retry_in_s=round(delay, 2))
            await asyncio.sleep(delay)

    async def _listen(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        last_rx = loop.time()
        last_ping = last_rx
        while True:
            msg = await pubsub.get_message(timeout=self.ping_interval_s)
            now = loop.time()
            if msg is not None:
                last_rx = now
                if msg.get("type") == "message":
                    self._on_message(msg["data"])
                continue
            if now - last_rx > self.ping_interval_s * 3:
                raise ConnectionError("no answer from Redis on the pub/sub connection")
            if now - last_ping >= self.ping_interval_s:
                last_ping = now
                await pubsub.ping()

    def _on_message(self, data: bytes) -> None:
        origin, _, body = data.partition(b"\n")
        if origin == self._origin_b:
            return
        try:
            event = Event.from_json(body)
        except Exception:
            log.warning("event_hub_bad_message", size=len(data))
            return
        self.received += 1
        self.fanout.deliver(event, relayed=True)

    # -- subscribing and replay -------------------------------------------------------

    async def replay(self, user_id: str, after: str | None, limit: int = 1000) -> list[Event]:
        if after is None:
            return []
        ms = id_time_ms(after)
        if ms is None:
            return []
        if not self._connected.is_set() or self._cmd is None:
            raise UpstreamUnavailable("The event log (Redis) is unavailable; retry shortly.")
        await self._flush()
        key = self._skey(user_id)
        cursor = f"{max(ms - self.clock_skew_ms, 0)}-0"
        found = False
        out: list[bytes] = []
        later: list[tuple[str, bytes]] = []
        try:
            while len(out) < limit:
                entries: Any = await self._cmd.xrange(key, min=cursor, max="+", count=500)
                if not entries:
                    break
                for _sid, fields in entries:
                    eid = fields[b"i"].decode()
                    if found:
                        out.append(fields[b"e"])
                        if len(out) >= limit:
                            break
                    elif eid == after:
                        found = True
                    elif eid > after:
                        later.append((eid, fields[b"e"]))
                last = entries[-1][0]
                cursor = "(" + (last.decode() if isinstance(last, bytes) else str(last))
        except (RedisError, OSError) as exc:
            raise UpstreamUnavailable("The event log (Redis) did not answer; retry.") from exc
        if not found:  # pruned or unknown id: read it as a point in time
            out = [body for _eid, body in later[:limit]]
        return [Event.from_json(body) for body in out]

    async def health(self) -> dict[str, object]:
        connected = self._connected.is_set()
        return {
            "status": "ok" if connected else "degraded",
            "backend": self.backend,
            "connected": connected,
            "subscribers": self.fanout.count(),
            "published": self.published,
            "received": self.received,
            "reconnects": self.reconnects,
            "outbound_backlog": len(self._outbound),
            "outbound_dropped": self.outbound_dropped,
            "error": None if connected else self.last_error,
        }
