"""The sync area's read API answers one frozen view per concept, whichever method is asked: the
page of a dashboard, the single transaction of an event, the spend's parents and a BIP-329 export
see the same transaction; a wallet never synced reads as the table's defaults; no view can be
changed by its reader, and another user's wallet reads as nothing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from app.bitcoin.networks import Network
from app.config import Settings
from app.container import Container
from app.services.wallets import ImportWalletInput
from app.store.models.chain import WalletOutput, WalletSyncState, WalletTx
from app.store.paging import window
from app.sync.model import SyncStateView
from tests.wallets.test_import_api import ZPUB

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
CONFIRMED = "a" * 64
PENDING = "b" * 64
IO = '{"v":2,"l":0,"i":[],"o":[[5000,"0014' + "11" * 20 + '"]]}'


async def _seed(c: Container, user_id: str, wallet_id: str) -> None:
    async with c.store.write() as s:
        for txid, height, status in ((CONFIRMED, 800_000, "confirmed"), (PENDING, None, "mempool")):
            s.add(
                WalletTx(
                    user_id=user_id, wallet_id=wallet_id, txid=txid, status=status, height=height,
                    block_hash="0" * 64 if height else None, block_time=T0 if height else None, first_seen=T0,
                    fee=141, vsize=141, weight=561, received=5_000, sent=0, net_amount=5_000,
                    direction="INCOMING", io=IO,
                )
            )  # fmt: skip
            s.add(
                WalletOutput(
                    user_id=user_id, wallet_id=wallet_id, txid=txid, vout=0, value=5_000, chain=0, index=3,
                    script_pubkey="0014" + "11" * 20, height=height,
                )
            )  # fmt: skip


async def test_every_read_of_a_transaction_answers_the_same_frozen_view(any_engine: str, settings: Settings) -> None:
    async with Container(settings, background=False) as c:
        alice = (await c.accounts.create_user("alice@example.com", "correct horse battery staple")).id
        bob = (await c.accounts.create_user("bob@example.com", "correct horse battery staple")).id
        wallet = await c.wallets.import_wallet(alice, ImportWalletInput("W", ZPUB, Network.MAINNET))
        await _seed(c, alice, wallet.id)
        q = c.sync

        page = (await q.transactions_of(alice, [wallet.id], window(20, None, types=(int, str))))[wallet.id]
        listed, total = await q.transactions(alice, wallet.id)
        by_id = await q.transactions_by_id(alice, wallet.id, [CONFIRMED, PENDING])
        one = await q.transaction(alice, wallet.id, CONFIRMED)
        history = await q.history(alice, wallet.id)
        assert [t.txid for t in page.items] == [t.txid for t in listed] == [PENDING, CONFIRMED]  # mempool first
        assert total == 2 and page.items == listed == [by_id[PENDING], by_id[CONFIRMED]]
        assert one == by_id[CONFIRMED] and sorted(history.txs, key=lambda t: t.txid) == [one, by_id[PENDING]]
        assert (one.wallet_id, one.height, one.block_time, one.net_amount, one.fee) == (
            wallet.id, 800_000, T0, 5_000, 141
        )  # fmt: skip
        assert [o.value for o in history.decoded(one).outputs] == [5_000]  # the stored io, decoded on demand

        utxos = await q.utxos(alice, wallet.id)
        assert utxos == (await q.utxos_of(alice, [wallet.id]))[wallet.id]
        assert sorted(utxos, key=lambda o: o.txid) == sorted(history.outputs, key=lambda o: o.txid)
        assert {(o.txid, o.index, o.spent_by) for o in utxos} == {(CONFIRMED, 3, None), (PENDING, 3, None)}

        with pytest.raises(dataclasses.FrozenInstanceError):
            one.net_amount = 0  # type: ignore[misc]

        # Bob asks for Alice's wallet: nothing, and her wallet's state reads as never synced.
        assert await q.transaction(bob, wallet.id, CONFIRMED) is None
        assert (await q.transactions(bob, wallet.id))[1] == 0 and await q.utxos(bob, wallet.id) == []
        assert (await q.state(bob, wallet.id)).status == "NEVER"


async def test_a_wallet_never_synced_reads_as_the_tables_defaults(settings: Settings) -> None:
    never = SyncStateView(wallet_id="w")
    row = WalletSyncState(wallet_id="w", user_id="u")
    assert {f.name: getattr(never, f.name) for f in dataclasses.fields(never)} == {
        f.name: getattr(row, f.name) for f in dataclasses.fields(never)
    }
    async with Container(settings, background=False) as c:
        alice = (await c.accounts.create_user("alice@example.com", "correct horse battery staple")).id
        wallet = await c.wallets.import_wallet(alice, ImportWalletInput("W", ZPUB, Network.MAINNET))
        assert await c.sync.state(alice, wallet.id) == SyncStateView(wallet_id=wallet.id)
        async with c.store.write() as s:
            s.add(WalletSyncState(wallet_id=wallet.id, user_id=alice, status="SYNCED", confirmed=7, tip_height=9))
        st = await c.sync.state(alice, wallet.id)
        assert (st.status, st.confirmed, st.unconfirmed, st.tip_height) == ("SYNCED", 7, 0, 9)
        assert (await c.sync.balance(alice, wallet.id)).total == 7
