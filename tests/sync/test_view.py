"""The pure apply step of sync (``app.sync.view``): stored state + fetched chain data → the
wallet's view, without a chain or a database. Amounts, directions, balances (confirmed vs
unconfirmed), replacements, evictions, reorgs, and what the scanner is told to fetch."""

from __future__ import annotations

from datetime import UTC, datetime

from app.chain.backend import BlockHeader, ChainTx, HistoryEntry, ScripthashHistory, TxInput, TxOutput
from app.store.models.chain import TX_CONFIRMED, TX_EVICTED, TX_MEMPOOL, TX_REPLACED
from app.sync.codec import parse, serialize
from app.sync.model import ChainUpdate, Outcome, ScriptRef, StoredScript, StoredWallet, SyncResult
from app.sync.view import apply, confirmations, next_stored, parents_needed, wallet_txids

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
RECV = ScriptRef(0, 0, "0014" + "aa" * 20, "sh-recv")
RECV2 = ScriptRef(0, 1, "0014" + "ab" * 20, "sh-recv2")
CHANGE = ScriptRef(1, 0, "0014" + "cc" * 20, "sh-change")
REFS = {(r.chain, r.index): r for r in (RECV, RECV2, CHANGE)}
FOREIGN = "0014" + "ff" * 20
TIP = (200, "b" * 64)


def txid(n: int) -> str:
    return f"{n:064x}"


def tx(n: int, inputs: list[TxInput], outputs: list[TxOutput], **kw: object) -> ChainTx:
    return ChainTx(txid(n), 2, 0, tuple(inputs), tuple(outputs), 400, **kw)  # type: ignore[arg-type]


def funding(n: int = 1, value: int = 100_000, to: ScriptRef = RECV) -> ChainTx:
    """A payment from a foreign output (value unknown: a parent is needed for its fee)."""
    return tx(n, [TxInput(txid(900 + n), 0, 0xFFFFFFFD)], [TxOutput(value, to.script_pubkey), TxOutput(5, FOREIGN)])


def history(ref: ScriptRef, *entries: tuple[ChainTx, int], inline: bool = True) -> ScripthashHistory:
    return ScripthashHistory(
        ref.scripthash,
        [HistoryEntry(t.txid, h) for t, h in entries],
        {t.txid: t for t, _ in entries} if inline else {},
        status=f"status-{len(entries)}",
    )


def header(height: int) -> BlockHeader:
    return BlockHeader(height, f"{height:064x}", 1_700_000_000 + height, "00" * 32)


def update(
    histories: dict[tuple[int, int], ScripthashHistory], *, tip: tuple[int, str] = TIP, **kw: object
) -> ChainUpdate:
    """What the scanner hands over: the transactions the histories carried are ``inline``."""
    inline = {t.txid: t for h in histories.values() for t in h.txs.values()}
    return ChainUpdate(tip[0], tip[1], dict(REFS), histories, set(), NOW, inline, **kw)  # type: ignore[arg-type]


def empty_stored() -> StoredWallet:
    return StoredWallet({k: StoredScript(r, None, 0, False) for k, r in REFS.items()})


def synced(inc: ChainTx, height: int) -> tuple[StoredWallet, SyncResult]:
    """A wallet that received ``inc`` at ``height`` (0: mempool), as stored after that sync."""
    parent = tx(900 + int(inc.txid, 16), [], [TxOutput(200_000, FOREIGN)])
    r = apply(
        empty_stored(),
        update(
            {(0, 0): history(RECV, (inc, height))},
            headers={height: header(height)} if height else {},
            parents={parent.txid: parent},
        ),
    )
    return next_stored(empty_stored(), r), r


def test_a_first_payment_is_incoming_confirmed_with_its_block_and_fee() -> None:
    inc = funding()
    parent = tx(901, [], [TxOutput(200_000, FOREIGN)])
    r = apply(
        empty_stored(),
        update({(0, 0): history(RECV, (inc, 150))}, headers={150: header(150)}, parents={parent.txid: parent}),
    )
    assert r.outcome is Outcome.UPDATED and r.new_txids == [inc.txid]
    v = r.txs[inc.txid]
    assert (v.status, v.height, v.direction) == (TX_CONFIRMED, 150, "INCOMING")
    assert (v.received, v.sent, v.net_amount) == (100_000, 0, 100_000)
    assert v.fee == 200_000 - 100_005  # from the parent's output value
    assert (v.block_hash, v.block_time) == (header(150).hash, datetime.fromtimestamp(header(150).time, UTC))
    assert v.first_seen == NOW
    assert (r.confirmed, r.unconfirmed) == (100_000, 0)
    assert [(o.txid, o.vout, o.value, o.spent_by) for o in r.utxos] == [(inc.txid, 0, 100_000, None)]
    s = r.scripts[(0, 0)]
    assert (s.used, s.tx_count, s.received, s.balance, s.status) == (True, 1, 100_000, 100_000, "status-1")
    assert not r.scripts[(0, 1)].used and r.scripts[(0, 1)].balance == 0


