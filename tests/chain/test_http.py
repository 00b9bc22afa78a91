"""The lean Esplora HTTP transport against a real local HTTP server: chunked bodies,
``Connection: close``, keep-alive reuse, a server that drops idle connections, timeouts."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from app.chain.http import LeanTransport


async def serve(handler) -> tuple[asyncio.AbstractServer, str]:  # type: ignore[no-untyped-def]
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def read_request(reader: asyncio.StreamReader) -> str | None:
    line = await reader.readline()
    if not line:
        return None
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    return line.decode().split(" ")[1]


async def test_chunked_close_and_keepalive() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while (path := await read_request(reader)) is not None:
            if path == "/chunked":
                writer.write(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                )
            elif path == "/close":
                writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbye")
                await writer.drain()
                writer.close()
                return
            else:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nNot found")
            await writer.drain()
        writer.close()

    server, url = await serve(handler)
    client = httpx.AsyncClient(base_url=url, transport=LeanTransport(max_connections=2))
    try:
        r = await client.get("/chunked")
        assert (r.status_code, r.text) == (200, "hello world")
        r = await client.get("/nothing")
        assert (r.status_code, r.text) == (404, "Not found")
        assert connections == 1  # both on one kept-alive connection
        r = await client.get("/close")
        assert r.text == "bye"
        r = await client.get("/chunked")
        assert r.text == "hello world" and connections == 2
    finally:
        await client.aclose()
        server.close()


async def test_server_dropping_idle_connections_is_retried_once() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Answers one request, then closes without saying so (an idle timeout on the server).
        if await read_request(reader) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        writer.close()

    server, url = await serve(handler)
    client = httpx.AsyncClient(base_url=url, transport=LeanTransport())
    try:
        for _ in range(3):
            assert (await client.get("/")).text == "ok"
    finally:
        await client.aclose()
        server.close()


async def test_errors_are_httpx_errors() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", transport=LeanTransport())
    with pytest.raises(httpx.ConnectError):
        await client.get("/")

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server, url = await serve(silent)
    client = httpx.AsyncClient(base_url=url, transport=LeanTransport(), timeout=0.2)
    with pytest.raises(httpx.ReadTimeout):
        await client.get("/")
    await client.aclose()
    server.close()
