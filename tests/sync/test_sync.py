"""Wallet sync against the dev chain over Esplora, Electrum (TCP and TLS) and Bitcoin Core, on SQLite and
PostgreSQL: balances, transaction lists, UTXOs and directions equal the scenario's expected
figures, including after new payments, blocks, a reorg and an RBF replacement."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.bitcoin.networks import Network
from app.container import Container
from app.dev.devchain.runner import DevChain
from app.services.wallets import ImportWalletInput
from app.store.models.chain import TX_CONFIRMED, TX_MEMPOOL, TX_REPLACED
from tests.conftest import make_settings
from tests.support.signals import on_published, until

BACKENDS = ["esplora", "electrum", "core"]


def chain_settings(chain: DevChain, backend: str, tls: bool = False) -> dict[str, Any]:
    if backend == "core":  # Bitcoin Core's JSON-RPC (cookie auth) and ZMQ, served by the dev chain
        return {
            "chain_backend": "core",
            "core_rpc_url": chain.core_rpc_url,
            "core_rpc_cookie_file": chain.core_cookie_file,
            "core_zmq_hashblock": chain.core_zmq_hashblock,
            "core_zmq_rawtx": chain.core_zmq_rawtx,
        }
    if backend == "esplora":
        return {"regtest_esplora_url": chain.esplora_url}
    if tls:
        return {
            "chain_backend": "electrum",
            "regtest_electrum_url": f"ssl://{chain.electrum_host}:{chain.electrum_tls_port}",
            "electrum_tls_cert": chain.tls_cert_pem.decode(),
        }
    return {"chain_backend": "electrum", "regtest_electrum_url": f"tcp://{chain.electrum_host}:{chain.electrum_port}"}


async def start_container(tmp_path: Path, database_url: str, **overrides: Any) -> Container:
    settings = make_settings(tmp_path, database_url, sync_interval_s=3600, chain_retries=1, **overrides)
    c = Container(settings)
    await c.start()
    return c


async def new_user(c: Container, email: str = "alice@example.com") -> str:
    user = await c.accounts.create_user(email, "correct horse battery staple")
    return str(user.id)


async def import_all(c: Container, user_id: str, chain: DevChain) -> dict[str, str]:
    """Import every scenario wallet; returns name -> wallet id."""
    ids = {}
    for w in chain.info["wallets"]:
        view = await c.wallets.import_wallet(
            user_id, ImportWalletInput(name=w["name"], source=w["descriptor"], network=Network.REGTEST)
        )
        ids[w["name"]] = view.id
    return ids


async def wait_synced(c: Container, user_id: str, wallet_id: str, timeout: float = 60) -> Any:
    """Wait until the wallet's current sync job (the import's, or a notification's) is done."""
    deadline = time.monotonic() + timeout
    while True:
        st = await c.sync.state(user_id, wallet_id)
        busy = c.supervisor.running(f"sync:{wallet_id}")
        if st.status in ("SYNCED", "ERROR") and not busy:
            return st
        assert time.monotonic() < deadline, f"wallet {wallet_id} did not finish syncing: {st.status}"
        await asyncio.sleep(0.05)


async def figures(c: Container, user_id: str, wallet_id: str) -> dict[str, int]:
    st = await c.sync.state(user_id, wallet_id)
    txs, _ = await c.sync.transactions(user_id, wallet_id, first=100_000)
    active = [t for t in txs if t.status in (TX_CONFIRMED, TX_MEMPOOL)]
    utxos = await c.sync.utxos(user_id, wallet_id)
    return {
        "confirmed": st.confirmed,
        "unconfirmed": st.unconfirmed,
        "txCount": len(active),
        "confirmedTxCount": sum(1 for t in active if t.status == TX_CONFIRMED),
        "utxoCount": len(utxos),
    }


