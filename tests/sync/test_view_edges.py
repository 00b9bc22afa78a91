"""Edges of the pure view (``app.sync.view``) that `make mutate` found unpinned: a confirmation
in block 1, a confirmed transaction reorged away with nothing listing it, a new status hash with
the same transactions, fees carried into the next incremental state, per-address figures of
unused addresses, and what the scanner is (not) asked to fetch."""

from __future__ import annotations

from app.chain.backend import TxInput, TxOutput
from app.store.models.chain import TX_CONFIRMED, TX_EVICTED, TX_MEMPOOL
from app.sync.model import Outcome
from app.sync.view import apply, confirmations, missing_txids, next_stored, wallet_txids
from tests.sync.test_view import (
    CHANGE,
    FOREIGN,
    RECV,
    empty_stored,
    funding,
    header,
    history,
    synced,
    tx,
    txid,
    update,
)


def test_a_confirmation_in_block_one_is_confirmed_and_a_mempool_output_has_no_height() -> None:
    inc, pending = funding(1), funding(2, 50_000)
    parents = {t.txid: t for t in (tx(901, [], [TxOutput(200_000, FOREIGN)]), tx(902, [], [TxOutput(90_000, FOREIGN)]))}
    r = apply(
        empty_stored(),
        update({(0, 0): history(RECV, (inc, 1), (pending, 0))}, headers={1: header(1)}, parents=parents),
    )
    v = r.txs[inc.txid]
    assert (v.status, v.height, v.block_hash) == (TX_CONFIRMED, 1, header(1).hash)
    assert r.outputs[(inc.txid, 0)].height == 1
    assert r.txs[pending.txid].status == TX_MEMPOOL and r.outputs[(pending.txid, 0)].height is None
    assert (r.confirmed, r.unconfirmed) == (100_000, 50_000)


def test_a_confirmed_transaction_reorged_away_and_listed_nowhere_is_evicted_without_its_block() -> None:
    inc = funding()
    stored, _ = synced(inc, 150)
    u = update({(1, 0): history(CHANGE)})  # the receive script's history was not re-read
    u.suspects = {inc.txid}
    assert wallet_txids(stored, u.refs, u.histories, u.suspects) == {}
    gone = apply(stored, u).txs[inc.txid]
    assert (gone.status, gone.height, gone.block_hash, gone.block_time) == (TX_EVICTED, None, None, None)


def test_a_new_status_with_the_same_transactions_is_written() -> None:
    inc = funding()
    stored, _ = synced(inc, 150)
    again = history(RECV, (inc, 150))
    again.status = "status-changed"
    r = apply(stored, update({(0, 0): again}))
    assert r.outcome is Outcome.UPDATED and r.scripts[(0, 0)].status == "status-changed"
    assert apply(stored, update({})).outcome is Outcome.REFRESHED


def test_the_next_incremental_state_keeps_fees_and_unused_addresses_received_nothing() -> None:
    inc = funding()
    stored, first = synced(inc, 150)
    assert stored.txs[inc.txid].tx.fee == first.txs[inc.txid].fee == 200_000 - 100_005
    assert first.scripts[(0, 1)].received == 0 and first.scripts[(1, 0)].received == 0
    # A spend of the stored coin: its fee comes from the stored parent, kept across states.
    spend = tx(2, [TxInput(inc.txid, 0, 0xFFFFFFFD)], [TxOutput(99_000, FOREIGN)])
    r = apply(stored, update({(0, 0): history(RECV, (inc, 150), (spend, 0))}))
    assert r.txs[spend.txid].fee == 1_000
    assert next_stored(stored, r).txs[spend.txid].tx.fee == 1_000


def test_the_scanner_fetches_only_what_is_neither_stored_nor_inline_and_no_known_headers() -> None:
    inc, new = funding(1), funding(2)
    stored, _ = synced(inc, 150)
    assert missing_txids([inc.txid, new.txid], stored, {}) == [new.txid]
    assert missing_txids([inc.txid, new.txid], stored, {new.txid: new}) == []
    inline = tx(2, list(new.inputs), list(new.outputs), height=160, block_hash=header(160).hash, block_time=5)
    block, need = confirmations({inline.txid: 160, inc.txid: 150}, stored, {inline.txid: inline}, set(), {})
    assert need == set() and block[inline.txid][0] == header(160).hash
    assert block[inc.txid][0] == stored.txs[inc.txid].block_hash
    assert txid(2) == new.txid


