"""A small graphql-transport-ws / graphql-ws client over a real WebSocket (``websockets``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


class WS:
    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn

    @classmethod
    async def open(cls, url: str, protocol: str = TRANSPORT_WS) -> WS:
        conn = await connect(url, subprotocols=[protocol], max_size=None, open_timeout=10)  # type: ignore[list-item]
        return cls(conn)

    async def send(self, message: Any) -> None:
        await self.conn.send(message if isinstance(message, str | bytes) else json.dumps(message))

    async def recv(self, wait_s: float = 10.0) -> dict[str, Any]:
        """Next message, answering and skipping the server's keep-alive pings."""
        while True:
            raw = await asyncio.wait_for(self.conn.recv(), wait_s)
            msg: dict[str, Any] = json.loads(raw)
            if msg.get("type") == "ping":
                await self.send({"type": "pong"})
                continue
            if msg.get("type") == "ka":
                continue
            return msg

    async def init(self, token: str | None = None) -> dict[str, Any]:
        payload = {"authorization": f"Bearer {token}"} if token else {}
        await self.send({"type": "connection_init", "payload": payload})
        return await self.recv()

    async def subscribe(self, op_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        await self.send(
            {"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
        )

    async def closed(self, wait_s: float = 10.0) -> tuple[int | None, str]:
        """Wait until the server closes; returns (code, reason)."""
        try:
            async with asyncio.timeout(wait_s):
                while True:
                    await self.conn.recv()
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            return (rcvd.code, rcvd.reason) if rcvd else (None, "")
        raise AssertionError("unreachable")

    async def close(self) -> None:
        await self.conn.close()


async def refused(ws: WS, op_id: str) -> dict[str, Any]:
    """The error of a refused subscription (either as ``error`` or as a ``next`` with errors + ``complete``)."""
    msg = await ws.recv()
    assert msg["id"] == op_id and msg["type"] in ("error", "next"), msg
    errors = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
    if msg["type"] == "next":
        assert msg["payload"]["data"] is None
        assert await ws.recv() == {"id": op_id, "type": "complete"}
    assert len(errors) == 1, errors
    error: dict[str, Any] = errors[0]
    return error


async def nothing_pending(ws: WS) -> None:
    """Everything the server sent before our ping has been read: the next frame is the pong."""
    await ws.send({"type": "ping"})
    msg = await ws.recv()
    assert msg == {"type": "pong"}, msg


# The typed events stream as a dashboard selects it: the resume id, then fragments per payload type.
EVENTS = (
    "subscription($after: String) { events(after: $after) { __typename id occurredAt "
    "... on WalletUpdate { walletId change balance { confirmed unconfirmed total } txCount tipHeight } "
    "... on TransactionEvent { walletId txid historical } "
    "... on WalletSyncProgressEvent { walletId } "
    "... on PortfolioValue { portfolioId value currency sats: balance } "
    "... on SessionRevoked { sessionId } "
    "... on ReportProgressEvent { reportId status progress } "
    "... on PaymentUpdate { nodeId paymentHash paymentStatus: status preimage feeMsat } "
    "... on ChannelBackupUpdate { nodeId channelPoints channelCount sha256 } "
    "... on OtherEvent { type subject payload } } }"
)