async def check_consistency(c: Container, user_id: str, wallet_id: str) -> None:
    """What a user would cross-check: the history sums to the balance, UTXOs sum to it too."""
    st = await c.sync.state(user_id, wallet_id)
    txs, total = await c.sync.transactions(user_id, wallet_id, first=100_000)
    assert total == len(txs)
    active = [t for t in txs if t.status in (TX_CONFIRMED, TX_MEMPOOL)]
    assert sum(t.net_amount for t in active) == st.confirmed + st.unconfirmed
    assert sum(u.value for u in await c.sync.utxos(user_id, wallet_id)) == st.confirmed + st.unconfirmed
    for t in active:
        assert t.direction in ("INCOMING", "OUTGOING", "SELF")
        assert (t.direction == "INCOMING") == (t.net_amount > 0 or t.sent == 0)
        if t.direction == "SELF":
            assert t.fee is not None and t.net_amount == -t.fee
        if t.status == TX_CONFIRMED:
            assert t.height and t.block_hash and t.block_time
        assert t.vsize > 0


@pytest.fixture
async def small(tmp_path: Path) -> AsyncIterator[DevChain]:
    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path) as chain:
        yield chain


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
async def test_first_sync_matches_the_scenario(
    small: DevChain, backend: str, any_engine: str, database_url: str, tmp_path: Path
) -> None:
    c = await start_container(tmp_path, database_url, **chain_settings(small, backend))
    try:
        user = await new_user(c)
        ids = await import_all(c, user, small)  # each import starts its first sync
        by_name = {w["name"]: w for w in small.info["wallets"]}
        for name, wallet_id in ids.items():
            st = await wait_synced(c, user, wallet_id)
            assert st.status == "SYNCED", st.last_error
            assert st.last_synced_at is not None and st.tip_height == small.info["tip"]["height"]
            assert await figures(c, user, wallet_id) == by_name[name]["expected"], name
            await check_consistency(c, user, wallet_id)

        # Transactions between two wallets of the same user: the sender sees OUTGOING, the
        # receiver INCOMING, and the two views differ exactly by the fee the sender paid.
        views: dict[str, dict[str, Any]] = {}
        for name, wallet_id in ids.items():
            txs, _ = await c.sync.transactions(user, wallet_id, first=100_000)
            for t in txs:
                views.setdefault(t.txid, {})[name] = t
        shared = {txid: v for txid, v in views.items() if len(v) == 2}
        assert shared, "the scenario has wallet-to-wallet payments"
        checked = 0
        for v in shared.values():
            a, b = v.values()
            if a.status not in (TX_CONFIRMED, TX_MEMPOOL) or bool(a.sent) == bool(b.sent):
                continue  # both paid in (a joint spend), or both only received (e.g. one funding tx)
            checked += 1
            sender, receiver = (a, b) if a.sent else (b, a)
            assert sender.direction == "OUTGOING" and receiver.direction == "INCOMING"
            assert sender.net_amount + receiver.net_amount == -(sender.fee or 0)
        assert checked > 0

        # Addresses: the wallets area's per-address cache follows the sync.
        alice = ids[small.info["wallets"][0]["name"]]
        page = await c.wallets.addresses(user, alice, first=500)
        used = [a for a in page.items if a.used]  # type: ignore[attr-defined]
        assert used and all(a.tx_count > 0 for a in used)
        assert sum(a.balance for a in page.items) == (await c.sync.balance(user, alice)).total  # type: ignore[attr-defined]

        # Incremental sync with nothing new: nothing changes, nothing is rewritten.
        before = {w: await figures(c, user, w) for w in ids.values()}
        for wallet_id in ids.values():
            job = await c.sync.sync_now(user, wallet_id)
            assert job.status == "SUCCEEDED"
            assert not c.sync.last_result[wallet_id].rebuilt
        assert {w: await figures(c, user, w) for w in ids.values()} == before
    finally:
        await c.stop()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_payment_block_and_other_users(small: DevChain, backend: str, database_url: str, tmp_path: Path) -> None:
    c = await start_container(tmp_path, database_url, **chain_settings(small, backend))
    try:
        alice, bob = await new_user(c), await new_user(c, "bob@example.com")
        w = small.info["wallets"][0]
        a_id = (await import_all(c, alice, small))[w["name"]]
        await wait_synced(c, alice, a_id)
        before = await c.sync.balance(alice, a_id)
        start = await figures(c, alice, a_id)
        assert start == w["expected"]

        # Bob cannot see or sync Alice's wallet.
        from app.errors import NotFound

        with pytest.raises(NotFound):
            await c.sync.request_sync(bob, a_id)
        assert (await c.sync.transactions(bob, a_id))[1] == 0

        events: list[Any] = []

        async def listen(ev: Any) -> None:
            events.append(ev)

        on_published(c.hub, listen)
        addr = await c.wallets.next_receive_address(alice, a_id)
        txid = await small.send(addr.address, 123_456)
        job = await c.sync.sync_now(alice, a_id)
        assert job.status == "SUCCEEDED"

        def phases_of(job_id: str) -> list[str]:  # (a notification may start another sync meanwhile)
            return [
                e.payload["phase"] for e in events if e.type == "walletSyncProgress" and e.payload["jobId"] == job_id
            ]

        # Events for the subscriptions, published after the commit, which is what sync_now sees: wait
        # for them (the payment may have been found by a sync the Electrum notification started).
        def published() -> bool:
            kinds = {e.type for e in events if e.subject == a_id}
            return {"transactionReceived", "walletUpdated"} <= kinds and "done" in phases_of(job.id)

        await until(published, "transactionReceived, walletUpdated and the job's done event")
        kinds = [e.type for e in events if e.subject == a_id]
        assert "transactionReceived" in kinds and "walletUpdated" in kinds and "walletSyncProgress" in kinds
        assert all(e.user_id == alice for e in events)  # (her other wallets are syncing too)
        events = [e for e in events if e.subject == a_id]
        received = [e.payload for e in events if e.type == "transactionReceived"]
        assert received == [
            {
                "walletId": a_id,
                "txid": txid,
                "netAmount": 123_456,
                "direction": "INCOMING",
                "blockHeight": None,
                "historical": False,  # a payment after the wallet's first sync
            }
        ]
        updated = next(e.payload for e in events if e.type == "walletUpdated")
        assert updated["balance"]["unconfirmed"] == before.unconfirmed + 123_456
        assert kinds.index("walletSyncProgress") < kinds.index("transactionReceived")
        assert phases_of(job.id).count("done") == 1 and phases_of(job.id)[-1] == "done"  # once, after the commit
        # A resync with nothing new still ends with exactly one "done".
        again = await c.sync.sync_now(alice, a_id)
        assert again.status == "SUCCEEDED"
        await until(lambda: "done" in phases_of(again.id), "the resync's done event")
        assert phases_of(again.id).count("done") == 1 and phases_of(again.id)[-1] == "done"
        txs, _ = await c.sync.transactions(alice, a_id, first=5)
        assert txs[0].txid == txid and txs[0].status == TX_MEMPOOL and txs[0].height is None
        assert txs[0].net_amount == 123_456 and txs[0].direction == "INCOMING"
        after = await c.sync.balance(alice, a_id)
        assert after.unconfirmed == before.unconfirmed + 123_456 and after.confirmed == before.confirmed
        exp = dict(start)
        exp.update(unconfirmed=exp["unconfirmed"] + 123_456, txCount=exp["txCount"] + 1, utxoCount=exp["utxoCount"] + 1)
        assert await figures(c, alice, a_id) == exp
        if backend == "esplora":  # same tip: decided from the mempool's changes, not per address
            assert c.sync.last_result[a_id].fast_path

        # A payment to an address used long ago (address reuse) is seen as well.
        reuse_txid = await small.send(w["firstAddress"], 7_777)
        await c.sync.sync_now(alice, a_id)
        reused = next(t for t in (await c.sync.transactions(alice, a_id, first=5))[0] if t.txid == reuse_txid)
        assert reused.net_amount == 7_777 and reused.status == TX_MEMPOOL
        exp.update(unconfirmed=exp["unconfirmed"] + 7_777, txCount=exp["txCount"] + 1, utxoCount=exp["utxoCount"] + 1)
        assert await figures(c, alice, a_id) == exp

        await small.mine()
        await c.sync.sync_now(alice, a_id)
        tx = next(t for t in (await c.sync.transactions(alice, a_id, first=1000))[0] if t.txid == txid)
        assert tx.status == TX_CONFIRMED and tx.height == small.chain.height and tx.block_time is not None
        # Mining confirmed everything of this wallet that was in the mempool.
        total = start["confirmed"] + start["unconfirmed"] + 123_456 + 7_777
        exp = dict(start)
        exp.update(
            confirmed=total,
            unconfirmed=0,
            txCount=start["txCount"] + 2,
            confirmedTxCount=start["txCount"] + 2,
            utxoCount=start["utxoCount"] + 2,
        )
        assert await figures(c, alice, a_id) == exp
        addresses = await c.wallets.addresses(alice, a_id, first=500)
        got = next(a for a in addresses.items if a.address == addr.address)  # type: ignore[attr-defined]
        assert got.used and got.tx_count == 1 and got.balance == 123_456
        await check_consistency(c, alice, a_id)
    finally:
        await c.stop()


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
async def test_reorg(backend: str, any_engine: str, database_url: str, tmp_path: Path) -> None:
    async with DevChain.start(scenario="reorg", seed=1, data_dir=tmp_path) as chain:
        c = await start_container(tmp_path, database_url, **chain_settings(chain, backend))
        try:
            user = await new_user(c)
            ids = await import_all(c, user, chain)
            for wallet_id in ids.values():
                await wait_synced(c, user, wallet_id)
            old = {
                n: {t.txid: t for t in (await c.sync.transactions(user, w, first=10_000))[0]} for n, w in ids.items()
            }
            await chain.reorg(depth=3)
            for name, wallet_id in ids.items():
                job = await c.sync.sync_now(user, wallet_id)
                assert job.status == "SUCCEEDED", job.error
                assert await figures(c, user, wallet_id) == chain.expected(name), name
                await check_consistency(c, user, wallet_id)
                # Every transaction that was in a replaced block is now back in the mempool, in
                # the new chain (new block hash), or marked as gone - never still confirmed in
                # a block that left the chain.
                for t in (await c.sync.transactions(user, wallet_id, first=10_000))[0]:
                    if t.status == TX_CONFIRMED:
                        assert chain.chain.block_at(t.height).hash == t.block_hash
                moved = [
                    t
                    for t in (await c.sync.transactions(user, wallet_id, first=10_000))[0]
                    if t.txid in old[name] and old[name][t.txid].block_hash != t.block_hash
                ]
                assert all(t.status in (TX_MEMPOOL, TX_CONFIRMED, "evicted", TX_REPLACED) for t in moved)
        finally:
            await c.stop()


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
async def test_rbf_replacement(backend: str, any_engine: str, database_url: str, tmp_path: Path) -> None:
    async with DevChain.start(scenario="rbf", seed=1, data_dir=tmp_path) as chain:
        c = await start_container(tmp_path, database_url, **chain_settings(chain, backend))
        try:
            user = await new_user(c)
            ids = await import_all(c, user, chain)
            for wallet_id in ids.values():
                await wait_synced(c, user, wallet_id)
            old_txid = chain.state.meta["replaceable"]
            new_txid = await chain.replace(old_txid)
            for name, wallet_id in ids.items():
                await c.sync.sync_now(user, wallet_id)
                assert await figures(c, user, wallet_id) == chain.expected(name), name
                await check_consistency(c, user, wallet_id)
            alice_id = ids[chain.info["wallets"][0]["name"]]
            txs = {t.txid: t for t in (await c.sync.transactions(user, alice_id, first=10_000))[0]}
            assert txs[old_txid].status == TX_REPLACED and txs[old_txid].replaced_by == new_txid
            assert txs[new_txid].status == TX_MEMPOOL and txs[new_txid].direction == "OUTGOING"
            assert (txs[new_txid].fee or 0) > (txs[old_txid].fee or 0)
        finally:
            await c.stop()


