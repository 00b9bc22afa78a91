"""Bitcoin Core backend against the dev chain's emulation of Core's JSON-RPC and ZMQ: the
protocol (auth, envelopes, batches), what a node runner meets (wrong credentials, a wallet
already loaded, -disablewallet, initial block download, warm-up, a full work queue, a pruned
node), rescan progress, fee estimates and broadcast, and push over ZMQ."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.bitcoin.descriptors import parse_descriptors
from app.bitcoin.networks import Network
from app.chain.core import CoreBackend, CoreScanView, CoreWalletView
from app.chain.esplora import EsploraBackend
from app.dev.devchain.builder import build_and_sign
from app.dev.devchain.primitives import TxOut
from app.dev.devchain.runner import DevChain
from app.errors import BadInput, UpstreamUnavailable
from app.events.envelope import Event
from app.services.wallets import ImportWalletInput
from tests.support.signals import on_published
from tests.sync.test_sync import (
    chain_settings,
    figures,
    new_user,
    start_container,
    wait_synced,
)


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[DevChain]:
    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path) as c:
        yield c


def backend(chain: DevChain, **kw: Any) -> CoreBackend:
    kw.setdefault("cookie_file", chain.core_cookie_file)
    return CoreBackend(chain.core_rpc_url, network="regtest", retries=kw.pop("retries", 1), **kw)


def descriptors(chain: DevChain, n: int = 0) -> tuple[str, str]:
    d = parse_descriptors(chain.info["wallets"][n]["descriptor"], Network.REGTEST)
    return d.receive_descriptor, d.change_descriptor


def basic(token: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(token.encode()).decode()}


# -- the protocol --------------------------------------------------------------------------------


async def test_envelopes_auth_and_batches(chain: DevChain) -> None:
    assert chain.core is not None
    url, cookie = chain.core_rpc_url, chain.core.cookie
    async with httpx.AsyncClient() as http:
        # No or wrong credentials: 401 with an empty body, as bitcoind.
        r = await http.post(url, json={"method": "getblockcount", "params": [], "id": 1})
        assert r.status_code == 401 and r.content == b"" and "Basic" in r.headers["www-authenticate"]
        r = await http.post(url, json={"method": "getblockcount"}, headers=basic("__cookie__:wrong"))
        assert r.status_code == 401
        # JSON-RPC 1.0 ("legacy"): result and error both present; errors are HTTP 500 (404 for
        # an unknown method).
        r = await http.post(url, json={"method": "getblockcount", "params": [], "id": 1}, headers=basic(cookie))
        assert r.status_code == 200 and r.json() == {"result": chain.chain.height, "error": None, "id": 1}
        r = await http.post(url, json={"method": "getblockhash", "params": [10**6], "id": 2}, headers=basic(cookie))
        assert r.status_code == 500
        assert r.json() == {"result": None, "error": {"code": -8, "message": "Block height out of range"}, "id": 2}
        r = await http.post(url, json={"method": "nosuchmethod", "params": [], "id": 3}, headers=basic(cookie))
        assert r.status_code == 404 and r.json()["error"]["code"] == -32601
        # JSON-RPC 2.0: HTTP 200, no result member next to an error.
        r = await http.post(
            url, json={"jsonrpc": "2.0", "method": "getblockhash", "params": [10**6], "id": 4}, headers=basic(cookie)
        )
        assert r.status_code == 200 and "result" not in r.json() and r.json()["error"]["code"] == -8
        # A batch answers each call in its own envelope.
        r = await http.post(
            url,
            json=[
                {"jsonrpc": "2.0", "method": "getbestblockhash", "params": [], "id": 5},
                {"method": "getblockhash", "params": [-1], "id": 6},
            ],
            headers=basic(cookie),
        )
        assert r.status_code == 200
        a, b = r.json()
        assert a == {"jsonrpc": "2.0", "result": chain.chain.tip.hash, "id": 5}
        assert b["result"] is None and b["error"]["code"] == -8
        # A wallet endpoint that does not exist.
        r = await http.post(
            url + "/wallet/nobody", json={"method": "getwalletinfo", "params": [], "id": 7}, headers=basic(cookie)
        )
        assert r.json()["error"] == {"code": -18, "message": "Requested wallet does not exist or is not loaded"}


async def test_the_backend_answers_like_esplora(chain: DevChain) -> None:
    core, esplora = backend(chain), EsploraBackend(chain.esplora_url, network="regtest")
    try:
        assert await core.tip() == await esplora.tip()
        heights = [1, 50, chain.chain.height]
        assert await core.block_headers(heights) == await esplora.block_headers(heights)
        view = await core.bind("w1", descriptors(chain))
        assert isinstance(view, CoreWalletView)
        from app.bitcoin.derive import ScriptPubKeyDeriver
        from app.bitcoin.descriptors import Chain
        from app.chain.backend import scripthash_of

        wd = parse_descriptors(chain.info["wallets"][0]["descriptor"], Network.REGTEST)
        shs = [scripthash_of(s) for c in Chain for s in ScriptPubKeyDeriver(wd, c).script_pubkeys(0, 40)]
        a, b = await view.histories(shs), await esplora.histories(shs)
        for sh in shs:
            ha, hb = a[sh], b[sh]
            assert ha is not None and hb is not None
            assert sorted((e.txid, e.height) for e in ha.entries) == sorted((e.txid, e.height) for e in hb.entries)
            for txid, tx in ha.txs.items():  # fees: from the wallet's parents or getblock verbosity 2
                assert tx.fee == chain.chain.txs[txid].fee, txid
        # A second view with the statuses it saw: nothing changed, nothing answered.
        from app.chain.backend import KnownHistory

        known = {sh: KnownHistory(h.status) for sh, h in a.items() if h}
        again = await (await core.bind("w1", descriptors(chain))).histories(shs, known)
        assert all(v is None for v in again.values())
        est = await core.fee_estimates()
        assert est.for_target(2) == 13.5 and est.for_target(6) == pytest.approx(5.167)
        assert est.min_relay == 1.0
        chain.chain.set_fee_estimates({})  # a node that has not seen enough blocks
        with pytest.raises(UpstreamUnavailable, match="no fee estimates yet"):
            await core.fee_estimates()
    finally:
        await core.close()
        await esplora.close()


async def test_broadcast_tests_first_and_returns_the_reject_reason(chain: DevChain) -> None:
    core = backend(chain)
    st = chain.state
    try:
        confirmed = next(
            t for t in chain.chain.txs.values() if not t.is_coinbase and t.txid in chain.chain.confirmed_at
        )
        with pytest.raises(BadInput, match="Transaction already in block chain") as err:
            await core.broadcast(confirmed.raw.hex())
        assert err.value.field == "tx" and err.value.rpc_code == -26  # type: ignore[attr-defined]
        with pytest.raises(BadInput, match="TX decode failed"):
            await core.broadcast("00")
        coin = max(st.faucet_utxos(), key=lambda c: c.value)
        cheap = build_and_sign([coin], [st.faucet], [TxOut(coin.value, st.faucet_spk)])  # no fee at all
        with pytest.raises(BadInput, match="min relay fee not met") as err:
            await core.broadcast(cheap.raw.hex())
        assert err.value.hint and "fee" in err.value.hint
        assert cheap.txid not in chain.chain.mempool  # refused by testmempoolaccept: nothing sent
        good = build_and_sign([coin], [st.faucet], [TxOut(coin.value - 1000, st.faucet_spk)])
        assert await core.broadcast(good.raw.hex()) == good.txid
        assert good.txid in chain.chain.mempool
    finally:
        await core.close()


# -- what a node runner meets --------------------------------------------------------------------


async def test_wrong_credentials_name_the_settings(chain: DevChain, tmp_path: Path) -> None:
    core = backend(chain, cookie_file=None, user="alice", password="wrong")
    with pytest.raises(UpstreamUnavailable, match="refused the RPC credentials") as err:
        await core.tip()
    assert err.value.hint and "MBF_CORE_RPC_COOKIE_FILE" in err.value.hint
    await core.close()
    missing = backend(chain, cookie_file=tmp_path / "nope" / ".cookie")
    with pytest.raises(UpstreamUnavailable, match="Cannot read Bitcoin Core's cookie file"):
        await missing.tip()
    await missing.close()
    # rpcauth credentials work; a restarted node writes a new cookie, which is re-read once.
    assert chain.core is not None and chain.core_cookie_file is not None
    chain.core.user, chain.core.password = "alice", "s3cret"
    ok = backend(chain, cookie_file=None, user="alice", password="s3cret")
    cookie = backend(chain)
    try:
        assert (await ok.tip()).height == chain.chain.height
        await cookie.tip()
        chain.core.cookie = "__cookie__:" + "ab" * 32
        chain.core_cookie_file.write_text(chain.core.cookie)
        assert (await cookie.tip()).height == chain.chain.height
    finally:
        await ok.close()
        await cookie.close()


async def test_wallet_already_loaded_or_holding_keys(chain: DevChain) -> None:
    assert chain.core is not None
    core = backend(chain)
    try:
        # Someone created and loaded the wallet already (e.g. a second instance): it is used.
        await core.rpc.call("createwallet", "mbf-w1", True, True, "", False, True, True)
        view = await core.bind("w1", descriptors(chain))
        assert isinstance(view, CoreWalletView)
        await view.histories(["00" * 32])
        assert len(view.cache.txs) == chain.info["wallets"][0]["expected"]["txCount"]
        # loadwallet of a loaded wallet is Core's -35, handled as "use it".
        other = backend(chain)
        assert isinstance(await other.bind("w1", descriptors(chain)), CoreWalletView)
        await other.close()
        # Unloaded behind our back (bitcoin-cli unloadwallet): a clear failure, then loaded again.
        await core.rpc.call("unloadwallet", "mbf-w1")
        stale = await core.bind("w1", descriptors(chain))
        with pytest.raises(UpstreamUnavailable, match="no longer loaded"):
            await stale.histories(["00" * 32])
        assert isinstance(await core.bind("w1", descriptors(chain)), CoreWalletView)
        assert "mbf-w1" in await core.rpc.call("listwallets")
        # A wallet of that name with private keys is not ours to touch.
        await core.rpc.call("createwallet", "mbf-w2", False, False, "", False, True, True)
        with pytest.raises(BadInput, match="holds private keys") as err:
            await core.bind("w2", descriptors(chain, 1))
        assert err.value.hint and "MBF_CORE_WALLET_PREFIX" in err.value.hint
    finally:
        await core.close()


async def test_node_modes_are_clear_errors(chain: DevChain) -> None:
    assert chain.core is not None
    node = chain.core
    core = backend(chain)
    try:
        node.initial_block_download = True
        with pytest.raises(UpstreamUnavailable, match="initial block download") as err:
            await core.tip()
        assert err.value.hint and "resume" in err.value.hint
        node.initial_block_download = False

        node.warmup = "Loading block index…"
        with pytest.raises(UpstreamUnavailable, match="still starting: Loading block index"):
            await core.tip()
        node.warmup = None

        node.workqueue_full = 1  # one 503, then served: retried
        assert (await core.tip()).height == chain.chain.height
        node.workqueue_full = 100
        with pytest.raises(UpstreamUnavailable, match="work queue is full") as err:
            await core.tip()
        assert err.value.hint and "rpcworkqueue" in err.value.hint
        node.workqueue_full = 0

        other = CoreBackend(chain.core_rpc_url, network="mainnet", cookie_file=chain.core_cookie_file, retries=0)
        with pytest.raises(UpstreamUnavailable, match="runs on 'regtest', not mainnet"):
            await other.tip()
        await other.close()

        node.prune_height = 50
        with pytest.raises(BadInput, match="pruned below height 50") as perr:
            await core.bind("w1", descriptors(chain))
        assert perr.value.field == "birthday" and perr.value.hint and "block 50" in perr.value.hint
        # MBF_CORE_RESCAN_SINCE after the pruned blocks: imported, rescanned from that date only.
        from datetime import UTC, datetime, timedelta

        block50 = datetime.fromtimestamp(chain.chain.block_at(50).time, UTC)
        core.rescan_since = datetime.combine(block50.date() + timedelta(days=1), datetime.min.time(), UTC)
        view = await core.bind("w1", descriptors(chain))
        assert isinstance(view, CoreWalletView)
        await view.histories(["00" * 32])
        assert all((w.tx.block_time or 0) >= core.rescan_since.timestamp() - 7200 for w in view.cache.txs.values())
    finally:
        await core.close()


async def test_disablewallet_node_falls_back_to_the_utxo_set(
    chain: DevChain, database_url: str, tmp_path: Path
) -> None:
    """-disablewallet: balances and UTXOs from scantxoutset (confirmed outputs only)."""
    assert chain.core is not None
    chain.core.disablewallet = True
    c = await start_container(tmp_path, database_url, **chain_settings(chain, "core"))
    try:
        user = await new_user(c)
        ids = {}
        for w in chain.info["wallets"][:2]:
            view = await c.wallets.import_wallet(
                user, ImportWalletInput(name=w["name"], source=w["descriptor"], network=Network.REGTEST)
            )
            ids[w["name"]] = view.id
        for w in chain.info["wallets"][:2]:
            st = await wait_synced(c, user, ids[w["name"]])
            assert st.status == "SYNCED", st.last_error
            got = await figures(c, user, ids[w["name"]])
            assert got["confirmed"] == w["expected"]["confirmed"], w["name"]
            utxos = await c.sync.utxos(user, ids[w["name"]])
            assert sum(u.value for u in utxos) == w["expected"]["confirmed"]
        view = await (await c.chain.get("regtest")).bind("x", descriptors(chain))  # type: ignore[attr-defined]
        assert isinstance(view, CoreScanView)
    finally:
        await c.stop()


async def test_rescan_progress_and_errors_reach_the_wallet(chain: DevChain, database_url: str, tmp_path: Path) -> None:
    assert chain.core is not None
    chain.core.rescan_step_s = 0.15  # a rescan of ten steps that takes 1.5 s
    c = await start_container(tmp_path, database_url, **chain_settings(chain, "core"))
    events: list[Event] = []

    async def listen(e: Event) -> None:
        events.append(e)

    on_published(c.hub, listen)
    try:
        user = await new_user(c)
        w = chain.info["wallets"][0]
        wallet_id = (
            await c.wallets.import_wallet(
                user, ImportWalletInput(name=w["name"], source=w["descriptor"], network=Network.REGTEST)
            )
        ).id
        st = await wait_synced(c, user, wallet_id)
        assert st.status == "SYNCED", st.last_error
        fractions = [e.payload["rescanProgress"] for e in events if e.payload.get("phase") == "rescanning"]
        assert fractions and all(0 <= f <= 1 for f in fractions) and fractions == sorted(fractions)
        assert await figures(c, user, wallet_id) == w["expected"]

        chain.core.initial_block_download = True
        job = await c.sync.sync_now(user, wallet_id)
        assert job.status == "FAILED" and job.error and "initial block download" in job.error
        assert "resume" in job.error  # the hint travels with the message
        chain.core.initial_block_download = False
        assert (await c.sync.sync_now(user, wallet_id)).status == "SUCCEEDED"
    finally:
        await c.stop()


async def test_a_wallet_birthday_is_where_core_rescans_from(chain: DevChain, database_url: str, tmp_path: Path) -> None:
    """importdescriptors gets the birthday's timestamp (UTC midnight) instead of 0 (the first block)."""
    assert chain.core is not None
    c = await start_container(tmp_path, database_url, **chain_settings(chain, "core"))
    try:
        user = await new_user(c)
        born = date(2009, 1, 3)  # before every devchain block: the rescan still finds everything
        ids = []
        for n, birthday in ((0, born), (1, None)):
            w = chain.info["wallets"][n]
            inp = ImportWalletInput(name=w["name"], source=w["descriptor"], network=Network.REGTEST, birthday=birthday)
            ids.append((await c.wallets.import_wallet(user, inp)).id)
            st = await wait_synced(c, user, ids[-1])
            assert st.status == "SYNCED", st.last_error
            assert await figures(c, user, ids[-1]) == w["expected"]
        stamps = {
            wallet_id: {d.timestamp for d in chain.core.wallets[f"mbf-{wallet_id}"].descs} for wallet_id in ids
        }
        assert stamps == {ids[0]: {int(datetime(2009, 1, 3, tzinfo=UTC).timestamp())}, ids[1]: {0}}
    finally:
        await c.stop()


