"""What a dashboard sees while wallets sync, against the dev chain over real HTTP:
``wallet.syncProgress`` moves with the ``walletSyncProgress`` stream, and an import's history is
``historical`` while a payment that arrives afterwards is not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from app.dev.devchain.runner import DevChain
from app.events.envelope import Event
from tests.support.server import GraphQLClient, LiveServer
from tests.support.signals import on_published
from tests.wallets.helpers import addresses

IMPORT = "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }"
PROGRESS = "query($id: ID!) { wallet(id: $id) { syncStatus syncProgress { phase addressesScanned txsFound } } }"
SYNC = "mutation($id: ID!) { syncWallet(id: $id) { id } }"
JOB = "query($id: ID!) { syncJob(id: $id) { status } }"


@pytest.fixture
async def small(tmp_path: Path) -> AsyncIterator[DevChain]:
    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path / "chain") as chain:
        yield chain


@pytest.fixture
def settings_overrides(small: DevChain) -> dict[str, Any]:
    return {"regtest_esplora_url": small.esplora_url, "sync_interval_s": 3600}


def listen(server: LiveServer, handler: Callable[[Event], Awaitable[None]]) -> None:
    """In-process listener of every sync event; awaited before the event is published (so a
    listener that waits pauses the sync right there)."""
    on_published(server.container.hub, handler)


async def import_wallet(gql: GraphQLClient, descriptor: str) -> str:
    body = await gql(IMPORT, {"i": {"name": "w", "source": descriptor, "network": "REGTEST"}})
    return str(body["data"]["importWallet"]["id"])


async def synced(gql: GraphQLClient, wallet_id: str) -> dict[str, Any]:
    async with asyncio.timeout(60):
        while True:
            w: dict[str, Any] = (await gql(PROGRESS, {"id": wallet_id}))["data"]["wallet"]
            if w["syncStatus"] in ("SYNCED", "ERROR"):
                return w
            await asyncio.sleep(0.05)


async def job_done(gql: GraphQLClient, job_id: str) -> None:
    async with asyncio.timeout(30):
        while (await gql(JOB, {"id": job_id}))["data"]["syncJob"]["status"] in ("QUEUED", "RUNNING"):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_sync_progress_follows_the_running_job(
    small: DevChain, server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    paused: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    resume = asyncio.Event()
    stops = {"scanning", "fetching"}

    async def pause_at_phases(event: Event) -> None:
        p = event.payload
        if event.type == "walletSyncProgress" and p["phase"] in stops:
            stops.discard(p["phase"])
            await paused.put(dict(p))
            await resume.wait()
            resume.clear()

    listen(server, pause_at_phases)
    wallet_id = await import_wallet(gql, small.info["wallets"][0]["descriptor"])
    seen = []
    for _ in range(2):
        async with asyncio.timeout(30):
            stream = await paused.get()
        # The sync is held right where the stream reported these figures: the query shows them.
        w = (await gql(PROGRESS, {"id": wallet_id}))["data"]["wallet"]
        assert w["syncStatus"] == "SYNCING"
        assert w["syncProgress"] == {
            "phase": stream["phase"].upper(),  # the SyncPhase enum's name for the stored value
            "addressesScanned": stream["addressesScanned"],
            "txsFound": stream["txsFound"],
        }
        seen.append(w["syncProgress"])
        resume.set()
    assert [s["phase"] for s in seen] == ["SCANNING", "FETCHING"]
    assert seen[1]["txsFound"] > 0 and seen[1]["addressesScanned"] > seen[0]["addressesScanned"]
    done = await synced(gql, wallet_id)
    assert done["syncStatus"] == "SYNCED" and done["syncProgress"]["phase"] == "DONE"
    assert done["syncProgress"]["txsFound"] == small.info["wallets"][0]["expected"]["txCount"]


async def test_an_import_is_history_and_a_later_payment_is_news(
    small: DevChain, server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    received: list[dict[str, Any]] = []

    async def collect(event: Event) -> None:
        if event.type == "transactionReceived":
            received.append(dict(event.payload))

    listen(server, collect)
    w = small.info["wallets"][0]
    wallet_id = await import_wallet(gql, w["descriptor"])
    assert (await synced(gql, wallet_id))["syncStatus"] == "SYNCED"
    history = w["expected"]["txCount"]
    assert history > 1 and len(received) == history
    assert all(e["historical"] is True for e in received), received

    # A payment after the wallet was synced: exactly one event, not historical.
    unused = (await addresses(gql, wallet_id, first=1, chain="RECEIVE", used=False))["edges"][0]["node"]["address"]
    txid = await small.send(unused, 50_000)
    for _ in range(2):  # mempool, then mined: the second sync finds nothing new
        job = (await gql(SYNC, {"id": wallet_id}))["data"]["syncWallet"]["id"]
        await job_done(gql, job)
        await small.mine(1)
    news = received[history:]
    assert [(e["txid"], e["historical"], e["netAmount"]) for e in news] == [(txid, False, 50_000)]
