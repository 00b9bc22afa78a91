"""Wallets of every new descriptor kind (issue #14) sync against the dev chain over Esplora and
Electrum with the balances and transaction counts of what the dev chain's faucet paid them, and BDK
(bdkpython), syncing the same descriptors from the same servers, agrees.

The wallets are a miniscript timelock (``wsh(or_d(pk,and_v(v:pkh,older)))``), a taproot script-path
wallet (``tr(K,{pk(A),pk(B)})``), a single-chain wallet (``wpkh(tpub/1/2/*)``, no change chain), a
20-key ``wsh(sortedmulti)`` and an ``addr()`` wallet; keys are regtest test keys. The faucet pays
their addresses (receive and change keychains) through the dev chain's ``send``; one payment stays
in the mempool."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest
from embit.bip32 import HDKey
from embit.networks import NETWORKS

from app.bitcoin.descriptors import Chain
from app.bitcoin.networks import Network
from app.dev.devchain.runner import DevChain
from app.services.wallets import ImportWalletInput
from tests.devchain.conftest import devchain  # noqa: F401  (fixture)
from tests.sync.test_sync import BACKENDS, chain_settings, new_user, start_container, wait_synced

REG = NETWORKS["regtest"]


def tpub(n: int) -> str:
    root = HDKey.from_seed(hashlib.sha256(f"issue14/{n}".encode()).digest(), version=REG["xprv"])
    return str(root.derive("m/48h/1h/0h/2h").to_public().to_base58(version=REG["xpub"]))


K = [tpub(i) for i in range(24)]
WALLETS: dict[str, str] = {
    "timelock": f"wsh(or_d(pk({K[0]}/<0;1>/*),and_v(v:pkh({K[1]}/<0;1>/*),older(52560))))",
    "taptree": f"tr({K[2]}/<0;1>/*,{{pk({K[3]}/<0;1>/*),pk({K[0]}/7/<0;1>/*)}})",
    "singlechain": f"wpkh({K[3]}/1/2/*)",
    "multi20": f"wsh(sortedmulti(2,{','.join(k + '/<0;1>/*' for k in K[4:24])}))",
}
ADDR = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
# (wallet, keychain, index, sats); the last payment is left unconfirmed
PAYMENTS = [
    ("timelock", 0, 0, 150_000),
    ("timelock", 0, 3, 25_000),
    ("timelock", 1, 0, 40_000),
    ("taptree", 0, 0, 70_000),
    ("taptree", 1, 2, 11_000),
    ("singlechain", 0, 0, 64_000),
    ("singlechain", 0, 6, 32_000),
    ("multi20", 0, 1, 500_000),
    ("multi20", 1, 0, 21_000),
    ("addr", 0, 0, 33_000),
    ("timelock", 0, 1, 9_000),
]


async def _address(c: Any, user: str, wid: str, keychain: int, index: int) -> str:
    page = await c.wallets.addresses(user, wid, first=500)
    return next(a.address for a in page.items if a.keychain == keychain and a.index == index)


def _bdk_figures(descriptors: list[str], url: str, backend: str) -> dict[str, int]:
    bdk = pytest.importorskip("bdkpython")
    kind = bdk.NetworkKind.TEST
    persister = bdk.Persister.new_in_memory()
    if len(descriptors) == 2:
        wallet = bdk.Wallet(
            bdk.Descriptor(descriptors[0], kind), bdk.Descriptor(descriptors[1], kind), bdk.Network.REGTEST, persister
        )
    else:
        wallet = bdk.Wallet.create_single(bdk.Descriptor(descriptors[0], kind), bdk.Network.REGTEST, persister)
    request = wallet.start_full_scan().build()
    if backend == "esplora":
        update = bdk.EsploraClient(url).full_scan(request, 20, 4)
    else:
        update = bdk.ElectrumClient(url).full_scan(request, 20, 10, True)
    wallet.apply_update(update)
    bal = wallet.balance()
    return {"total": bal.total.to_sat(), "confirmed": bal.confirmed.to_sat(), "txCount": len(wallet.transactions())}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_new_descriptor_kinds_sync_with_the_expected_balances_and_bdk_agrees(
    devchain: DevChain,  # noqa: F811
    tmp_path: Path,
    database_url: str,
    backend: str,
) -> None:
    c = await start_container(tmp_path, database_url, **chain_settings(devchain, backend))
    try:
        user = await new_user(c)
        ids: dict[str, str] = {}
        for name, desc in [*WALLETS.items(), ("addr", f"addr({ADDR})")]:
            view = await c.wallets.import_wallet(
                user, ImportWalletInput(name=name, source=desc, network=Network.REGTEST, gap_limit=10)
            )
            ids[name] = view.id
            await wait_synced(c, user, view.id)
        expected = {name: {"confirmed": 0, "unconfirmed": 0, "txCount": 0} for name in ids}
        for n, (name, keychain, index, sats) in enumerate(PAYMENTS):
            await devchain.send(await _address(c, user, ids[name], keychain, index), sats)
            last = n == len(PAYMENTS) - 1
            expected[name]["unconfirmed" if last else "confirmed"] += sats
            expected[name]["txCount"] += 1
            if n == len(PAYMENTS) - 2:
                await devchain.mine(1)
        got = {}
        for name, wid in ids.items():
            await c.sync.sync_now(user, wid)
            st = await wait_synced(c, user, wid)
            assert st.status == "SYNCED", (name, st.last_error)
            txs, _ = await c.sync.transactions(user, wid, first=1000)
            got[name] = {"confirmed": st.confirmed, "unconfirmed": st.unconfirmed, "txCount": len(txs)}
        assert got == expected
        # a portfolio of them all adds up (portfolios and reports read the same ledger)
        portfolio = await c.portfolios.create(user, "all kinds", list(ids.values()))
        bal = await c.portfolios.balance(user, portfolio.id)
        assert (bal.confirmed, bal.unconfirmed) == (
            sum(e["confirmed"] for e in expected.values()),
            sum(e["unconfirmed"] for e in expected.values()),
        )
        # the single-chain wallet has no change chain; the 20-key multisig's addresses are P2WSH
        single = await c.wallets.get_wallet(user, ids["singlechain"])
        assert single.change_descriptor is None and len(single.keychains) == 1
        page = await c.wallets.addresses(user, ids["multi20"], chain=Chain.CHANGE, first=1)
        assert page.items[0].address.startswith("bcrt1q") and len(page.items[0].address) == 64

        # BDK syncs the same descriptors from the same server
        url = (
            devchain.esplora_url if backend == "esplora" else f"tcp://{devchain.electrum_host}:{devchain.electrum_port}"
        )
        for name in WALLETS:
            view = await c.wallets.get_wallet(user, ids[name])
            descs = [k.descriptor for k in view.keychains]
            bdk_figures = await asyncio.to_thread(_bdk_figures, descs, url, backend)
            e = expected[name]
            assert bdk_figures == {
                "total": e["confirmed"] + e["unconfirmed"],
                "confirmed": e["confirmed"],
                "txCount": e["txCount"],
            }, name
    finally:
        await c.stop()