# -- push ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("push", ["zmq", "poll"])
async def test_a_payment_reaches_the_live_stream(chain: DevChain, push: str, database_url: str, tmp_path: Path) -> None:
    """With ZMQ a payment is a transactionReceived event within 2 s (rawtx -> resync); without
    ZMQ, getbestblockhash/txcount polling finds it."""
    settings = chain_settings(chain, "core")
    if push == "poll":
        settings.update(core_zmq_hashblock=None, core_zmq_rawtx=None, core_poll_s=0.2)
    c = await start_container(tmp_path, database_url, **settings)
    received: asyncio.Queue[Event] = asyncio.Queue()
    w = chain.info["wallets"][1]

    async def listen(e: Event) -> None:
        if e.type in ("transactionReceived", "walletUpdated") and e.payload.get("walletId") == wallet_id:
            await received.put(e)

    wallet_id = ""  # the hub carries every service's events: none matches before the import
    on_published(c.hub, listen)
    try:
        user = await new_user(c)
        wallet_id = (
            await c.wallets.import_wallet(
                user, ImportWalletInput(name=w["name"], source=w["descriptor"], network=Network.REGTEST)
            )
        ).id
        assert (await wait_synced(c, user, wallet_id)).status == "SYNCED"
        # the first sync subscribed the wallet; its own events are drained
        while not received.empty():
            received.get_nowait()
        addr = await c.wallets.next_receive_address(user, wallet_id)
        txid = await chain.send(addr.address, 70_000)

        async def payment() -> Event:
            while True:
                e = await received.get()
                if e.type == "transactionReceived" and e.payload["txid"] == txid:
                    return e

        event = await asyncio.wait_for(payment(), 2.0 if push == "zmq" else 10.0)
        assert event.payload["netAmount"] == 70_000 and event.payload["blockHeight"] is None

        # A new block: the tip moves and the payment confirms, pushed as well.
        await chain.mine(1)

        async def confirmed() -> Event:
            while True:
                e = await received.get()
                if e.type == "walletUpdated" and e.payload.get("tipHeight") == chain.chain.height:
                    return e

        await asyncio.wait_for(confirmed(), 2.0 if push == "zmq" else 10.0)
        assert await figures(c, user, wallet_id) == chain.expected(w["name"])
    finally:
        await c.stop()


