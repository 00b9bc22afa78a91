"""Frame validation for both WebSocket protocols: every client frame is read here, and a frame
over the size limit, a binary frame, non-JSON or an ill-shaped message closes the socket with 4400
(like the reference ``graphql-ws`` server closes on malformed messages)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from app import jsonfast


def dumps(value: Any) -> str:
    """Compact JSON, as every frame we send is written (orjson; Decimal and others as strings)."""
    return jsonfast.dumps(value)


def ws_text_frame(text: str) -> bytes:
    """One unmasked, unfragmented WebSocket text frame (RFC 6455 section 5.2), as a server sends it:
    what uvicorn's framer would produce for ``text``, built once and written to many sockets."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


def valid_legacy(message: Any) -> bool:
    """Shape of a legacy graphql-ws client message: an object with a string ``type``."""
    return isinstance(message, dict) and isinstance(message.get("type"), str)


async def receive(handler: Any, ws: Any, limit: int, valid: Callable[[Any], bool]) -> Any:
    """The next client message, or None once the peer has gone or the socket was closed with
    4400 for a frame over ``limit`` bytes, a binary frame, non-JSON or a message ``valid`` rejects."""
    msg = await ws.receive()
    if msg["type"] == "websocket.disconnect":
        return None
    text = msg.get("text")
    if text is None:
        await handler.close(4400, "WebSocket message type must be text")
        return None
    if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
        await handler.close(4400, f"Message too large (limit {limit} bytes)")
        return None
    try:
        message = json.loads(text)
    except ValueError:
        await handler.close(4400, "WebSocket message must be valid JSON")
        return None
    if not valid(message):
        await handler.close(4400, "Invalid message")
        return None
    return message


def valid(message: Any) -> bool:
    """Shape of a graphql-transport-ws client message (anything else closes with 4400)."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return False
    kind = message["type"]
    if kind == "subscribe":
        payload = message.get("payload")
        return (
            isinstance(message.get("id"), str)
            and 0 < len(message["id"]) <= 128
            and isinstance(payload, dict)
            and isinstance(payload.get("query"), str)
            and isinstance(payload.get("variables") or {}, dict)
            and isinstance(payload.get("operationName") or "", str)
            and isinstance(payload.get("extensions") or {}, dict)
        )
    if kind == "complete":
        return isinstance(message.get("id"), str)
    if kind == "connection_init":
        return isinstance(message.get("payload") or {}, dict)
    return True  # ping / pong / unknown types: Strawberry answers (unknown → 4400)
