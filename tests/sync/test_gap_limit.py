"""The gap limit, pinned on the dev chain's `gap` scenario over Esplora and Electrum.

`deep` has used receive addresses far past the first request batch (0, 12, 25, 38, 50, 68, 87,
100, 120, 140, 160, 180, 200), each reached from the previous one within the gap of 20, with
steps of gap - 1 (68 -> 87) and exactly gap (the edge: 100 -> 120 ... 180 -> 200). Payments to
240 and 260 lie beyond the gap of its last used address: a wallet must not show them until a
payment to 220 (last used + gap, the last address inside the gap) makes 240 reachable, and 240
makes 260 reachable. `edge` (p2tr) steps by exactly gap - 1 and gap: 0, 19, 39, 59.

The request batch is pinned to the gap (`chain_concurrency=5`: 4 x 5 = 20 scripts per round) so
the scanned window is exactly determined: with a wider batch a sync may read past the gap (and
would rightly show 240), which says nothing about the gap limit itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.bitcoin.networks import Network
from app.container import Container
from app.dev.devchain.primitives import spk_address
from app.dev.devchain.runner import DevChain
from app.services.wallets import Chain, ImportWalletInput
from tests.sync.test_sync import (
    BACKENDS,
    chain_settings,
    check_consistency,
    figures,
    new_user,
    start_container,
    wait_synced,
)

GAP = 20
BATCH_SETTINGS = {"chain_concurrency": 5}  # 20 scripts per request round, the gap


def address_at(chain: DevChain, wallet: str, index: int) -> str:
    addr = spk_address(chain.state.wallet(wallet).derive(0, index))
    assert addr is not None
    return addr


async def import_gap_wallets(c: Container, user: str, chain: DevChain) -> dict[str, str]:
    ids = {}
    for w in chain.info["wallets"]:
        view = await c.wallets.import_wallet(
            user, ImportWalletInput(name=w["name"], source=w["descriptor"], network=Network.REGTEST, gap_limit=GAP)
        )
        ids[w["name"]] = view.id
    for wallet_id in ids.values():
        st = await wait_synced(c, user, wallet_id)
        assert st.status == "SYNCED", st.last_error
    return ids


async def receive_window(c: Container, user: str, wallet_id: str) -> tuple[list[int], list[int]]:
    """(every receive index the wallet shows, the used ones), as the addresses query lists them."""
    page = await c.wallets.addresses(user, wallet_id, chain=Chain.RECEIVE, first=500)
    assert not page.has_next
    items: list[Any] = page.items
    return [a.index for a in items], [a.index for a in items if a.used]


def with_beyond(expected: dict[str, int], beyond: list[dict[str, Any]]) -> dict[str, int]:
    """The wallet's figures once the confirmed beyond-gap payments (one faucet tx each) are in view."""
    out = dict(expected)
    out["confirmed"] += sum(b["sats"] for b in beyond)
    out["txCount"] += len(beyond)
    out["confirmedTxCount"] += len(beyond)
    out["utxoCount"] += len(beyond)
    return out


async def assert_first_view(c: Container, user: str, ids: dict[str, str], chain: DevChain) -> None:
    meta = chain.info["scenarioMeta"]
    deep, edge = ids["deep"], ids["edge"]
    # Every payment up to the edge of the gap is found, none beyond it.
    assert await figures(c, user, deep) == chain.expected("deep")
    assert await figures(c, user, edge) == chain.expected("edge")
    for wallet_id in ids.values():
        await check_consistency(c, user, wallet_id)
    txids = {t.txid for t in (await c.sync.transactions(user, deep, first=500))[0]}
    assert not txids & {b["txid"] for b in meta["beyondGap"]["deep"]}
    # The scanned window: the used receive indexes exactly, and gap addresses after the last one.
    shown, used = await receive_window(c, user, deep)
    assert used == meta["usedReceive"]["deep"]
    assert shown == list(range(200 + 1 + GAP))
    shown, used = await receive_window(c, user, edge)
    assert used == meta["usedReceive"]["edge"]
    assert shown == list(range(59 + 1 + GAP))
    # Both chains read at least through last used + gap, and stop within one batch after it.
    st = await c.sync.state(user, deep)
    least = (200 + 1 + GAP) + (0 + 1 + GAP)  # receive; change (deep's one change output is index 0)
    assert least <= st.addresses_scanned < least + 2 * GAP


