"""The Redis hub against the real local Redis: several hubs on one bus (= several processes),
Streams replay, CLIENT KILL recovery, Redis down at start-up and coming back."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from app.errors import UpstreamUnavailable
from app.events.envelope import GAP, Event, id_floor
from app.events.follow import follow
from app.events.redis import RedisHub
from tests.events.test_memory_hub import ev, take
from tests.support.services import REDIS_URL
from tests.support.signals import until

pytestmark = pytest.mark.redis

MakeHub = Callable[..., Awaitable[RedisHub]]
ALICE, BOB = "01ALICE0000000000000000000", "01BOB000000000000000000000"


async def wait_until(cond: Callable[[], Awaitable[bool]], wait_s: float = 10.0) -> None:
    async with asyncio.timeout(wait_s):
        while not await cond():  # noqa: ASYNC110 - polling a remote condition in a test
            await asyncio.sleep(0.02)


async def connected(hub: RedisHub) -> bool:
    return (await hub.health())["status"] == "ok"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proxy:
    """A TCP forwarder to the real Redis that can be taken down and brought back (a Redis restart)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def down(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for w in list(self.links):
            w.close()
        self.links.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 6379)
        self.links.update({writer, up_writer})

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            w.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    p = Proxy(free_port())
    yield p
    await p.down()


async def test_two_hubs_see_each_others_events_once(redis_hubs: MakeHub) -> None:
    a, b = await redis_hubs(), await redis_hubs()
    assert await connected(a) and await connected(b)
    a_sub, b_sub, b_bob = a.subscribe(ALICE), b.subscribe(ALICE), b.subscribe(BOB)
    sent = [ev(ALICE, n) for n in range(20)]
    for e in sent:
        await a.publish(e)
    got_b = await take(b_sub, 20)
    assert [e.id for e in got_b] == [e.id for e in sent]
    assert got_b[3].to_json() == sent[3].to_json()
    # The publisher's own subscriber got each event exactly once (not again via Redis).
    await b.publish(ev(ALICE, 100))
    got_a = await take(a_sub, 21)
    assert [e.payload["n"] for e in got_a] == [*range(20), 100]
    # Nothing else is queued for a_sub: a later event from b (after all of the above on the one
    # Redis channel) is the very next one it gets.
    await b.publish(ev(ALICE, 101))
    assert [e.payload["n"] for e in await take(a_sub, 1)] == [101]
    assert a_sub.get_nowait() is None
    assert b_bob.get_nowait() is None  # Bob never sees Alice's events
    # Public events go to everyone on every hub.
    await b.publish(ev(None, 7, "priceUpdated", "USD"))
    assert (await take(b_bob, 1))[0].payload["n"] == 7


async def test_one_pubsub_connection_per_hub_whatever_the_subscribers(redis_hubs: MakeHub) -> None:
    hub = await redis_hubs()
    subs = [hub.subscribe(f"01USER{n:020d}") for n in range(200)]
    r = Redis.from_url(REDIS_URL)
    try:
        clients = await r.client_list()
        mine = [c for c in clients if c.get("name") == f"mbf-hub-{hub.origin}"]
        assert len([c for c in mine if int(c.get("sub", 0)) > 0]) == 1
    finally:
        await r.aclose()
    for s in subs:
        s.close()


async def test_replay_from_streams_after_id(redis_hubs: MakeHub) -> None:
    a, b = await redis_hubs(), await redis_hubs()
    sent = [ev(ALICE, n) for n in range(10)]
    for e in sent:
        await a.publish(e)
    await a.publish(ev(BOB, 99))
    await a._flush()  # (another process sees an event only once it is in Redis anyway)
    # Another process can resume Alice from any id she saw.
    got = await b.replay(ALICE, sent[3].id)
    assert [e.id for e in got] == [e.id for e in sent[4:]]
    assert [e.id for e in await b.replay(ALICE, id_floor(0))] == [e.id for e in sent]
    assert await b.replay(ALICE, None) == []
    assert all(e.user_id == BOB for e in await b.replay(BOB, id_floor(0)))
    # Paging: the limit is honoured and resuming from the last one continues.
    first = await b.replay(ALICE, sent[0].id, limit=4)
    rest = await b.replay(ALICE, first[-1].id)
    assert [e.id for e in first + rest] == [e.id for e in sent[1:]]


async def test_stream_is_capped(redis_hubs: MakeHub, redis_prefix: str) -> None:
    hub = await redis_hubs(retention_count=50)
    for n in range(2000):
        await hub.publish(ev(ALICE, n))
    await hub._flush()
    r = Redis.from_url(REDIS_URL)
    try:
        length = await r.xlen(f"{redis_prefix}:s:{ALICE}")
        ttl = await r.pttl(f"{redis_prefix}:s:{ALICE}")
    finally:
        await r.aclose()
    assert 50 <= length < 300  # MAXLEN ~ trims by whole nodes
    assert 0 < ttl <= 3_600_000  # idle streams expire after the retention age


