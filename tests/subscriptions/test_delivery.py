"""The fan-out's delivery path: shared results are built once as WebSocket frames and written
straight to each socket's transport, together per loop turn, in order, with every size of frame;
and the uvicorn internals that path relies on are still there."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from app.events.envelope import Event
from subscriptions.frames import ws_text_frame
from tests.subscriptions.wsclient import WS
from tests.support.server import LiveServer
from tests.support.signals import until

PRICE = 'subscription { priceUpdated(currency: "USD") { value source } }'


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_prebuilt_frame_parses_as_the_text_message(size: int) -> None:
    text = "é" * (size // 2) + "x" * (size % 2)  # multi-byte characters: the length is in bytes
    reader = StreamReader()
    reader.feed_data(ws_text_frame(text))
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    with pytest.raises(StopIteration) as done:
        next(parser)
    frame = done.value.value
    assert frame.opcode is Opcode.TEXT and frame.fin
    assert frame.data.decode() == text
    assert not reader.buffer  # nothing left over


async def test_every_socket_gets_every_result_in_order_with_its_own_id(server: LiveServer) -> None:
    socks = [await WS.open(server.ws_url) for _ in range(3)]
    for ws in socks:
        assert (await ws.init()) == {"type": "connection_ack"}
    for ws, op_id in zip(socks, ("a", "b", "a"), strict=True):
        await ws.subscribe(op_id, PRICE)
    registry = server.live
    await until(
        lambda: [len(g.members) for g in registry.shared.groups.values()] == [3], "one execution, three sockets"
    )
    # The fast path is taken: each socket writes to uvicorn's transport (not the ASGI send path).
    assert all(h.raw is not None for h in registry.all)
    big = "y" * 70_000  # a frame with a 64-bit length, between small ones
    values = [str(i) for i in range(200)]
    for i, value in enumerate(values):  # published in one go: the results of a turn go out together
        source = big if i == 100 else "bench"
        await server.container.hub.publish(
            Event(type="priceUpdated", user_id=None, subject="USD", payload={"value": value, "source": source})
        )
    for ws, op_id in zip(socks, ("a", "b", "a"), strict=True):
        got = []
        for _ in values:
            msg = await ws.recv()
            assert msg["type"] == "next" and msg["id"] == op_id, msg
            got.append(msg["payload"]["data"]["priceUpdated"])
        assert [g["value"] for g in got] == values
        assert got[100]["source"] == big
        # A control frame queued after the results comes after them.
        await ws.send({"id": op_id, "type": "complete"})
        await ws.send({"type": "ping"})
        assert await ws.recv() == {"type": "pong"}
    await asyncio.gather(*(ws.close() for ws in socks))
    await until(lambda: not registry.all and not registry.shared.groups, "every socket and execution gone")


def test_uvicorn_protocol_internals_the_fast_path_uses() -> None:
    """``subscriptions/transport.py`` writes pre-built frames to the transport of uvicorn's
    sans-I/O WebSocket protocol and reads its flow-control and closing state."""
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol as P

    assert "self.writable = asyncio.Event()" in inspect.getsource(P.__init__)
    assert "self.writable.clear()" in inspect.getsource(P.pause_writing)
    assert "self.writable.set()" in inspect.getsource(P.resume_writing)
    lost = inspect.getsource(P.connection_lost)
    assert "self.disconnected = True" in lost and "self.writable.set()" in lost
    assert "self.close_sent = True" in inspect.getsource(P.send)
    assert "self.transport = " in inspect.getsource(P.connection_made)
