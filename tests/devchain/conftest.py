"""Dev chain fixtures, reusable by other areas' tests:

- `devchain_small`: session-scoped `small` scenario served from a background thread (any event
  loop can use it). Do not mutate it (mine/send/reorg); use `devchain` for that.
- `devchain`: a fresh `small` chain per test, served in the test's own loop.
- `electrum_client`: a factory for a tiny newline-delimited JSON-RPC client.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.dev.devchain.runner import DevChain, ThreadedDevChain, start_in_thread


@pytest.fixture(scope="session")
def devchain_small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedDevChain]:
    with start_in_thread(scenario="small", seed=1, data_dir=tmp_path_factory.mktemp("devchain")) as chain:
        yield chain


@pytest.fixture
async def devchain(tmp_path: Path) -> AsyncIterator[DevChain]:
    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path) as chain:
        yield chain


class ElectrumClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.next_id = 0
        self.notifications: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @classmethod
    async def connect(cls, host: str, port: int, tls_cert_pem: bytes | None = None) -> ElectrumClient:
        ctx = None
        if tls_cert_pem is not None:
            ctx = ssl.create_default_context(cadata=tls_cert_pem.decode())
        reader, writer = await asyncio.open_connection(host, port, ssl=ctx, limit=2**24)
        return cls(reader, writer)

    async def send_raw(self, line: bytes) -> Any:
        self.writer.write(line + b"\n")
        await self.writer.drain()
        return await self.read_reply()

    async def read_reply(self) -> Any:
        while True:
            line = await asyncio.wait_for(self.reader.readline(), 30)
            msg = json.loads(line)
            if isinstance(msg, dict) and "method" in msg and "id" not in msg:
                await self.notifications.put(msg)
                continue
            return msg

    async def request(self, method: str, *params: Any) -> Any:
        self.next_id += 1
        msg = await self.send_raw(
            json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": list(params)}).encode()
        )
        if "error" in msg:
            raise RuntimeError(msg["error"])
        return msg["result"]

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        reqs = []
        for method, params in calls:
            self.next_id += 1
            reqs.append({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        replies = await self.send_raw(json.dumps(reqs).encode())
        assert isinstance(replies, list), replies
        by_id = {r["id"]: r for r in replies}
        return [by_id[r["id"]].get("result") for r in reqs]

    async def notification(self, timeout: float = 10) -> dict[str, Any]:
        if self.notifications.empty():
            line = await asyncio.wait_for(self.reader.readline(), timeout)
            return dict(json.loads(line))
        return await self.notifications.get()

    async def close(self) -> None:
        self.writer.close()


@pytest.fixture
def electrum_client() -> Any:
    clients: list[ElectrumClient] = []

    async def make(chain: Any, tls: bool = False) -> ElectrumClient:
        if tls:
            c = await ElectrumClient.connect(chain.electrum_host, chain.electrum_tls_port, chain.tls_cert_pem)
        else:
            c = await ElectrumClient.connect(chain.electrum_host, chain.electrum_port)
        clients.append(c)
        return c

    return make