async def test_electrum_tls_and_notifications(small: DevChain, database_url: str, tmp_path: Path) -> None:
    """Over TLS with the server's self-signed cert pinned; a payment triggers a resync by itself."""
    c = await start_container(tmp_path, database_url, **chain_settings(small, "electrum", tls=True))
    try:
        user = await new_user(c)
        w = small.info["wallets"][1]
        wallet_id = (await import_all(c, user, small))[w["name"]]
        st = await wait_synced(c, user, wallet_id)
        assert st.status == "SYNCED", st.last_error
        assert await figures(c, user, wallet_id) == w["expected"]
        addr = await c.wallets.next_receive_address(user, wallet_id)
        await small.send(addr.address, 50_000)
        deadline = time.monotonic() + 30
        while await figures(c, user, wallet_id) != small.expected(w["name"]):
            assert time.monotonic() < deadline, "no resync after the scripthash notification"
            await asyncio.sleep(0.05)
    finally:
        await c.stop()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_unreachable_backend_is_a_status_not_a_failed_import(
    backend: str, database_url: str, tmp_path: Path
) -> None:
    overrides = {
        "esplora": {"regtest_esplora_url": "http://127.0.0.1:9"},
        "electrum": {"chain_backend": "electrum", "regtest_electrum_url": "tcp://127.0.0.1:9"},
        "core": {
            "chain_backend": "core",
            "core_rpc_url": "http://127.0.0.1:9",
            "core_rpc_user": "u",
            "core_rpc_password": "p",
        },
    }[backend]
    c = await start_container(tmp_path, database_url, **overrides)
    try:
        user = await new_user(c)
        view = await c.wallets.import_wallet(
            user,
            ImportWalletInput(
                name="w",
                source="wpkh(tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp/0/*)",
                network=Network.REGTEST,
            ),
        )
        st = await wait_synced(c, user, view.id)
        assert st.status == "ERROR"
        assert "127.0.0.1:9" in (st.last_error or "")
        assert (await c.wallets.get_wallet(user, view.id)).name == "w"
        job = await c.sync.sync_now(user, view.id)
        assert job.status == "FAILED" and job.error
    finally:
        await c.stop()