def test_a_mempool_spend_of_confirmed_coins_makes_unconfirmed_negative() -> None:
    inc = funding()
    stored, _ = synced(inc, 150)
    spend = tx(
        2,
        [TxInput(inc.txid, 0, 0xFFFFFFFD, 100_000, RECV.script_pubkey)],
        [TxOutput(60_000, FOREIGN), TxOutput(39_000, CHANGE.script_pubkey)],
    )
    r = apply(
        stored,
        update({(0, 0): history(RECV, (inc, 150), (spend, 0)), (1, 0): history(CHANGE, (spend, 0))}),
    )
    v = r.txs[spend.txid]
    assert (v.status, v.height, v.direction) == (TX_MEMPOOL, None, "OUTGOING")
    assert (v.received, v.sent, v.net_amount, v.fee) == (39_000, 100_000, -61_000, 1_000)
    assert r.outputs[(inc.txid, 0)].spent_by == spend.txid
    # The spent coin stays confirmed until the spend confirms; the total already counts the spend.
    assert (r.confirmed, r.unconfirmed) == (100_000, 39_000 - 100_000)
    assert r.new_txids == [spend.txid]
    assert r.txs[inc.txid].first_seen == stored.txs[inc.txid].first_seen


def test_moving_coins_between_own_scripts_is_self_and_costs_the_fee() -> None:
    inc = funding()
    stored, _ = synced(inc, 150)
    move = tx(
        3,
        [TxInput(inc.txid, 0, 0xFFFFFFFD, 100_000, RECV.script_pubkey)],
        [TxOutput(99_500, RECV2.script_pubkey)],
    )
    r = apply(stored, update({(0, 0): history(RECV, (inc, 150), (move, 0)), (0, 1): history(RECV2, (move, 0))}))
    v = r.txs[move.txid]
    assert (v.direction, v.net_amount, v.fee) == ("SELF", -500, 500)


def test_a_replacement_marks_the_old_transaction_replaced_by_the_new() -> None:
    inc = funding()
    stored, _ = synced(inc, 150)
    spend_in = TxInput(inc.txid, 0, 0xFFFFFFFD, 100_000, RECV.script_pubkey)
    first = tx(4, [spend_in], [TxOutput(99_000, FOREIGN)])
    after_first = apply(stored, update({(0, 0): history(RECV, (inc, 150), (first, 0))}))
    stored = next_stored(stored, after_first)
    bump = tx(5, [spend_in], [TxOutput(98_000, FOREIGN)])
    r = apply(stored, update({(0, 0): history(RECV, (inc, 150), (bump, 0))}))
    old = r.txs[first.txid]
    assert (old.status, old.replaced_by, old.height) == (TX_REPLACED, bump.txid, None)
    assert r.txs[bump.txid].status == TX_MEMPOOL and r.new_txids == [bump.txid]
    assert [t.txid for t in r.active_txs] == [inc.txid, bump.txid]
    assert r.outputs[(inc.txid, 0)].spent_by == bump.txid


def test_a_mempool_transaction_that_left_every_history_is_evicted() -> None:
    stored, _ = synced(funding(), 0)
    r = apply(stored, update({(0, 0): history(RECV)}))
    gone = r.txs[txid(1)]
    assert (gone.status, gone.replaced_by) == (TX_EVICTED, None)
    assert r.active_txs == [] and r.outputs == {} and (r.confirmed, r.unconfirmed) == (0, 0)
    assert r.scripts[(0, 0)].used  # a script once used stays used (gap limit)


def test_a_reorged_confirmation_takes_the_new_block() -> None:
    inc = funding()
    stored, _ = synced(inc, 150)
    moved = tx(1, list(inc.inputs), list(inc.outputs))
    u = update({(0, 0): history(RECV, (moved, 151), inline=False)}, headers={151: header(151)})
    u.suspects = {inc.txid}
    present = wallet_txids(stored, u.refs, u.histories, u.suspects)
    assert present == {inc.txid: 151}
    _, need = confirmations(present, stored, u.inline, u.suspects, {})
    assert need == {151}  # the scanner fetches this header
    r = apply(stored, u)
    v = r.txs[inc.txid]
    assert (v.height, v.block_hash) == (151, header(151).hash) and r.outcome is Outcome.UPDATED
    assert r.new_txids == []  # it was in the wallet already


def test_nothing_new_rebuilds_the_same_view() -> None:
    stored, first = synced(funding(), 150)
    r = apply(stored, update({}))
    assert r.outcome is Outcome.REFRESHED and r.new_txids == []
    assert {t: (v.status, v.net_amount) for t, v in r.txs.items()} == {
        t: (v.status, v.net_amount) for t, v in first.txs.items()
    }
    assert (r.confirmed, r.unconfirmed) == (first.confirmed, first.unconfirmed)


def test_the_scanner_is_told_which_parents_to_fetch() -> None:
    inc = funding()
    txs = {inc.txid: inc}
    assert parents_needed(txs, {(0, 0): history(RECV, (inc, 150))}) == {txid(901)}
    # A fee given by the history (Electrum mempool entries) makes the parent unnecessary.
    hist = ScripthashHistory(RECV.scripthash, [HistoryEntry(inc.txid, 0, fee=300)])
    assert parents_needed(txs, {(0, 0): hist}) == set()
    r = apply(empty_stored(), update({(0, 0): ScripthashHistory(RECV.scripthash, hist.entries, {inc.txid: inc})}))
    assert r.txs[inc.txid].fee == 300


def test_a_transaction_that_vanished_before_its_fetch_is_left_out() -> None:
    inc = funding()
    r = apply(empty_stored(), update({(0, 0): history(RECV, (inc, 0), inline=False)}))  # fetched: nothing
    assert r.txs == {} and r.outputs == {} and r.scripts[(0, 0)].tx_count == 1


def test_stored_io_round_trips() -> None:
    inputs = [TxInput(txid(1), 3, 0xFFFFFFFE, 5_000, RECV.script_pubkey), TxInput(txid(2), 0, 1)]
    t = tx(7, inputs, [TxOutput(1, FOREIGN)], fee=42)
    assert parse(t.txid, serialize(t), t.weight, t.fee) == t
