"""Independent clients: BDK's Esplora and Electrum clients sync scenario wallets from the dev chain
and see the balances and transaction counts the dev chain printed."""

from __future__ import annotations

import asyncio
import hashlib
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


def _sync(chain: ThreadedDevChain, wallet: Any, kind: str) -> dict[str, int]:
    req = wallet.start_full_scan().build()
    if kind == "esplora":
        update = bdk.EsploraClient(chain.esplora_url).full_scan(req, 20, 4)
    else:
        update = bdk.ElectrumClient(f"tcp://{chain.electrum_host}:{chain.electrum_port}").full_scan(req, 20, 10, True)
    wallet.apply_update(update)
    return _figures(wallet)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["esplora", "electrum"])
async def test_bdk_follows_reorg(tmp_path: Any, kind: str) -> None:
    from app.dev.devchain.runner import start_in_thread

    with start_in_thread(scenario="reorg", seed=1, data_dir=tmp_path) as chain:
        wallets = {w["name"]: (w, _wallet(w)) for w in chain.info["wallets"]}
        for w, wallet in wallets.values():
            got = await asyncio.to_thread(_sync, chain, wallet, kind)
            assert {k: got[k] for k in _expected(w)} == _expected(w)
        result = await chain.reorg(3)
        assert result["dropped"]
        info = chain.info
        status = {t: chain.state.chain.status(t) for t in chain.state.chain.txs}
        for w in info["wallets"]:
            _old, wallet = wallets[w["name"]]
            await asyncio.to_thread(_sync, chain, wallet, kind)
            # the incremental wallet follows the new chain: tip and confirmation heights
            tip = wallet.latest_checkpoint()
            assert tip.height == info["tip"]["height"] and str(tip.hash) == info["tip"]["hash"]
            for ctx in wallet.transactions():
                txid = str(ctx.transaction.compute_txid())
                pos = ctx.chain_position
                if txid in result["dropped"]:
                    # the double spend never touches the wallet, so BDK cannot see the conflict:
                    # it keeps the dropped tx as unconfirmed, as it would against a real Esplora
                    assert pos.is_unconfirmed()
                elif status[txid].confirmed:
                    assert pos.is_confirmed()
                    assert pos.confirmation_block_time.block_id.height == status[txid].height
                else:
                    assert pos.is_unconfirmed()
            # a fresh wallet sees exactly the expected figures
            got = await asyncio.to_thread(_sync, chain, _wallet(w), kind)
            assert {k: got[k] for k in _expected(w)} == _expected(w), w["name"]


@pytest.mark.slow
async def test_bdk_over_electrum_tls(devchain_small: ThreadedDevChain) -> None:
    w = devchain_small.info["wallets"][4]  # the 2-of-3 multisig

    def run() -> dict[str, int]:
        wallet = _wallet(w)
        client = bdk.ElectrumClient(
            f"ssl://{devchain_small.electrum_host}:{devchain_small.electrum_tls_port}", validate_domain=False
        )
        wallet.apply_update(client.full_scan(wallet.start_full_scan().build(), 20, 10, True))
        return _figures(wallet)

    got = await asyncio.to_thread(run)
    exp = _expected(w)
    assert {k: got[k] for k in exp} == exp


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["esplora", "electrum"])
async def test_bdk_sees_replacement(tmp_path: Any, kind: str) -> None:
    from app.dev.devchain.runner import start_in_thread

    with start_in_thread(scenario="rbf", seed=1, data_dir=tmp_path) as chain:
        alice_info = chain.info["wallets"][0]
        alice = _wallet(alice_info)
        await asyncio.to_thread(_sync, chain, alice, kind)
        old = chain.info["scenarioMeta"]["replaceable"]
        new = await chain.replace()
        # BDK orders conflicting unconfirmed txs by "last seen" with 1-second resolution
        await asyncio.sleep(1.1)
        await asyncio.to_thread(_sync, chain, alice, kind)
        txids = {str(c.transaction.compute_txid()) for c in alice.transactions()}
        assert new in txids and old not in txids
        exp = _expected(next(w for w in chain.info["wallets"] if w["name"] == "alice"))
        got = _figures(alice)
        assert {k: got[k] for k in exp} == exp
        await chain.mine()
        await asyncio.to_thread(_sync, chain, alice, kind)
        assert alice.balance().untrusted_pending.to_sat() + alice.balance().trusted_pending.to_sat() == 0


@pytest.mark.slow
async def test_bdk_signed_transactions_are_accepted(devchain: Any, electrum_client: Any) -> None:
    """Another implementation's signatures (all five script types) pass the dev chain's validation,
    through POST /tx and blockchain.transaction.broadcast."""
    dest = bdk.Address("bcrt1qq6hag67dl53wl99vzg42z8eyzfz2xlkvwk6f7m", bdk.Network.REGTEST)

    def sign_and_broadcast(w: Any, via: str) -> str:
        net = bdk.NetworkKind.TEST
        wallet = bdk.Wallet(
            bdk.Descriptor(w.private_descriptor(0), net),
            bdk.Descriptor(w.private_descriptor(1), net),
            bdk.Network.REGTEST,
            bdk.Persister.new_in_memory(),
        )
        esplora = bdk.EsploraClient(devchain.esplora_url)
        wallet.apply_update(esplora.full_scan(wallet.start_full_scan().build(), 20, 4))
        psbt = (
            bdk.TxBuilder()
            .add_recipient(dest.script_pubkey(), bdk.Amount.from_sat(100_000))
            .fee_rate(bdk.FeeRate.from_sat_per_vb(3))
            .finish(wallet)
        )
        assert wallet.sign(psbt)
        tx = psbt.extract_tx()
        if via == "esplora":
            esplora.broadcast(tx)
        else:
            bdk.ElectrumClient(f"tcp://{devchain.electrum_host}:{devchain.electrum_port}").transaction_broadcast(tx)
        return str(tx.compute_txid())

    for n, w in enumerate(devchain.state.wallets):
        txid = await asyncio.to_thread(sign_and_broadcast, w, "esplora" if n % 2 == 0 else "electrum")
        assert txid in devchain.state.chain.mempool
    client = await electrum_client(devchain)
    dest_sh = hashlib.sha256(bytes(dest.script_pubkey().to_bytes())).digest()[::-1].hex()
    hist = await client.request("blockchain.scripthash.get_history", dest_sh)
    assert len(hist) == len(devchain.state.wallets)
    await devchain.mine()
    hist = await client.request("blockchain.scripthash.get_history", dest_sh)
    assert {h["height"] for h in hist} == {devchain.state.chain.height}


@pytest.mark.slow
async def test_bdk_electrum_client_calls(devchain_small: ThreadedDevChain) -> None:
    def run() -> dict[str, Any]:
        c = bdk.ElectrumClient(f"tcp://{devchain_small.electrum_host}:{devchain_small.electrum_port}")
        c.ping()
        sub = c.block_headers_subscribe()
        return {
            "features": c.server_features(),
            "fee": c.estimate_fee(2),
            "relay": c.relay_fee(),
            "height": sub.height,
            "header_prev": str(c.block_header(sub.height).prev_blockhash),
            "header_merkle": str(c.block_header(sub.height).merkle_root),
        }

    got = await asyncio.to_thread(run)
    info = devchain_small.info
    assert got["height"] == info["tip"]["height"]
    tip = devchain_small.state.chain.tip
    assert (got["header_prev"], got["header_merkle"]) == (tip.header.prev_hash, tip.header.merkle_root)
    assert got["fee"] > 0 and got["relay"] > 0
    assert str(got["features"].genesis_hash) == info["genesisHash"]