async def test_restart_resumes_an_interrupted_job_and_prunes_old_ones(
    small: DevChain, database_url: str, tmp_path: Path
) -> None:
    """A job left RUNNING by a crash is run again at the next start; stored data stays whole."""
    from datetime import UTC, datetime, timedelta

    from app.store.models.chain import SyncJob

    settings = chain_settings(small, "esplora")
    c = await start_container(tmp_path, database_url, **settings)
    w = small.info["wallets"][0]
    try:
        user = await new_user(c)
        wallet_id = (await import_all(c, user, small))[w["name"]]
        await wait_synced(c, user, wallet_id)
        # As if the process died in the middle of a sync: a RUNNING job in the store.
        async with c.store.write() as s:
            crashed = SyncJob(user_id=user, wallet_id=wallet_id, status="RUNNING", started_at=datetime.now(UTC))
            s.add(crashed)
            old = SyncJob(
                user_id=user,
                wallet_id=wallet_id,
                status="SUCCEEDED",
                finished_at=datetime.now(UTC) - timedelta(days=3),
            )
            s.add(old)
    finally:
        await c.stop()

    c = await start_container(tmp_path, database_url, **settings)
    try:
        job = await c.sync.wait(user, crashed.id, timeout=60)
        assert job.status == "SUCCEEDED"
        assert await figures(c, user, wallet_id) == w["expected"]
        assert await c.sync.prune_jobs() == 1
        with pytest.raises(Exception, match="No such sync job"):
            await c.sync.get_job(user, old.id)
        assert (await c.sync.get_job(user, crashed.id)).status == "SUCCEEDED"
    finally:
        await c.stop()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_mempool_eviction(small: DevChain, backend: str, database_url: str, tmp_path: Path) -> None:
    """A payment that leaves the mempool without a replacement: EVICTED, out of the balance."""
    c = await start_container(tmp_path, database_url, **chain_settings(small, backend))
    try:
        user = await new_user(c)
        w = small.info["wallets"][0]
        wallet_id = (await import_all(c, user, small))[w["name"]]
        await wait_synced(c, user, wallet_id)
        start = await figures(c, user, wallet_id)
        addr = await c.wallets.next_receive_address(user, wallet_id)
        txid = await small.send(addr.address, 55_555)
        await c.sync.sync_now(user, wallet_id)
        assert (await c.sync.balance(user, wallet_id)).unconfirmed == start["unconfirmed"] + 55_555

        # The node drops it (mempool expiry, or a restart without persistence).
        small.chain.remove_mempool_tx(txid)
        await small._flush()  # the dev chain's Electrum server tells its subscribers
        await c.sync.sync_now(user, wallet_id)  # a sync that started after the drop
        txs = {t.txid: t for t in (await c.sync.transactions(user, wallet_id, first=500))[0]}
        assert txs[txid].status == "evicted" and txs[txid].replaced_by is None
        assert await figures(c, user, wallet_id) == start
        await check_consistency(c, user, wallet_id)
    finally:
        await c.stop()
