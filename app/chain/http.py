"""A lean HTTP/1.1 keep-alive transport for ``httpx.AsyncClient`` (used by the Esplora backend).

A full scan sends thousands of small GETs to one host. httpx's default transport (httpcore +
h11 + anyio) spends most of the client's CPU on pool bookkeeping per request; this transport
does just what the Esplora API needs: keep-alive connections to one origin over asyncio
streams (TLS with the default verification for ``https``), ``Content-Length`` and chunked
bodies, timeouts. Errors are raised as httpx's exceptions, so callers see the usual types.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import httpx

_MAX_LINE = 64 * 1024
STREAM_LIMIT = 64 * 1024 * 1024


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class LeanTransport(httpx.AsyncBaseTransport):
    """Keep-alive HTTP/1.1 over asyncio streams; no proxies, no HTTP/2, no upgrades."""

    def __init__(self, *, max_connections: int = 16, ssl_context: ssl.SSLContext | None = None) -> None:
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._slots = asyncio.Semaphore(max_connections)
        self._ssl = ssl_context
        self._closed = False

    async def _open(self, scheme: str, host: str, port: int, timeout: float | None) -> _Conn:
        ctx = None
        if scheme == "https":
            ctx = self._ssl or ssl.create_default_context()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=ctx, limit=STREAM_LIMIT), timeout
            )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
        return _Conn(reader, writer)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise httpx.ConnectError("transport closed", request=request)
        url = request.url
        scheme = url.scheme
        host = url.host
        port = url.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        body = request.read()
        head = [f"{request.method} {url.raw_path.decode('ascii')} HTTP/1.1"]
        for name, value in request.headers.items():
            if name.lower() == "accept-encoding":
                continue
            head.append(f"{name}: {value}")
        head.append("Accept-Encoding: identity")
        payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body

        async with self._slots:
            idle = self._idle.get(key)
            reused = bool(idle)
            conn = idle.pop() if idle else await self._open(scheme, host, port, timeouts.get("connect"))
            while True:
                try:
                    status, headers, content, keep = await asyncio.wait_for(
                        self._exchange(conn, payload, request.method), timeouts.get("read")
                    )
                    break
                except TimeoutError:
                    conn.close()
                    raise httpx.ReadTimeout(f"no answer from {host}:{port} in time", request=request) from None
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    conn.close()
                    if not reused:
                        raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from None
                    # The server closed an idle keep-alive connection: retry once, on a fresh one.
                    reused = False
                    conn = await self._open(scheme, host, port, timeouts.get("connect"))
            if keep and not self._closed:
                self._idle.setdefault(key, []).append(conn)
            else:
                conn.close()
        return httpx.Response(status, headers=headers, content=content, request=request)

    @staticmethod
    async def _exchange(conn: _Conn, payload: bytes, method: str) -> tuple[int, list[tuple[str, str]], bytes, bool]:
        conn.writer.write(payload)
        await conn.writer.drain()
        reader = conn.reader
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionResetError("connection closed before the response")
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ValueError(f"not an HTTP response: {status_line[:40]!r}")
        version, status = parts[0], int(parts[1])
        headers: list[tuple[str, str]] = []
        length: int | None = None
        chunked = False
        keep = version == "HTTP/1.1"
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            if len(line) > _MAX_LINE:
                raise ValueError("header line too long")
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip(), value.strip()
            low = name.lower()
            if low == "content-length":
                length = int(value)
            elif low == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif low == "connection":
                keep = value.lower() != "close" and (keep or value.lower() == "keep-alive")
            if low != "transfer-encoding":
                headers.append((name, value))
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return status, headers, b"", keep
        if chunked:
            chunks = []
            while True:
                size = int((await reader.readline()).split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            return status, headers, b"".join(chunks), keep
        if length is not None:
            return status, headers, await reader.readexactly(length), keep
        return status, headers, await reader.read(), False

    async def aclose(self) -> None:
        self._closed = True
        for conns in self._idle.values():
            for c in conns:
                c.close()
        self._idle.clear()
