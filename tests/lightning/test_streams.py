"""Streams survive the node going away: the supervisor reopens them with backoff."""

from __future__ import annotations

import asyncio
import random

import pytest

from app.dev.devlnd import DevLnd
from app.errors import UpstreamUnavailable
from app.lightning.client import LndClient
from app.lightning.models import ChannelEvent, Invoice
from app.lightning.streams import StreamStatus, StreamSupervisor
from tests.lightning.conftest import client_for


class Recorder:
    def __init__(self) -> None:
        self.items: list[object] = []
        self.states: list[str] = []
        self.changed = asyncio.Condition()

    async def item(self, x: object) -> None:
        async with self.changed:
            self.items.append(x)
            self.changed.notify_all()

    async def state(self, st: StreamStatus) -> None:
        async with self.changed:
            self.states.append(st.state)
            self.changed.notify_all()

    async def wait(self, pred: object, timeout: float = 10) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(pred), timeout)  # type: ignore[arg-type]


async def test_channel_stream_survives_node_restart(admin: LndClient, devlnd: DevLnd) -> None:
    rec = Recorder()
    sup: StreamSupervisor[ChannelEvent] = StreamSupervisor(
        "channels",
        lambda opened: admin.channel_events(on_open=opened),
        rec.item,
        on_state=rec.state,
        initial_backoff_s=0.05,
        max_backoff_s=0.3,
    )
    sup.start()
    try:
        await rec.wait(lambda: "up" in rec.states)
        cp = next(c.channel_point for c in devlnd.state.open_channels() if c.active)
        devlnd.set_channel_active(cp, False)
        await rec.wait(lambda: len(rec.items) == 1)

        await devlnd.stop()  # the node disappears mid-stream
        await rec.wait(lambda: rec.states[-1] == "down")
        print("stream error while down:", sup.status.last_error)
        assert sup.status.last_error
        async with asyncio.timeout(10):  # a few failed reopen attempts while it is gone
            while sup.status.restarts < 3:  # noqa: ASYNC110 (no state change to wait on)
                await asyncio.sleep(0.02)
        assert sup.status.state == "down"

        await devlnd.serve()  # ...and comes back on the same port
        await rec.wait(lambda: rec.states[-1] == "up")
        devlnd.set_channel_active(cp, True)
        await rec.wait(lambda: len(rec.items) == 2)
        assert [e.type for e in rec.items] == ["INACTIVE_CHANNEL", "ACTIVE_CHANNEL"]  # type: ignore[attr-defined]
    finally:
        await sup.stop()
    assert sup.status.state == "stopped"


async def test_invoice_stream_resumes_without_losing_updates(admin: LndClient, devlnd: DevLnd) -> None:
    """While the stream is down, invoices are added; on reopen LND replays from the last add index."""
    rec = Recorder()
    last = {"add": len(devlnd.state.invoices), "settle": devlnd.state.settle_counter}

    async def on_item(inv: Invoice) -> None:
        last["add"] = max(last["add"], inv.add_index)
        last["settle"] = max(last["settle"], inv.settle_index)
        await rec.item(inv)

    sup: StreamSupervisor[Invoice] = StreamSupervisor(
        "invoices",
        lambda opened: admin.invoice_updates(add_index=last["add"], settle_index=last["settle"], on_open=opened),
        on_item,
        on_state=rec.state,
        initial_backoff_s=0.05,
        max_backoff_s=0.3,
    )
    sup.start()
    try:
        await rec.wait(lambda: "up" in rec.states)
        await devlnd.stop()
        await rec.wait(lambda: rec.states[-1] == "down")
        inv = devlnd.state.add_invoice(
            __import__("app.lightning.proto", fromlist=["ln"]).ln.Invoice(memo="while down", value=1000)
        )
        devlnd.settle_invoice(add_index=4)  # "rent", seeded open
        await devlnd.serve()
        await rec.wait(lambda: len(rec.items) >= 2)
        got = {(i.memo, i.state) for i in rec.items}  # type: ignore[attr-defined]
        assert ("while down", "OPEN") in got and ("rent", "SETTLED") in got
        assert inv.add_index == last["add"]
    finally:
        await sup.stop()


async def test_forbidden_stream_is_not_retried(devlnd: DevLnd) -> None:
    rec = Recorder()
    async with client_for(devlnd, devlnd.bake({"info": ("read",)})) as c:
        sup: StreamSupervisor[ChannelEvent] = StreamSupervisor(
            "channels",
            lambda opened: c.channel_events(on_open=opened),
            rec.item,
            on_state=rec.state,
            initial_backoff_s=0.01,
        )
        sup.start()
        await rec.wait(lambda: "failed" in rec.states)
        assert "offchain:read" in (sup.status.last_error or "")
        assert not sup.running and sup.status.restarts == 0


def test_backoff_grows_and_caps() -> None:
    sup: StreamSupervisor[object] = StreamSupervisor(
        "x",
        lambda opened: None,
        None,
        initial_backoff_s=1,
        max_backoff_s=8,  # type: ignore[arg-type,return-value]
        rng=random.Random(1),
    )
    delays = [sup.backoff(n) for n in range(6)]
    assert all(0.5 <= d <= 1 for d in delays[:1])
    assert all(d <= 8 for d in delays) and delays[5] >= 4


async def test_stream_waits_out_a_starting_node(admin: LndClient, devlnd: DevLnd) -> None:
    """LND answers UNKNOWN "waiting to start" while it boots: transient, not a bad request."""
    devlnd.starting = True
    with pytest.raises(UpstreamUnavailable) as err:
        await admin.get_info()
    assert "not ready" in err.value.message
    rec = Recorder()
    sup: StreamSupervisor[ChannelEvent] = StreamSupervisor(
        "channels",
        lambda opened: admin.channel_events(on_open=opened),
        rec.item,
        on_state=rec.state,
        initial_backoff_s=0.02,
        max_backoff_s=0.1,
    )
    sup.start()
    try:
        await rec.wait(lambda: "down" in rec.states)
        devlnd.starting = False
        await rec.wait(lambda: rec.states[-1] == "up")
        assert sup.status.restarts >= 1
    finally:
        await sup.stop()
