"""Slowloris: a connection that never completes its request headers is closed by `mbf serve`
after MBF_HEADER_READ_TIMEOUT_S (uvicorn alone keeps it open indefinitely)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx

from tests.foundation.test_cli_process import ROOT, _env, _free_port
from tests.support.signals import until

MBF = [sys.executable, "-c", "from app.cli.main import main; main()"]


async def closed_by_server(reader: asyncio.StreamReader, wait_s: float) -> bytes:
    """Read until the server ends the connection; what it sent before (nothing, for a timeout)."""
    got = b""
    async with asyncio.timeout(wait_s):  # failure bound only
        try:
            while chunk := await reader.read(4096):
                got += chunk
        except ConnectionResetError:
            pass
    return got


async def test_incomplete_headers_are_cut_off_and_complete_requests_served(tmp_path: Path) -> None:
    port = _free_port()
    env = _env(tmp_path, MBF_HEADER_READ_TIMEOUT_S="1", MBF_KEEPALIVE_TIMEOUT_S="60")
    proc = await asyncio.create_subprocess_exec(*MBF, "serve", "--port", str(port), env=env, cwd=ROOT,
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

            async def answers() -> bool:
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            # a failure bound only; under coverage on a loaded machine start-up took over 30 s
            await until(answers, "mbf serve answered /healthz", 120)
        silent = await asyncio.open_connection("127.0.0.1", port)  # connects, sends nothing
        trickle = await asyncio.open_connection("127.0.0.1", port)  # half a request, then stalls
        trickle[1].write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        await trickle[1].drain()
        assert await closed_by_server(silent[0], 30) == b""
        assert await closed_by_server(trickle[0], 30) == b""

        # A whole request on a fresh connection is served, and the kept-alive connection is not
        # cut by the header timer while it waits for the next request (keep-alive is 60 s here).
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200")
        body = await asyncio.wait_for(reader.readuntil(b"}"), 10)
        assert b'"ok"' in body
        await asyncio.sleep(1.5)  # longer than the header timeout: an idle kept-alive connection stays
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).startswith(b"HTTP/1.1 200")
        writer.close()
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()
