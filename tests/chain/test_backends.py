"""Both backends against the same dev chain: they must agree on every answer sync relies on;
Electrum batching, subscriptions, notifications and reconnection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.bitcoin.addresses import script_from_address
from app.bitcoin.networks import Network
from app.chain.backend import BlockRef, KnownHistory, scripthash_of
from app.chain.electrum import ElectrumBackend
from app.chain.esplora import EsploraBackend
from app.dev.devchain.runner import DevChain
from app.errors import BadInput
from tests.support.signals import until


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[DevChain]:
    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path) as c:
        yield c


def sh_of(address: str) -> str:
    return scripthash_of(script_from_address(address, Network.REGTEST))


async def test_esplora_and_electrum_agree(chain: DevChain) -> None:
    esplora = EsploraBackend(chain.esplora_url, network="regtest")
    electrum = ElectrumBackend(f"tcp://{chain.electrum_host}:{chain.electrum_port}", network="regtest")
    try:
        assert await esplora.tip() == await electrum.tip() == BlockRef(chain.chain.height, chain.chain.tip.hash)
        heights = [1, 50, chain.chain.height]
        h_e, h_x = await esplora.block_headers(heights), await electrum.block_headers(heights)
        assert h_e == h_x and h_e[50].hash == chain.chain.block_at(50).hash
        assert await esplora.block_hashes(heights) == await electrum.block_hashes(heights)

        shs = [sh_of(w["firstAddress"]) for w in chain.info["wallets"]] + ["00" * 32]
        a, b = await esplora.histories(shs), await electrum.histories(shs)
        for sh in shs:
            ha, hb = a[sh], b[sh]
            assert ha is not None and hb is not None
            # Same entries; within one block Esplora cannot tell the order, so compare as sets.
            assert sorted((e.txid, max(e.height, 0)) for e in ha.entries) == sorted(
                (e.txid, max(e.height, 0)) for e in hb.entries
            )
            heights = [e.height for e in hb.entries]
            if all(h > 0 for h in heights) and len(set(heights)) == len(heights):
                assert ha.status == hb.status  # then even the Electrum status hash is the same
        assert a["00" * 32].entries == [] and a["00" * 32].status is None

        # Decoded transactions: Esplora's JSON and Electrum's raw hex give the same thing.
        txids = [e.txid for e in a[shs[0]].entries][:10]
        ta, tb = await esplora.transactions(txids), await electrum.transactions(txids)
        for t in txids:
            assert ta[t].outputs == tb[t].outputs and ta[t].weight == tb[t].weight
            assert [(i.prev_txid, i.prev_vout) for i in ta[t].inputs] == [
                (i.prev_txid, i.prev_vout) for i in tb[t].inputs
            ]
        assert (await esplora.transactions_hex(txids[:2])) == (await electrum.transactions_hex(txids[:2]))

        ua, ub = await esplora.utxos(shs[0]), await electrum.utxos(shs[0])
        assert sorted(ua) == sorted(ub)

        fa, fb = await esplora.fee_estimates(), await electrum.fee_estimates()
        assert fa.by_target and fb.by_target and all(v > 0 for v in fb.by_target.values())

        for backend in (esplora, electrum):
            with pytest.raises(BadInput):
                await backend.broadcast("0200000000")
            assert (await backend.health())["ok"]
    finally:
        await esplora.close()
        await electrum.close()


async def test_electrum_unchanged_statuses_cost_no_round_trip(chain: DevChain) -> None:
    electrum = ElectrumBackend(f"tcp://{chain.electrum_host}:{chain.electrum_port}", network="regtest")
    try:
        shs = [sh_of(w["firstAddress"]) for w in chain.info["wallets"]]
        first = await electrum.histories(shs)
        known = {sh: KnownHistory(h.status) for sh, h in first.items() if h is not None}
        # The first incremental call subscribes (one batched round trip) ...
        before = electrum.round_trips
        assert all(v is None for v in (await electrum.histories(shs, known)).values())
        assert electrum.round_trips - before == 1
        # ... later ones use the statuses kept current by notifications.
        before = electrum.round_trips
        assert all(v is None for v in (await electrum.histories(shs, known)).values())
        assert electrum.round_trips == before
    finally:
        await electrum.close()


async def test_electrum_notifications_and_reconnect(chain: DevChain) -> None:
    electrum = ElectrumBackend(f"tcp://{chain.electrum_host}:{chain.electrum_port}", network="regtest")
    tips: asyncio.Queue[BlockRef] = asyncio.Queue()
    changes: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()

    async def on_tip(ref: BlockRef) -> None:
        await tips.put(ref)

    async def on_sh(sh: str, status: str | None) -> None:
        await changes.put((sh, status))

    try:
        # The current tip is returned, not told to the listener: it hears only later blocks.
        assert (await electrum.subscribe_tip(on_tip)).height == chain.chain.height
        await electrum.tip()  # a round trip: a listener call spawned by the subscription would have run
        assert tips.empty()
        address = chain.info["wallets"][0]["firstAddress"]
        statuses = await electrum.subscribe_scripthashes([sh_of(address)], on_sh)

        await chain.send(address, 10_000)
        sh, status = await asyncio.wait_for(changes.get(), 10)
        assert sh == sh_of(address) and status != statuses[sh]

        # The connection drops: pending and later calls go through a new connection, and the
        # subscriptions are renewed (a block mined afterwards is still notified).
        dropped = electrum._conn
        assert dropped is not None
        dropped.writer.transport.abort()
        await until(lambda: dropped.closed, "the backend noticed the dropped connection")
        assert (await electrum.tip()).height == chain.chain.height
        while not tips.empty():
            tips.get_nowait()
        await chain.mine()
        got = await asyncio.wait_for(tips.get(), 10)
        while got.height != chain.chain.height:
            got = await asyncio.wait_for(tips.get(), 10)
        assert got.hash == chain.chain.tip.hash
    finally:
        await electrum.close()


async def test_electrum_tls_needs_the_pinned_certificate(chain: DevChain) -> None:
    url = f"ssl://{chain.electrum_host}:{chain.electrum_tls_port}"
    pinned = ElectrumBackend(url, network="regtest", tls_cert=chain.tls_cert_pem.decode())
    unpinned = ElectrumBackend(url, network="regtest", retries=0)
    try:
        assert (await pinned.tip()).height == chain.chain.height
        from app.errors import UpstreamUnavailable

        with pytest.raises(UpstreamUnavailable) as err:
            await unpinned.tip()
        assert "TLS" in err.value.message
    finally:
        await pinned.close()
        await unpinned.close()


async def test_fee_estimates_and_broadcast_rejections(chain: DevChain) -> None:
    """Both backends read the same estimates, mempool histogram and relay floor, follow a change
    of the node's estimates, say UPSTREAM_UNAVAILABLE when it has none, and return the node's own
    rejection reason (non-final, missing inputs, already confirmed) as BroadcastRejected."""
    from app.chain.backend import BroadcastRejected
    from app.dev.devchain.builder import Coin, build_and_sign
    from app.dev.devchain.primitives import TxOut
    from app.errors import UpstreamUnavailable

    esplora = EsploraBackend(chain.esplora_url, network="regtest")
    electrum = ElectrumBackend(f"tcp://{chain.electrum_host}:{chain.electrum_port}", network="regtest")
    try:
        fa, fb = await esplora.fee_estimates(), await electrum.fee_estimates()
        for t in (1, 2, 3, 6, 12, 24, 144):
            assert fa.for_target(t) == pytest.approx(fb.for_target(t), abs=1e-3)
        assert fb.min_relay == pytest.approx(1.0) and fa.min_relay is None
        # The scenario's mempool (4 txs) as a histogram, the same on both servers.
        assert fa.histogram == fb.histogram and sum(v for _, v in fa.histogram) > 0
        assert list(fa.histogram) == sorted(fa.histogram, reverse=True)

        await chain.set_fees({1: 40.0, 6: 12.5, 144: 3.0})
        fa, fb = await esplora.fee_estimates(), await electrum.fee_estimates()
        assert fa.by_target == {1: 40.0, 6: 12.5, 144: 3.0}
        assert (fb.for_target(1), fb.for_target(3), fb.for_target(6), fb.for_target(1008)) == (40.0, 40.0, 12.5, 3.0)
        await chain.set_fees({})
        for backend in (esplora, electrum):
            with pytest.raises(UpstreamUnavailable):
                await backend.fee_estimates()
        await chain.set_fees(None)

        st = chain.state
        coin = st.faucet_utxos()[0]
        tip = chain.chain.height
        future = build_and_sign(
            [coin], [st.faucet], [TxOut(coin.value - 1000, st.faucet_spk)], rbf=True, locktime=tip + 5
        )
        for backend in (esplora, electrum):
            with pytest.raises(BroadcastRejected) as err:
                await backend.broadcast(future.raw.hex())
            assert err.value.reason == "non-final" and err.value.code == "BAD_USER_INPUT"
        missing = build_and_sign(
            [Coin("ab" * 32, 0, coin.value, coin.spk)], [st.faucet], [TxOut(coin.value - 1000, st.faucet_spk)]
        )
        with pytest.raises(BroadcastRejected) as err:
            await esplora.broadcast(missing.raw.hex())
        assert (err.value.reason, err.value.rpc_code) == ("bad-txns-inputs-missingorspent", -25)
        with pytest.raises(BroadcastRejected) as err:
            await electrum.broadcast(missing.raw.hex())
        assert err.value.reason == "bad-txns-inputs-missingorspent"
        # Anti-fee-sniping locktime (the tip height) is final for the next block: accepted.
        ok = build_and_sign([coin], [st.faucet], [TxOut(coin.value - 1000, st.faucet_spk)], rbf=True, locktime=tip)
        assert await electrum.broadcast(ok.raw.hex()) == ok.txid
        with pytest.raises(BroadcastRejected) as err:
            await esplora.broadcast(ok.raw.hex())
        assert err.value.reason == "txn-already-in-mempool"
    finally:
        await esplora.close()
        await electrum.close()
