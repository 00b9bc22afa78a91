"""A payment to a watched address reaches the live stream within seconds on every backend, with no
sync asked for: Electrum pushes (scripthash notifications), Esplora is polled (one tip request
per interval per server and a mempool check of the watched scripts, MBF_TIP_POLL_INTERVAL_S at
its default 10 s). The payment is sent with `mbf devchain --send`, as a developer would; the
bound (15 s Esplora, 2 s Electrum, from the moment the command returned) is the wait's timeout,
so a slow delivery fails the test and a fast one is never timed."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.config import Settings
from app.dev.devchain.runner import DevChain
from app.events.envelope import Event
from app.store.models.chain import SyncJob
from tests.frontend.test_sync_live import import_wallet, synced
from tests.subscriptions.test_ws import connect
from tests.support.server import GraphQLClient, LiveServer, live_server
from tests.support.signals import on_published, registered, until
from tests.wallets.helpers import addresses

ROOT = Path(__file__).resolve().parents[2]
MBF = [sys.executable, "-c", "from app.cli.main import main; main()"]
RECEIVED = "subscription($w: ID!) { transactionReceived(walletId: $w) { __typename } }"
BOUND_S = {"esplora": 15.0, "electrum": 2.0}


@pytest.fixture(params=["esplora", "electrum"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def small(tmp_path: Path) -> AsyncIterator[DevChain]:
    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path / "chain") as chain:
        yield chain


@pytest.fixture
def settings_overrides(small: DevChain, backend: str) -> dict[str, Any]:
    if backend == "electrum":
        url = f"tcp://{small.electrum_host}:{small.electrum_port}"
        return {"chain_backend": "electrum", "regtest_electrum_url": url, "sync_interval_s": 3600}
    return {"regtest_esplora_url": small.esplora_url, "sync_interval_s": 3600}  # tip poll: the default


async def devchain_send(chain: DevChain, address: str, sats: int) -> str:
    proc = await asyncio.create_subprocess_exec(
        *MBF, "devchain", "--control-url", chain.control_url, "--send", f"{address}:{sats}",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return str(json.loads(out)["txid"])


async def test_a_payment_reaches_the_live_stream_within_seconds(
    backend: str, small: DevChain, server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    assert server.settings.tip_poll_interval_s == 10.0
    payloads: list[dict[str, Any]] = []

    async def collect(event: Event) -> None:
        if event.type == "transactionReceived":
            payloads.append(dict(event.payload))

    wallet_id = await import_wallet(gql, small.info["wallets"][0]["descriptor"])
    assert (await synced(gql, wallet_id))["syncStatus"] == "SYNCED"
    on_published(server.container.hub, collect)  # after the import's history
    ws = await connect(server, user_token)
    async with registered(server, 1):
        await ws.subscribe("rx", RECEIVED, {"w": wallet_id})
    address = (await addresses(gql, wallet_id, first=1, chain="RECEIVE", used=False))["edges"][0]["node"]["address"]

    txid = await devchain_send(small, address, 40_000)
    msg = await ws.recv(wait_s=BOUND_S[backend])  # TimeoutError: not delivered in time
    assert msg["id"] == "rx" and msg["type"] == "next", msg
    assert [(p["txid"], p["historical"], p["netAmount"]) for p in payloads] == [(txid, False, 40_000)]
    await ws.close()


async def test_after_a_restart_wallets_are_followed_again_without_a_sync(
    backend: str, small: DevChain, settings: Settings, user_token: str
) -> None:
    """A server restarted on the same database follows the wallets synced before it stopped."""
    async with live_server(settings) as first:
        gql = GraphQLClient(first.url)
        gql.token = user_token = await gql.register("carol@example.com")
        wallet_id = await import_wallet(gql, small.info["wallets"][1]["descriptor"])
        assert (await synced(gql, wallet_id))["syncStatus"] == "SYNCED"
        address = (await addresses(gql, wallet_id, first=1, chain="RECEIVE", used=False))["edges"][0]["node"]["address"]
        await gql.aclose()
    payloads: list[dict[str, Any]] = []

    async def collect(event: Event) -> None:
        if event.type == "transactionReceived":
            payloads.append(dict(event.payload))

    async with live_server(settings) as second:
        on_published(second.container.hub, collect)
        jobs_before = await job_count(second)
        ws = await connect(second, user_token)
        async with registered(second, 1):
            await ws.subscribe("rx", RECEIVED, {"w": wallet_id})
        if backend == "esplora":  # the poller has its baseline before the payment
            await until(lambda: _baseline_taken(second), "the restarted server polls its chain server", 30)
        else:
            await until(lambda: second.container.sync.watch.watched_scripts > 0, "scripts subscribed again", 30)
        assert await job_count(second) == jobs_before  # no sync was needed for that
        txid = await devchain_send(small, address, 30_000)
        msg = await ws.recv(wait_s=BOUND_S[backend])
        assert msg["id"] == "rx" and msg["type"] == "next", msg
        assert [(p["txid"], p["historical"]) for p in payloads] == [(txid, False)]
        await ws.close()


def _baseline_taken(server: LiveServer) -> bool:
    poller = server.container.sync.watch.pollers.get("regtest")
    return poller is not None and poller.mempool is not None


async def job_count(server: LiveServer) -> int:
    async with server.container.store.read() as s:
        return int((await s.exec(sa.select(sa.func.count()).select_from(SyncJob))).one()[0])
