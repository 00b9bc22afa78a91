"""Apply: stored state + what a scan fetched → the wallet's new view. Pure (no I/O, no clock)."""

from __future__ import annotations

from collections.abc import Callable

from app.chain.backend import ChainTx, TxInput, TxOutput
from app.sync.codec import parse, serialize
from app.sync.model import StoredScript, StoredTx, StoredWallet, SyncResult, TxView


def next_stored(previous: StoredWallet, result: SyncResult) -> StoredWallet:
    """What :func:`load_stored` would read after :func:`save_result` wrote ``result``, built in
    memory (the service keeps it so that the next incremental sync skips reloading the wallet)."""
    if result.unchanged:
        return StoredWallet(previous.scripts, previous.txs, result.tip_height, result.tip_hash)
    out = StoredWallet(tip_height=result.tip_height, tip_hash=result.tip_hash)
    for key, sv in result.scripts.items():
        out.scripts[key] = StoredScript(sv.ref, sv.status, sv.tx_count, sv.used)
    for txid, v in result.txs.items():
        tx = v.tx if v.tx is not None else parse(txid, v.io, v.weight, v.fee)
        if v.tx is not None:
            tx = ChainTx(tx.txid, tx.version, tx.locktime, tx.inputs, tx.outputs, tx.weight, v.fee)
        out.txs[txid] = StoredTx(
            txid,
            v.status,
            v.height,
            v.block_hash,
            v.block_time,
            v.first_seen,
            tx,
            v.replaced_by,
            v.received,
            v.sent,
            v.net_amount,
            v.direction,
        )
    return out


def with_prevouts(tx: ChainTx, lookup: Callable[[TxInput], TxOutput | None]) -> ChainTx:
    new_inputs = []
    for i in tx.inputs:
        if i.value is None and not i.is_coinbase:
            prev = lookup(i)
            if prev is not None:
                i = TxInput(i.prev_txid, i.prev_vout, i.sequence, prev.value, prev.script_pubkey)
        new_inputs.append(i)
    out = ChainTx(
        tx.txid,
        tx.version,
        tx.locktime,
        tuple(new_inputs),
        tx.outputs,
        tx.weight,
        tx.fee,
        tx.height,
        tx.block_hash,
        tx.block_time,
    )
    if out.fee is None:
        out.fee = out.compute_fee()
    return out


def view_of_stored(t: StoredTx) -> TxView:
    return TxView(
        txid=t.txid,
        status=t.status,
        height=t.height,
        block_hash=t.block_hash,
        block_time=t.block_time,
        first_seen=t.first_seen,
        fee=t.tx.fee,
        vsize=t.tx.vsize,
        weight=t.tx.weight,
        received=t.received,
        sent=t.sent,
        net_amount=t.net_amount,
        direction=t.direction,
        replaced_by=t.replaced_by,
        io=serialize(t.tx),
        tx=t.tx,
    )


def differs(view: TxView, old: StoredTx | None) -> bool:
    if old is None:
        return True
    return (view.status, view.height, view.block_hash, view.replaced_by) != (
        old.status,
        old.height,
        old.block_hash,
        old.replaced_by,
    )
