"""A typed client proves the schema: GraphQL Code Generator turns ``schema.graphql`` into
TypeScript types, ``tsc`` type-checks the small client of ``clients/typed`` against them, and
node runs it against a real ``mbf serve`` on the dev chain: sign-up, wallet import, the dashboard
query, and a typed ``transactionReceived`` subscription over graphql-ws that receives a payment
sent on the chain (``historical: false``: a new payment, not the import's history).

Skips only where node or npm are missing, never under ``CI=true``."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.dev.devchain.runner import DevChain
from tests.foundation.test_cli_process import MBF, ROOT, _env, _free_port
from tests.support.signals import registered_at

CLIENT = ROOT / "clients" / "typed"
pytestmark = pytest.mark.slow
REGISTER = "mutation($i: RegisterInput!) { register(input: $i) { token } }"


def _need_node() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{', '.join(missing)} missing under CI=true: install Node.js (make install-test)")
        pytest.skip(f"{', '.join(missing)} not installed")


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, cwd=CLIENT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{what} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def built_client() -> Path:
    """Installed (as `make install-test` does), types generated, type-checked and compiled."""
    _need_node()
    _run([str(ROOT / "scripts" / "install-typed-client.sh")], "npm ci")
    bin_dir = CLIENT / "node_modules" / ".bin"
    _run([str(bin_dir / "graphql-codegen"), "--config", "codegen.yml"], "graphql-codegen")
    generated = (CLIENT / "src" / "generated" / "graphql.ts").read_text()
    # Typed, not `any`: the subscription's payload and the contract's scalars have real types.
    payments = next(line for line in generated.splitlines() if line.startswith("export type PaymentsSubscription = "))
    assert "historical: boolean" in payments and "netAmount: number" in payments  # Sats: an exact number
    assert "direction: TxDirection" in payments and "any" not in payments
    _run([str(bin_dir / "tsc"), "-p", "."], "tsc")
    return CLIENT / "dist" / "client.js"


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[DevChain]:
    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path / "chain") as c:
        yield c


@pytest.fixture
async def mbf_serve(tmp_path: Path, chain: DevChain) -> AsyncIterator[str]:
    port = _free_port()
    env = _env(tmp_path, MBF_REGTEST_ESPLORA_URL=chain.esplora_url, MBF_SYNC_INTERVAL_S="3600")
    proc = await asyncio.create_subprocess_exec(
        *MBF, "serve", "--port", str(port), env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:
            for _ in range(600):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _line(stream: asyncio.StreamReader, wait_s: float = 120) -> dict[str, Any]:
    raw = await asyncio.wait_for(stream.readline(), wait_s)
    assert raw, "the client exited early"
    out: dict[str, Any] = json.loads(raw)
    return out


async def test_typed_client_dashboard_and_payment(built_client: Path, mbf_serve: str, chain: DevChain) -> None:
    wallet = chain.info["wallets"][0]
    figures = wallet["expected"]
    total = figures["confirmed"] + figures["unconfirmed"]
    # /readyz shows hub figures to an admin only: the server's first account is the admin.
    async with httpx.AsyncClient(base_url=mbf_serve, timeout=30) as http:
        admin = {"email": "admin@example.com", "password": "correct horse battery staple"}
        body = (await http.post("/graphql", json={"query": REGISTER, "variables": {"i": admin}})).json()
    admin_token = body["data"]["register"]["token"]
    env = {**os.environ, "MBF_URL": mbf_serve, "MBF_DESCRIPTOR": wallet["descriptor"]}
    proc = await asyncio.create_subprocess_exec(
        "node", str(built_client), env=env, cwd=CLIENT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        async with registered_at(mbf_serve, 1, token=admin_token):  # the client's subscription is live
            ready = await _line(proc.stdout)
        assert ready["ready"] is True and ready["viewer"].startswith("typed-")
        [shown] = ready["wallets"]
        assert shown["syncStatus"] == "SYNCED" and shown["totalSats"] == total
        assert shown["txCount"] == figures["txCount"] and len(shown["latest"]) == 3

        txid = await chain.send(ready["address"], 25_000)
        proc.stdin.write(b"sent\n")
        await proc.stdin.drain()
        event = (await _line(proc.stdout))["event"]
        assert event["txid"] == txid and event["netAmount"] == 25_000 and event["direction"] == "INCOMING"
        assert event["historical"] is False and event["toast"] is True and event["status"] == "MEMPOOL"
        assert event["wallet"] == "Typed client" and event["walletTotal"] == total + 25_000
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        err = (await proc.stderr.read()).decode()
        assert proc.returncode == 0, err