def test_a_fee_only_the_history_knew_is_kept_in_the_next_state() -> None:
    from app.chain.backend import HistoryEntry, ScripthashHistory

    inc = funding()  # a foreign input: its fee cannot be computed without the parent
    hist = ScripthashHistory(RECV.scripthash, [HistoryEntry(inc.txid, 0, fee=300)], {inc.txid: inc})
    r = apply(empty_stored(), update({(0, 0): hist}))
    assert r.txs[inc.txid].fee == 300
    assert next_stored(empty_stored(), r).txs[inc.txid].tx.fee == 300


def test_a_joint_transaction_is_outgoing_only_when_the_wallet_loses_money() -> None:
    from app.chain.backend import TxInput

    inc = funding()
    stored, _ = synced(inc, 150)
    ours = TxInput(inc.txid, 0, 0xFFFFFFFD, 100_000, RECV.script_pubkey)
    theirs = TxInput(txid(950), 0, 0xFFFFFFFD, 50_000, FOREIGN)
    even = tx(6, [ours, theirs], [TxOutput(100_000, CHANGE.script_pubkey), TxOutput(49_000, FOREIGN)])
    r = apply(stored, update({(0, 0): history(RECV, (inc, 150), (even, 0)), (1, 0): history(CHANGE, (even, 0))}))
    assert (r.txs[even.txid].net_amount, r.txs[even.txid].direction) == (0, "INCOMING")
    one = tx(7, [ours, theirs], [TxOutput(99_999, CHANGE.script_pubkey), TxOutput(49_000, FOREIGN)])
    r = apply(stored, update({(0, 0): history(RECV, (inc, 150), (one, 0)), (1, 0): history(CHANGE, (one, 0))}))
    assert (r.txs[one.txid].net_amount, r.txs[one.txid].direction) == (-1, "OUTGOING")


def test_a_replaced_transaction_stays_replaced_when_other_scripts_change() -> None:
    from app.chain.backend import TxInput
    from app.store.models.chain import TX_REPLACED
    from tests.sync.test_view import RECV2

    inc = funding()
    stored, _ = synced(inc, 150)
    spend_in = TxInput(inc.txid, 0, 0xFFFFFFFD, 100_000, RECV.script_pubkey)
    first = tx(4, [spend_in], [TxOutput(60_000, FOREIGN), TxOutput(39_000, CHANGE.script_pubkey)])
    stored = next_stored(
        stored,
        apply(stored, update({(0, 0): history(RECV, (inc, 150), (first, 0)), (1, 0): history(CHANGE, (first, 0))})),
    )
    bump = tx(5, [spend_in], [TxOutput(98_000, FOREIGN)])
    stored = next_stored(
        stored, apply(stored, update({(0, 0): history(RECV, (inc, 150), (bump, 0)), (1, 0): history(CHANGE)}))
    )
    assert stored.txs[first.txid].status == TX_REPLACED
    # Later only an unrelated address gets a payment: the replaced one must not come back.
    pay = funding(9, 5_000, RECV2)
    r = apply(
        stored, update({(0, 1): history(RECV2, (pay, 0))}, parents={txid(909): tx(909, [], [TxOutput(9_000, FOREIGN)])})
    )
    assert r.txs[first.txid].status == TX_REPLACED and r.txs[bump.txid].status == TX_MEMPOOL
    assert {t.txid for t in r.active_txs} == {inc.txid, bump.txid, pay.txid}


def test_a_mempool_transaction_needs_no_block_header() -> None:
    pending = funding()
    stored = empty_stored()
    block, need = confirmations({pending.txid: 0}, stored, {pending.txid: pending}, set(), {})
    assert need == set() and block[pending.txid] == (None, None)
