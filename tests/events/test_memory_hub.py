"""The in-process hub: fan-out, per-user isolation, bounded queues with gap markers, DB replay log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from app.events.envelope import GAP, Event, id_floor
from app.events.follow import follow
from app.events.memory import MemoryHub
from app.store.db import Store
from app.store.models.events import EventRecord
from tests.support.signals import until

MakeUser = Callable[[str], Awaitable[str]]


async def take(it: AsyncIterator[Event], n: int, wait_s: float = 10.0) -> list[Event]:
    out: list[Event] = []

    async def _run() -> None:
        async for e in it:
            out.append(e)
            if len(out) >= n:
                return

    await asyncio.wait_for(_run(), wait_s)
    return out


def ev(user: str | None, n: int, type_: str = "walletUpdated", subject: str = "w1") -> Event:
    return Event(type=type_, user_id=user, subject=subject, payload={"n": n})


async def test_fanout_to_every_subscriber_of_the_user_only(memory_hub: MemoryHub, make_user: MakeUser) -> None:
    alice, bob = await make_user("a@example.com"), await make_user("b@example.com")
    a1, a2, b1 = memory_hub.subscribe(alice), memory_hub.subscribe(alice), memory_hub.subscribe(bob)
    await memory_hub.publish(ev(alice, 1))
    await memory_hub.publish(ev(None, 2, "priceUpdated", "USD"))  # public: everyone
    await memory_hub.publish(ev(bob, 3))
    assert [e.payload["n"] for e in (a1.get_nowait(), a1.get_nowait())] == [1, 2]
    assert [e.payload["n"] for e in (a2.get_nowait(), a2.get_nowait())] == [1, 2]
    assert [e.payload["n"] for e in (b1.get_nowait(), b1.get_nowait())] == [2, 3]
    assert a1.get_nowait() is None and b1.get_nowait() is None
    for s in (a1, a2, b1):
        s.close()
    assert memory_hub.fanout.count() == 0


async def test_type_filter_and_public_only_subscriber(memory_hub: MemoryHub, make_user: MakeUser) -> None:
    alice = await make_user("a@example.com")
    prices = memory_hub.subscribe(None)
    wallets = memory_hub.subscribe(alice, types={"walletUpdated"}, include_public=False)
    await memory_hub.publish(ev(alice, 1, "invoiceUpdated"))
    await memory_hub.publish(ev(alice, 2, "walletUpdated"))
    await memory_hub.publish(ev(None, 3, "priceUpdated", "USD"))
    assert wallets.get_nowait().payload["n"] == 2  # type: ignore[union-attr]
    assert wallets.get_nowait() is None
    assert prices.get_nowait().payload["n"] == 3  # type: ignore[union-attr]
    assert prices.get_nowait() is None  # user events never reach a public-only subscriber


async def test_slow_consumer_is_bounded_and_gets_a_gap_marker(memory_hub: MemoryHub, make_user: MakeUser) -> None:
    alice = await make_user("a@example.com")
    slow = memory_hub.subscribe(alice, maxsize=8)
    fast = memory_hub.subscribe(alice, maxsize=1000)
    first = ev(alice, 0)
    await memory_hub.publish(first)
    assert slow.get_nowait() == first  # the reader got event 0, then stalls
    for n in range(1, 200):
        await memory_hub.publish(ev(alice, n))  # never waits for the stalled reader
    assert slow.qsize() <= 8
    assert fast.qsize() == 200  # other subscribers are unaffected
    gap = slow.get_nowait()
    assert gap is not None and gap.type == GAP and gap.payload["after"] == first.id
    rest = [slow.get_nowait() for _ in range(slow.qsize())]
    assert [e.payload["n"] for e in rest if e] == list(range(193, 200))  # newest kept
    # The marker's cursor resumes exactly where the reader left off.
    missed = await memory_hub.replay(alice, gap.payload["after"])
    assert [e.payload["n"] for e in missed] == list(range(1, 200))


async def test_follow_heals_gaps_so_a_slow_reader_loses_nothing(memory_hub: MemoryHub, make_user: MakeUser) -> None:
    alice = await make_user("a@example.com")
    it = follow(memory_hub, alice, maxsize=4)
    first = asyncio.ensure_future(take(it, 1))
    await until(lambda: memory_hub.fanout.count() == 1, "follow() has subscribed")
    await memory_hub.publish(ev(alice, 0))
    assert [e.payload["n"] for e in await first] == [0]
    for n in range(1, 100):
        await memory_hub.publish(ev(alice, n))
    got = await take(it, 99)
    assert [e.payload["n"] for e in got] == list(range(1, 100))
    await it.aclose()  # type: ignore[attr-defined]
    assert memory_hub.fanout.count() == 0


async def test_replay_after_id_then_live(memory_hub: MemoryHub, make_user: MakeUser) -> None:
    alice, bob = await make_user("a@example.com"), await make_user("b@example.com")
    events = [ev(alice, n) for n in range(5)]
    for e in events:
        await memory_hub.publish(e)
    await memory_hub.publish(ev(bob, 99))
    await memory_hub.publish(ev(None, 98, "priceUpdated"))  # public events are not logged
    replayed = await memory_hub.replay(alice, events[1].id)
    assert [e.id for e in replayed] == [e.id for e in events[2:]]
    assert replayed[0].to_json() == events[2].to_json()  # the envelope round-trips exactly
    assert await memory_hub.replay(bob, events[1].id) == [] or all(
        e.user_id == bob for e in await memory_hub.replay(bob, events[1].id)
    )
    assert await memory_hub.replay(alice, None) == []
    assert await memory_hub.replay(alice, "not-an-id") == []
    # An id the log does not hold (pruned) reads as a point in time.
    assert [e.id for e in await memory_hub.replay(alice, id_floor(0))] == [e.id for e in events]

    it = follow(memory_hub, alice, after=events[2].id)
    got = await take(it, 2)
    live = asyncio.ensure_future(take(it, 1))  # subscribed already: follow() subscribes before replaying
    assert memory_hub.fanout.count() == 1
    extra = ev(alice, 5)
    await memory_hub.publish(extra)
    assert [e.id for e in got + await live] == [events[3].id, events[4].id, extra.id]
    await it.aclose()  # type: ignore[attr-defined]


async def test_replay_only_returns_the_users_own_events(memory_hub: MemoryHub, make_user: MakeUser) -> None:
    alice, bob = await make_user("a@example.com"), await make_user("b@example.com")
    a = ev(alice, 1)
    await memory_hub.publish(a)
    await memory_hub.publish(ev(bob, 2))
    # Bob resuming from Alice's event id sees nothing of Alice's.
    assert all(e.user_id == bob for e in await memory_hub.replay(bob, a.id))
    assert all(e.user_id == bob for e in await memory_hub.replay(bob, id_floor(0)))


async def test_prune_by_age_and_count(store: Store, make_user: MakeUser) -> None:
    alice = await make_user("a@example.com")
    hub = MemoryHub(store, retention_count=10, retention_hours=1, prune_interval_s=3600)
    await hub.start()
    try:
        old = Event(
            type="walletUpdated", user_id=alice, payload={}, occurred_at=datetime.now(UTC) - timedelta(hours=2)
        )
        await hub.publish(old)
        for n in range(25):
            await hub.publish(ev(alice, n))
        await hub.log.flush(wait_s=30)  # generous: a loaded CI machine can be slow to write the batch
        assert await hub.log.prune() == 16  # 1 too old + 15 beyond the newest 10
        left = await hub.replay(alice, id_floor(0))
        assert [e.payload["n"] for e in left] == list(range(15, 25))
        async with store.read() as s:
            total = (await s.exec(sa.select(sa.func.count()).select_from(EventRecord))).one()[0]  # type: ignore[call-overload]
        assert total == 10
    finally:
        await hub.stop()


async def test_event_log_survives_a_restart(store: Store, make_user: MakeUser) -> None:
    alice = await make_user("a@example.com")
    hub = MemoryHub(store)
    await hub.start()
    events = [ev(alice, n) for n in range(3)]
    for e in events:
        await hub.publish(e)
    await hub.stop()  # flushes the writer
    hub2 = MemoryHub(store)
    await hub2.start()
    try:
        assert [e.id for e in await hub2.replay(alice, events[0].id)] == [e.id for e in events[1:]]
    finally:
        await hub2.stop()


async def test_events_of_a_deleted_user_do_not_break_the_log(memory_hub: MemoryHub, make_user: MakeUser) -> None:
    alice = await make_user("a@example.com")
    await memory_hub.publish(ev("0" * 26, 1))  # no such user: the row is skipped
    e = ev(alice, 2)
    await memory_hub.publish(e)
    assert [x.id for x in await memory_hub.replay(alice, id_floor(0))] == [e.id]
    assert (await memory_hub.health())["status"] == "ok"