@pytest.mark.parametrize("backend", BACKENDS)
async def test_first_and_full_sync_find_every_address_within_the_gap(
    gapchain: DevChain, backend: str, database_url: str, tmp_path: Path
) -> None:
    c = await start_container(tmp_path, database_url, **chain_settings(gapchain, backend), **BATCH_SETTINGS)
    try:
        user = await new_user(c)
        ids = await import_gap_wallets(c, user, gapchain)
        await assert_first_view(c, user, ids, gapchain)
        # A full rescan reads everything again and comes to the same view.
        for wallet_id in ids.values():
            job = await c.sync.sync_now(user, wallet_id, full=True)
            assert job.status == "SUCCEEDED", job.error
        await assert_first_view(c, user, ids, gapchain)
    finally:
        await c.stop()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_payment_at_the_gap_edge_reveals_the_addresses_beyond(
    gapchain: DevChain, backend: str, database_url: str, tmp_path: Path
) -> None:
    """Incremental: a payment to last used + gap arrives after the first sync. The wallet finds it,
    its window moves on, and the payments to 240 and 260 that were beyond the gap come into view.

    Over Esplora the payment is still in the mempool at the same tip, so this also pins the fast
    path's guard: a mempool payment near the end of the window must lead to a full scan (the fast
    path alone would ask only the paid address and miss 240 and 260)."""
    c = await start_container(tmp_path, database_url, **chain_settings(gapchain, backend), **BATCH_SETTINGS)
    try:
        user = await new_user(c)
        ids = await import_gap_wallets(c, user, gapchain)
        deep = ids["deep"]
        await assert_first_view(c, user, ids, gapchain)
        beyond = gapchain.info["scenarioMeta"]["beyondGap"]["deep"]
        if backend == "esplora":
            # The fast path is live here: a resync with nothing new is decided from the mempool.
            job = await c.sync.sync_now(user, deep)
            assert job.status == "SUCCEEDED"
            assert c.sync.last_result[deep].fast_path and not c.sync.last_result[deep].rebuilt

        edge_sats = 777_777
        edge_txid = await gapchain.send(address_at(gapchain, "deep", 200 + GAP), edge_sats)
        job = await c.sync.sync_now(user, deep)
        assert job.status == "SUCCEEDED", job.error
        if backend == "esplora":
            assert not c.sync.last_result[deep].fast_path  # the guard sent it to a full scan

        expected = with_beyond(gapchain.expected("deep"), beyond)  # the devchain's figures count 220
        assert expected["unconfirmed"] == gapchain.info["wallets"][0]["expected"]["unconfirmed"]
        assert await figures(c, user, deep) == expected
        await check_consistency(c, user, deep)
        txs = {t.txid: t for t in (await c.sync.transactions(user, deep, first=500))[0]}
        assert txs[edge_txid].net_amount == edge_sats and txs[edge_txid].direction == "INCOMING"
        assert all(txs[b["txid"]].net_amount == b["sats"] and txs[b["txid"]].height for b in beyond)
        shown, used = await receive_window(c, user, deep)
        assert used == [*gapchain.info["scenarioMeta"]["usedReceive"]["deep"], 220, 240, 260]
        assert shown == list(range(260 + 1 + GAP))

        # Confirmed in a block: incremental and full syncs agree.
        await gapchain.mine(1)
        job = await c.sync.sync_now(user, deep)
        assert job.status == "SUCCEEDED", job.error
        confirmed = with_beyond(gapchain.expected("deep"), beyond)
        assert confirmed["confirmedTxCount"] == expected["confirmedTxCount"] + 2  # 220's payment, the mempool one
        assert await figures(c, user, deep) == confirmed
        job = await c.sync.sync_now(user, deep, full=True)
        assert job.status == "SUCCEEDED", job.error
        assert await figures(c, user, deep) == confirmed
        await check_consistency(c, user, deep)
    finally:
        await c.stop()
