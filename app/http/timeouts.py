"""Request body read timeout (pure ASGI middleware): a client that stops sending mid-body gets 408.

uvicorn bounds idle keep-alive connections (``MBF_KEEPALIVE_TIMEOUT_S``) but not a body that trickles
in: without this, a slow client holds a request (and its memory) open indefinitely. Only the wait
for the *next body chunk* is bounded, so long responses and streaming are unaffected.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.errors import error_response


class _BodyTimedOut(Exception):
    pass


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class BodyReadTimeoutMiddleware:
    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False
        started = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                raise _BodyTimedOut from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, tracking_send)
        except _BodyTimedOut:
            if not started:
                response = error_response(
                    408,
                    f"The request body was not received within {self.timeout_s:g} s.",
                    "BAD_USER_INPUT",
                    (scope.get("state") or {}).get("request_id"),
                    headers={"connection": "close"},
                )
                await response(scope, _no_body, send)