async def test_a_zmq_gap_resyncs_the_watched_wallets(chain: DevChain, database_url: str, tmp_path: Path) -> None:
    """ZMQ drops messages for a slow subscriber; the sequence number shows the gap, and every
    watched wallet is resynced, so a payment whose rawtx was lost still arrives."""
    from app.dev.devchain.primitives import spk_address

    c = await start_container(tmp_path, database_url, **chain_settings(chain, "core"))
    received: asyncio.Queue[Event] = asyncio.Queue()
    w = chain.info["wallets"][0]

    async def listen(e: Event) -> None:
        if e.type == "transactionReceived" and e.payload.get("walletId") == wallet_id:
            await received.put(e)

    wallet_id = ""  # the hub carries every service's events: none matches before the import
    on_published(c.hub, listen)
    try:
        user = await new_user(c)
        wallet_id = (
            await c.wallets.import_wallet(
                user, ImportWalletInput(name=w["name"], source=w["descriptor"], network=Network.REGTEST)
            )
        ).id
        assert (await wait_synced(c, user, wallet_id)).status == "SYNCED"
        while not received.empty():
            received.get_nowait()
        pub = chain._zmq
        assert pub is not None
        core = await c.chain.get("regtest")
        faucet = spk_address(chain.state.faucet_spk) or ""
        await chain.send(faucet, 20_000)  # a first rawtx: the subscriber's sequence baseline
        deadline = asyncio.get_running_loop().time() + 5
        while not (core.zmq_feed and core.zmq_feed._seq.get(b"rawtx") == pub.seq[b"rawtx"] - 1):  # type: ignore[attr-defined]
            assert asyncio.get_running_loop().time() < deadline, "the first rawtx never arrived"
            await asyncio.sleep(0.02)
        chain.chain.listeners.remove(pub._on_event)  # this payment's rawtx is lost...
        addr = await c.wallets.next_receive_address(user, wallet_id)
        lost = await chain.send(addr.address, 80_000)
        pub._mempool = set(chain.chain.mempool)
        pub.seq[b"rawtx"] += 1  # ...but it used its sequence number
        chain.chain.listeners.append(pub._on_event)
        await chain.send(faucet, 20_000)  # not ours: its sequence number shows the gap

        async def payment() -> Event:
            while True:
                e = await received.get()
                if e.payload["txid"] == lost:
                    return e

        await asyncio.wait_for(payment(), 5.0)
        assert core.zmq_feed.gaps == 1  # type: ignore[attr-defined]
    finally:
        await c.stop()
