"""Bitcoin Core's ZMQ notifications (``-zmqpubhashblock``, ``-zmqpubrawtx``; Core's doc/zmq.md).

Each notification is a three-part message: the topic (``hashblock`` / ``rawtx``), the body (the
32-byte block hash in display byte order / the serialized transaction) and a 4-byte
little-endian sequence number per topic. A gap in the sequence means messages were dropped
(ZMQ does not queue for slow subscribers beyond its high-water mark): the feed then reports a
new block so that every watched wallet is resynced.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
import zmq
import zmq.asyncio

log = structlog.get_logger(__name__)


class ZmqFeed:
    """Subscribes to the configured publishers and calls back per message."""

    def __init__(
        self,
        hashblock: str | None,
        rawtx: str | None,
        *,
        on_block: Callable[[str], Awaitable[None]],
        on_rawtx: Callable[[bytes], Awaitable[None]],
        on_gap: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.endpoints = {b"hashblock": hashblock, b"rawtx": rawtx}
        self.on_block = on_block
        self.on_rawtx = on_rawtx
        self.on_gap = on_gap
        self.gaps = 0
        self._seq: dict[bytes, int] = {}
        self.connected = asyncio.Event()

    async def run(self) -> None:
        ctx = zmq.asyncio.Context.instance()
        sockets: list[zmq.asyncio.Socket] = []
        try:
            poller = zmq.asyncio.Poller()
            for topic, endpoint in self.endpoints.items():
                if not endpoint:
                    continue
                sock = ctx.socket(zmq.SUB)
                sock.setsockopt(zmq.LINGER, 0)
                sock.setsockopt(zmq.RCVHWM, 0)
                sock.setsockopt(zmq.TCP_KEEPALIVE, 1)
                sock.setsockopt(zmq.SUBSCRIBE, topic)
                sock.connect(endpoint)
                sockets.append(sock)
                poller.register(sock, zmq.POLLIN)
            self.connected.set()
            while True:
                for sock, _ in await poller.poll():
                    parts = await sock.recv_multipart()
                    await self._handle(parts)
        finally:
            for sock in sockets:
                with contextlib.suppress(Exception):
                    sock.close(0)

    async def _handle(self, parts: list[bytes]) -> None:
        if len(parts) != 3 or len(parts[2]) != 4:
            log.warning("core_zmq_bad_message", parts=len(parts))
            return
        topic, body, seq_raw = parts
        seq = int.from_bytes(seq_raw, "little")
        last = self._seq.get(topic)
        self._seq[topic] = seq
        gap = last is not None and seq != (last + 1) % 2**32
        try:
            if topic == b"hashblock" and len(body) == 32:
                await self.on_block(body.hex())
            elif topic == b"rawtx":
                await self.on_rawtx(body)
            if gap:
                self.gaps += 1
                log.warning("core_zmq_gap", topic=topic.decode(), expected=(last or 0) + 1, got=seq)
                if self.on_gap is not None:
                    await self.on_gap()
        except Exception:
            log.exception("core_zmq_handler_failed", topic=topic.decode(errors="replace"))
