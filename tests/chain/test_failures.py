"""Backends facing servers that are down, flaky or hostile: clear errors, quickly, with retries."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.chain.backend import BroadcastRejected
from app.chain.electrum import ElectrumBackend
from app.chain.esplora import EsploraBackend
from app.chain.factory import ChainBackends, resolve
from app.config import Settings
from app.errors import BadInput, UpstreamUnavailable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def flaky_esplora(fail_first: int, status: int = 503) -> Iterator[tuple[str, list[str]]]:
    """Answers ``status`` to the first ``fail_first`` requests, then real Esplora shapes."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, code: int, body: str) -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            seen.append(self.path)
            if len(seen) <= fail_first:
                self._send(status, "overloaded")
            elif self.path == "/blocks/tip/height":
                self._send(200, "7")
            elif self.path == "/block-height/7":
                self._send(200, "ab" * 32)
            else:
                self._send(404, "Not found")

        def do_POST(self) -> None:
            seen.append(self.path)
            self._send(400, "sendrawtransaction RPC error: TX decode failed")

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", seen
    finally:
        srv.shutdown()
        srv.server_close()


async def test_esplora_down_fails_fast_with_the_server_named() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    backend = EsploraBackend(url, network="regtest", retries=2, timeout_s=2)
    with pytest.raises(UpstreamUnavailable) as err:  # how fast: bench/chain_fail_fast.py
        await backend.tip()
    assert url in err.value.message
    assert backend.requests == 3  # first try + 2 retries
    # The breaker is open now: the next call fails at once without touching the network.
    with pytest.raises(UpstreamUnavailable):
        await backend.tip()
    assert backend.requests == 3
    await backend.close()


async def test_esplora_retries_5xx_and_429_then_succeeds() -> None:
    for status in (503, 429):
        with flaky_esplora(fail_first=2, status=status) as (url, seen):
            backend = EsploraBackend(url, network="regtest", retries=3)
            tip = await backend.tip()
            assert tip.height == 7 and tip.hash == "ab" * 32
            assert seen[:2] == ["/blocks/tip/height", "/blocks/tip/height"]
            await backend.close()


async def test_esplora_gives_up_after_retries() -> None:
    with flaky_esplora(fail_first=100) as (url, seen):
        backend = EsploraBackend(url, network="regtest", retries=1)
        with pytest.raises(UpstreamUnavailable) as err:
            await backend.tip()
        assert "HTTP 503" in err.value.message
        assert len(seen) == 2
        await backend.close()


async def test_esplora_broadcast_rejection_is_bad_input() -> None:
    with flaky_esplora(fail_first=0) as (url, _):
        backend = EsploraBackend(url, network="regtest")
        with pytest.raises(BroadcastRejected) as err:
            await backend.broadcast("00")
        assert isinstance(err.value, BadInput) and err.value.reason == "TX decode failed"
        assert "TX decode failed" in err.value.message
        await backend.close()


async def test_electrum_down_fails_fast() -> None:
    url = f"tcp://127.0.0.1:{_free_port()}"
    backend = ElectrumBackend(url, network="regtest", retries=1, timeout_s=2)
    with pytest.raises(UpstreamUnavailable) as err:  # how fast: bench/chain_fail_fast.py
        await backend.histories(["00" * 32])
    assert url in err.value.message
    await backend.close()


async def test_electrum_silent_server_times_out() -> None:
    """A server that accepts the connection and never answers: a timeout, not a hang."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    backend = ElectrumBackend(f"tcp://127.0.0.1:{port}", network="regtest", retries=0, timeout_s=0.3)
    with pytest.raises(UpstreamUnavailable) as err:
        await backend.tip()
    assert "timed out" in err.value.message
    await backend.close()
    server.close()


def test_factory_resolution() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert resolve(s, "mainnet") == ("esplora", "https://blockstream.info/api", True)
    with pytest.raises(UpstreamUnavailable):
        resolve(s, "regtest")
    s = Settings(_env_file=None, regtest_electrum_url="tcp://127.0.0.1:1")  # type: ignore[call-arg]
    assert resolve(s, "regtest") == ("electrum", "tcp://127.0.0.1:1", False)
    s = Settings(  # type: ignore[call-arg]
        _env_file=None,
        esplora_url="http://node:3002",
        electrum_url="tcp://node:50001",
        chain_backend="electrum",
        signet_esplora_url="http://signet:3002",
    )
    assert resolve(s, "mainnet") == ("electrum", "tcp://node:50001", False)
    s2 = s.model_copy(update={"chain_backend": "esplora"})
    assert resolve(s2, "signet") == ("esplora", "http://signet:3002", False)
    assert resolve(s2, "testnet") == ("esplora", "http://node:3002", False)


async def test_factory_builds_lazily_and_closes() -> None:
    s = Settings(_env_file=None, regtest_esplora_url="http://127.0.0.1:9")  # type: ignore[call-arg]
    backends = ChainBackends(s)
    await backends.start()
    assert backends.active() == {}
    b = await backends.get("regtest")
    assert b is await backends.get("regtest")
    assert b.name == "esplora"
    health = await backends.health()
    assert health["status"] == "degraded"
    await backends.stop()
    assert backends.active() == {}
