"""A real uvicorn server on an ephemeral port, in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from app.config import Settings
from app.container import Container
from app.main import create_app
from subscriptions.registry import LiveConnections


@dataclass
class LiveServer:
    url: str
    ws_url: str
    container: Container
    settings: Settings
    server: uvicorn.Server
    live: LiveConnections  # the app's WebSocket registry (app.state.live)


@contextlib.asynccontextmanager
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    container = Container(settings)
    app = create_app(settings, container)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
        ws_max_size=settings.ws_max_message_bytes * 4,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server stopped during start-up")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveServer(
            f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/graphql", container, settings, server, app.state.live
        )
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=15)


class GraphQLClient:
    """Posts GraphQL over real HTTP; ``token`` sets the bearer for later calls."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30)
        self.token: str | None = None

    async def __call__(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        expect_errors: bool = False,
    ) -> dict[str, Any]:
        headers = {}
        bearer = token if token is not None else self.token
        if bearer:
            headers["authorization"] = f"Bearer {bearer}"
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        body: dict[str, Any] = response.json()
        if not expect_errors and body.get("errors"):
            raise AssertionError(f"unexpected GraphQL errors: {body['errors']}")
        return body

    async def register(self, email: str, password: str = "correct horse battery staple") -> str:
        body = await self(
            "mutation($i: RegisterInput!) { register(input: $i) { token } }",
            {"i": {"email": email, "password": password}},
            token="",
        )
        token: str = body["data"]["register"]["token"]
        return token

    async def aclose(self) -> None:
        await self.http.aclose()


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
