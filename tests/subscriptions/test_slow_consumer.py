"""A client that stops reading is disconnected (1013) with bounded server memory; a reading
client on the same subscription gets every event meanwhile."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket

import pytest
from websockets.asyncio.client import connect

from app.events.envelope import Event
from subscriptions.transport import CLOSE_TOO_SLOW, LiveHandler
from tests.support.server import LiveServer
from tests.support.signals import hub_subscribers, until

PRICE = 'subscription { priceUpdated(currency: "USD") { value source } }'
N = 3000


async def open_sub(url: str, *, max_queue: int | None) -> object:
    ws = await connect(url, subprotocols=["graphql-transport-ws"], max_size=None, max_queue=max_queue)  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "p", "type": "subscribe", "payload": {"query": PRICE}}))
    return ws


def client_frame(text: str) -> bytes:
    """A masked text frame (clients must mask)."""
    data = text.encode()
    mask = os.urandom(4)
    n = len(data)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    return head + mask + bytes(b ^ mask[k % 4] for k, b in enumerate(data))


class RawStalledClient:
    """Handshake, init and subscribe over a raw socket with a tiny receive window, then stop
    reading; later read every frame until the close frame and return its code."""

    async def open(self, url: str) -> None:
        host, port = url.split("//")[1].split("/")[0].split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, int(port)))
        sock.setblocking(False)
        self.reader, self.writer = await asyncio.open_connection(sock=sock, limit=4096)
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write(
            (f"GET /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n").encode()
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        assert b" 101 " in head
        self.writer.write(client_frame(json.dumps({"type": "connection_init", "payload": {}})))
        assert b"connection_ack" in (await self.frame())[1]
        self.writer.write(
            client_frame(json.dumps({"id": "p", "type": "subscribe", "payload": {"query": PRICE}}))
        )

    async def frame(self) -> tuple[int, bytes]:
        b0, b1 = await self.reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await self.reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await self.reader.readexactly(8), "big")
        return b0 & 0x0F, await self.reader.readexactly(n)

    async def close_code(self) -> int:
        while True:
            opcode, data = await self.frame()
            if opcode == 8:
                return int.from_bytes(data[:2], "big")


async def test_stalled_reader_is_closed_1013_and_others_get_everything(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LiveHandler, "outbox_max", 64)
    # It reads again only after the other client got everything: longer than the close timeout.
    monkeypatch.setattr(server.container.settings, "ws_close_timeout_s", 600.0)
    stalled = RawStalledClient()
    await stalled.open(server.ws_url)
    reader = await open_sub(server.ws_url, max_queue=None)
    got = 0

    async def read_all() -> None:
        nonlocal got
        async for raw in reader:  # type: ignore[attr-defined]
            if '"priceUpdated"' in raw:
                got += 1
                if got == N:
                    return

    task = asyncio.create_task(read_all())
    registry = server.live
    # Both sockets are members of the one shared priceUpdated execution, which reads the hub.
    await until(
        lambda: [len(g.members) for g in registry.shared.groups.values()] == [2] and hub_subscribers(server) == 1,
        "both sockets on the shared price subscription",
    )
    pad = "x" * 8000  # ~24 MB in all: more than the kernel buffers hold for the stalled socket
    for i in range(N):
        await server.container.hub.publish(
            Event(type="priceUpdated", user_id=None, subject="USD", payload={"value": str(i), "source": pad})
        )
        if i % 50 == 0:
            # The reading client shares this event loop, and asyncio reads at most 256 KiB per
            # socket per loop turn: a publisher that never waits outruns any reader in the same
            # loop once the server's writes are cheap. Keep it within two bursts of the reader
            # (what a reader that keeps up looks like); the stalled socket never reads at all.
            await until(lambda i=i: got >= i - 100, "the reading client keeps up while the other is stalled")
    await asyncio.wait_for(task, 60)
    assert got == N
    # The stalled client finds, after what was already in flight, a close with 1013.
    assert await asyncio.wait_for(stalled.close_code(), 60) == CLOSE_TOO_SLOW
    await reader.close()  # type: ignore[attr-defined]


async def test_a_client_that_never_reads_again_is_dropped_after_the_close_timeout(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 1013 close frame cannot reach a client that does not read; the server then aborts the
    connection instead of keeping it (and the caller's connection slot) open with data unsent."""
    monkeypatch.setattr(LiveHandler, "outbox_max", 64)
    monkeypatch.setattr(server.container.settings, "ws_close_timeout_s", 1.0)
    stalled = RawStalledClient()
    await stalled.open(server.ws_url)
    registry = server.live
    await until(lambda: hub_subscribers(server) == 1, "the stalled socket's price subscription")
    assert registry.anonymous_count == 1
    (handler,) = registry.all
    state = handler.websocket.ws.scope["state"]
    aborted: list[bool] = []
    abort = state["abort_connection"]
    state["abort_connection"] = lambda: (aborted.append(True), abort())
    pad = "x" * 8000
    # Price ticks (a payload a Price is made of: a bad one would end the subscription with a small
    # error instead) until the server gives up on the reader: the kernel's buffers take a few MB
    # first. The bound only keeps a broken server from looping for ever (24 MB).
    for i in range(3000):
        await server.container.hub.publish(
            Event(type="priceUpdated", user_id=None, subject="USD", payload={"value": str(i), "source": pad})
        )
        if handler.closing:
            break
        if i % 50 == 0:
            await asyncio.sleep(0)
    assert handler.closing, "the stalled reader was never closed 1013"
    # Never read again: the server gives up on the closing handshake after ws_close_timeout_s and
    # aborts the connection, which frees the slot (not uvicorn's ping timeout 40 s later).
    await until(lambda: registry.anonymous_count == 0 and not registry.all, "the stalled socket dropped")
    assert aborted == [True]
    stalled.writer.transport.abort()
