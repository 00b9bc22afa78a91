"""What a subscription does with a gap it cannot heal (replay log unreachable during an overflow).

A slow reader's queue overflows: the hub drops the oldest events and queues a ``gap`` marker;
``follow`` then replays from the marker's cursor. When the replay log cannot be read (Redis down),
the marker itself comes out of ``follow``. The ``events`` subscription passes it on
(``keep_gaps=True``: the client learns where to resume with ``events(after:)``); every typed
subscription drops it (its client has no use for a marker of another type) and carries on with
the live events.

The hub here is the in-process hub with a replay log that answers like Redis when it is down
(:class:`UpstreamUnavailable`); everything else (fan-out, overflow, ``follow``, ``stream``) is the
production code.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from app.errors import BadInput, UpstreamUnavailable
from app.events.envelope import GAP, Event
from app.events.memory import MemoryHub
from subscriptions.stream import stream
from tests.support.signals import until

USER = "01USER00000000000000000000"


class _LogDown(MemoryHub):
    """The in-process hub whose replay log is unreachable (as a Redis hub's is while Redis is down)."""

    async def replay(self, user_id: str, after: str | None, limit: int = 1000) -> list[Event]:
        raise UpstreamUnavailable("The event log (Redis) is unavailable; retry shortly.")


def _info(hub: MemoryHub, queue_size: int) -> Any:
    viewer = SimpleNamespace(user_id=USER)
    container = SimpleNamespace(hub=hub, settings=SimpleNamespace(subscriber_queue_size=queue_size))
    return SimpleNamespace(context=SimpleNamespace(container=container, require_viewer=lambda: viewer))


async def test_the_events_subscription_passes_an_unhealed_gap_on() -> None:
    # a queue of 2 and 3 events published before the reader runs: the first two are dropped
    hub = _LogDown(store=None, queue_size=2)  # type: ignore[arg-type]  # the log is never written here
    gen = stream(_info(hub, 2), types=None, keep_gaps=True)
    first = asyncio.ensure_future(anext(gen))
    try:
        await until(lambda: hub.fanout.count() == 1, "the stream subscribed to the hub")
        for i in range(3):
            await hub.publish(Event(type="walletUpdated", user_id=USER, payload={"n": i}, subject="w1"))
        gap = await asyncio.wait_for(first, 10)
        assert gap.type == GAP
        assert gap.payload["after"]  # the cursor the client resumes from with events(after:)
        live = await asyncio.wait_for(anext(gen), 10)
        assert (live.type, live.payload) == ("walletUpdated", {"n": 2})  # the newest event survived
    finally:
        first.cancel()
        await gen.aclose()


@pytest.mark.parametrize("keep_gaps", [None, False], ids=["default", "explicit"])
async def test_typed_subscriptions_drop_the_marker_and_go_on(keep_gaps: bool | None) -> None:
    hub = _LogDown(store=None, queue_size=2)  # type: ignore[arg-type]
    gen = stream(_info(hub, 2), types=None, **({} if keep_gaps is None else {"keep_gaps": keep_gaps}))
    first = asyncio.ensure_future(anext(gen))
    try:
        await until(lambda: hub.fanout.count() == 1, "the stream subscribed to the hub")
        for i in range(3):
            await hub.publish(Event(type="walletUpdated", user_id=USER, payload={"n": i}, subject="w1"))
        after_gap = await asyncio.wait_for(first, 10)
        assert (after_gap.type, after_gap.payload) == ("walletUpdated", {"n": 2})
        await hub.publish(Event(type="walletUpdated", user_id=USER, payload={"n": 3}, subject="w1"))
        assert (await asyncio.wait_for(anext(gen), 10)).payload == {"n": 3}
    finally:
        first.cancel()
        await gen.aclose()


async def test_a_subject_narrows_the_stream_to_one_object() -> None:
    hub = MemoryHub(store=None, queue_size=8)  # type: ignore[arg-type]
    gen = stream(_info(hub, 8), types={"walletUpdated"}, subject="w2")
    first = asyncio.ensure_future(anext(gen))
    try:
        await until(lambda: hub.fanout.count() == 1, "the stream subscribed to the hub")
        await hub.publish(Event(type="walletUpdated", user_id=USER, payload={"n": 1}, subject="w1"))
        await hub.publish(Event(type="walletUpdated", user_id=USER, payload={"n": 2}, subject="w2"))
        got = await asyncio.wait_for(first, 10)
        assert (got.subject, got.payload) == ("w2", {"n": 2})
    finally:
        first.cancel()
        await gen.aclose()


async def test_after_must_be_an_event_id() -> None:
    hub = MemoryHub(store=None, queue_size=8)  # type: ignore[arg-type]
    with pytest.raises(BadInput) as err:
        await anext(stream(_info(hub, 8), types=None, after="yesterday"))
    assert err.value.field == "after"
    assert hub.fanout.count() == 0  # refused before subscribing
