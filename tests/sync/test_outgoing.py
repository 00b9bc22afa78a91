"""A payment the user signs in another wallet app (same keys, this backend watching) shows on
the next incremental sync, over Esplora (same tip: decided from the mempool's changes, which
must notice a transaction *spending* one of the wallet's outputs) and Electrum (status hashes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from app.dev.devchain.builder import Coin, build_and_sign
from app.dev.devchain.primitives import TxOut
from app.dev.devchain.runner import DevChain
from tests.support.signals import on_published
from tests.sync.test_gap_limit import BATCH_SETTINGS, import_gap_wallets
from tests.sync.test_sync import BACKENDS, chain_settings, check_consistency, figures, new_user, start_container

FEE = 1_000
OUTSIDER = b"\x00\x14" + bytes(range(20))


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_payment_signed_elsewhere_shows_on_the_next_sync(
    gapchain: DevChain, backend: str, database_url: str, tmp_path: Path
) -> None:
    c = await start_container(tmp_path, database_url, **chain_settings(gapchain, backend), **BATCH_SETTINGS)
    try:
        user = await new_user(c)
        deep = (await import_gap_wallets(c, user, gapchain))["deep"]
        before = await figures(c, user, deep)
        assert before == gapchain.expected("deep")
        utxo = next(u for u in await c.sync.utxos(user, deep) if u.height)  # a confirmed coin
        spk = bytes.fromhex(utxo.script_pubkey)
        tx = build_and_sign(
            [Coin(utxo.txid, utxo.vout, utxo.value, spk)],
            [gapchain.state.keys[spk]],
            [TxOut(utxo.value - FEE, OUTSIDER)],
        )
        async with httpx.AsyncClient(base_url=gapchain.esplora_url) as http:
            r = await http.post("/tx", content=tx.raw.hex())
            assert r.status_code == 200, r.text

        job = await c.sync.sync_now(user, deep)
        assert job.status == "SUCCEEDED", job.error
        if backend == "esplora":
            assert c.sync.last_result[deep].fast_path  # same tip: found from the mempool delta
        after = await figures(c, user, deep)
        assert after == {
            **before,
            "unconfirmed": before["unconfirmed"] - utxo.value,
            "txCount": before["txCount"] + 1,
            "utxoCount": before["utxoCount"] - 1,
        }
        txs = {t.txid: t for t in (await c.sync.transactions(user, deep, first=500))[0]}
        out = txs[tx.txid]
        assert (out.direction, out.net_amount, out.sent, out.fee) == ("OUTGOING", -utxo.value, utxo.value, FEE)
        await check_consistency(c, user, deep)
    finally:
        await c.stop()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_block_without_the_wallets_transactions_moves_its_tip(
    gapchain: DevChain, backend: str, database_url: str, tmp_path: Path
) -> None:
    c = await start_container(tmp_path, database_url, **chain_settings(gapchain, backend), **BATCH_SETTINGS)
    try:
        user = await new_user(c)
        edge = (await import_gap_wallets(c, user, gapchain))["edge"]  # the mempool payment is deep's
        before = await figures(c, user, edge)
        events: list[Any] = []

        async def listen(ev: Any) -> None:
            events.append(ev)

        on_published(c.hub, listen)
        await gapchain.mine(1)
        job = await c.sync.sync_now(user, edge)
        assert job.status == "SUCCEEDED", job.error
        st = await c.sync.state(user, edge)
        tip = gapchain.info["tip"]
        assert st.tip_height == tip["height"] and st.tip_hash == tip["hash"]
        # Confirmation counts moved: subscribers are told the new tip height.
        updated = [e.payload for e in events if e.type == "walletUpdated" and e.subject == edge]
        assert {"walletId": edge, "tipHeight": tip["height"]} in updated
        assert await figures(c, user, edge) == before
    finally:
        await c.stop()