async def _kill_pubsub(hub: RedisHub) -> int:
    r = Redis.from_url(REDIS_URL)
    try:
        clients = await r.client_list()
        ids = [
            c["id"]
            for c in clients
            if c.get("name") == f"mbf-hub-{hub.origin}" and int(c.get("sub", 0)) > 0
        ]
        for cid in ids:  # like CLIENT KILL TYPE pubsub, but only this hub's connection
            await r.execute_command("CLIENT", "KILL", "ID", cid)
        return len(ids)
    finally:
        await r.aclose()


async def test_client_kill_recovers_and_subscribers_miss_nothing(redis_hubs: MakeHub) -> None:
    a = await redis_hubs()
    b = await redis_hubs(backoff_base_s=0.2)
    it = follow(b, ALICE)
    first = asyncio.ensure_future(take(it, 1))
    await until(lambda: b.fanout.count() == 1, "follow() has subscribed")
    await a.publish(ev(ALICE, 0))
    assert [e.payload["n"] for e in await first] == [0]

    assert await _kill_pubsub(b) == 1
    for n in range(1, 30):  # published while b is reconnecting: only the stream has them
        await a.publish(ev(ALICE, n))
    got = await take(it, 29, wait_s=15)
    assert [e.payload["n"] for e in got] == list(range(1, 30))
    await wait_until(lambda: connected(b))
    assert b.reconnects >= 1
    # Live delivery works again after the reconnect.
    nxt = asyncio.ensure_future(take(it, 1))
    await a.publish(ev(ALICE, 30))
    assert [e.payload["n"] for e in await nxt] == [30]
    await it.aclose()  # type: ignore[attr-defined]


async def test_redis_down_at_start_then_back(redis_hubs: MakeHub, proxy: Proxy) -> None:
    url = f"redis://127.0.0.1:{proxy.port}/0"
    hub = await redis_hubs(url, connect_timeout_s=0.3, backoff_base_s=0.05, backoff_cap_s=0.2)
    health = await hub.health()
    assert health["status"] == "degraded" and health["error"]
    # Local delivery keeps working.
    sub = hub.subscribe(ALICE)
    e1 = ev(ALICE, 1)
    await hub.publish(e1)
    assert sub.get_nowait() == e1
    with pytest.raises(UpstreamUnavailable):
        await hub.replay(ALICE, id_floor(0))

    await proxy.up()  # Redis "comes back"
    await wait_until(lambda: connected(hub))
    other = await redis_hubs()
    # What was published during the outage reached the shared log.
    await wait_until(lambda: _has(other, e1))
    # The local subscriber gets a gap marker and nothing it already had is lost.
    sub.close()


async def _has(hub: RedisHub, e: Event) -> bool:
    return e.id in [x.id for x in await hub.replay(ALICE, id_floor(0))]


async def test_redis_restart_mid_stream(redis_hubs: MakeHub, proxy: Proxy) -> None:
    await proxy.up()
    url = f"redis://127.0.0.1:{proxy.port}/0"
    b = await redis_hubs(url, backoff_base_s=0.05, backoff_cap_s=0.3, connect_timeout_s=0.5)
    a = await redis_hubs()
    assert await connected(b)
    it = follow(b, ALICE)
    first = asyncio.ensure_future(take(it, 1))
    await until(lambda: b.fanout.count() == 1, "follow() has subscribed")
    await a.publish(ev(ALICE, 0))
    assert [e.payload["n"] for e in await first] == [0]

    await proxy.down()  # every connection of b drops, and new ones are refused
    await wait_until(lambda: _not(connected(b)))
    for n in range(1, 10):
        await a.publish(ev(ALICE, n))  # other process keeps publishing
    await b.publish(ev(ALICE, 100))  # b's own publish during the outage: local + buffered
    await proxy.up()
    got = await take(it, 10, wait_s=15)
    assert sorted(e.payload["n"] for e in got) == [*range(1, 10), 100]
    await wait_until(lambda: connected(b))
    await wait_until(lambda: _has(a, got[-1]))
    await it.aclose()  # type: ignore[attr-defined]


async def _not(x: Awaitable[bool]) -> bool:
    return not await x


async def test_stop_is_clean_with_redis_unreachable() -> None:
    hub = RedisHub(f"redis://127.0.0.1:{free_port()}/0", connect_timeout_s=0.2)
    await hub.start()
    sub = hub.subscribe(ALICE)
    await hub.publish(ev(ALICE, 1))
    await hub.stop()
    assert sub.closed


async def test_own_only_watchers_see_what_this_process_published(redis_hubs: MakeHub) -> None:
    """A reaction that must run once per event (re-valuing portfolios after a sync) watches with
    ``own_only``: it sees what its process published, not the events relayed from the others."""
    a, b = await redis_hubs(), await redis_hubs()
    assert await connected(a) and await connected(b)
    everything: list[Event] = []
    own: list[Event] = []
    b.fanout.watch(everything.append)
    b.fanout.watch(own.append, own_only=True)
    b_sub = b.subscribe(ALICE)
    relayed = ev(ALICE, 1)
    await a.publish(relayed)
    assert [e.id for e in await take(b_sub, 1)] == [relayed.id]  # it has reached b
    mine = ev(ALICE, 2)
    await b.publish(mine)
    assert [e.id for e in everything if e.type != GAP] == [relayed.id, mine.id]
    assert [e.id for e in own] == [mine.id]
