"""Independent clients: BDK's Esplora and Electrum clients sync scenario wallets from the dev chain
and see the balances and transaction counts the dev chain printed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.dev.devchain.runner import ThreadedDevChain

bdk = pytest.importorskip("bdkpython")


def _wallet(w: dict[str, Any]) -> Any:
    net = bdk.Network.REGTEST
    return bdk.Wallet(
        bdk.Descriptor(w["descriptors"]["receive"], bdk.NetworkKind.TEST),
        bdk.Descriptor(w["descriptors"]["change"], bdk.NetworkKind.TEST),
        net,
        bdk.Persister.new_in_memory(),
    )


def _figures(wallet: Any) -> dict[str, int]:
    bal = wallet.balance()
    return {
        "total": bal.total.to_sat(),
        "confirmed": bal.confirmed.to_sat(),
        "txCount": len(wallet.transactions()),
        "utxoCount": len(wallet.list_unspent()),
    }


def _expected(w: dict[str, Any]) -> dict[str, int]:
    e = w["expected"]
    return {
        "total": e["confirmed"] + e["unconfirmed"],
        "txCount": e["txCount"],
        "utxoCount": e["utxoCount"],
    }


def _sync_esplora(url: str, w: dict[str, Any]) -> dict[str, int]:
    wallet = _wallet(w)
    client = bdk.EsploraClient(url)
    update = client.full_scan(wallet.start_full_scan().build(), 20, 4)
    wallet.apply_update(update)
    return _figures(wallet)


def _sync_electrum(url: str, w: dict[str, Any]) -> dict[str, int]:
    wallet = _wallet(w)
    client = bdk.ElectrumClient(url)
    update = client.full_scan(wallet.start_full_scan().build(), 20, 10, True)
    wallet.apply_update(update)
    return _figures(wallet)


@pytest.mark.slow
async def test_bdk_esplora_full_scan_matches_expected(devchain_small: ThreadedDevChain) -> None:
    for w in devchain_small.info["wallets"]:
        got = await asyncio.to_thread(_sync_esplora, devchain_small.esplora_url, w)
        exp = _expected(w)
        assert {k: got[k] for k in exp} == exp, w["name"]


@pytest.mark.slow
async def test_bdk_electrum_full_scan_matches_expected(devchain_small: ThreadedDevChain) -> None:
    url = f"tcp://{devchain_small.electrum_host}:{devchain_small.electrum_port}"
    for w in devchain_small.info["wallets"]:
        got = await asyncio.to_thread(_sync_electrum, url, w)
        exp = _expected(w)
        assert {k: got[k] for k in exp} == exp, w["name"]
