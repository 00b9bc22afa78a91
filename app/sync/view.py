"""Apply: stored state + what a scan fetched → the wallet's new view. Pure: no I/O, no clock.

:func:`apply` is the whole step; the scanner calls the smaller functions with what it has so far
to decide what to fetch (which transactions, which block headers, which parents), then
:func:`apply` recomputes the same answers from the complete :class:`ChainUpdate`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from app.chain.backend import BlockHeader, ChainTx, HistoryEntry, ScripthashHistory, TxInput, TxOutput
from app.store.models.chain import ACTIVE_TX_STATUSES, TX_CONFIRMED, TX_EVICTED, TX_MEMPOOL, TX_REPLACED
from app.sync.codec import parse, serialize
from app.sync.model import (
    INCOMING,
    OUTGOING,
    SELF,
    ChainUpdate,
    Outcome,
    OutputRecord,
    ScriptRecord,
    ScriptRef,
    StoredScript,
    StoredTx,
    StoredWallet,
    SyncResult,
    TxRecord,
)

Key = tuple[int, int]  # (chain, index)
Block = tuple[str | None, datetime | None]  # (block hash, block time)


def scripts_of_stored(stored: StoredWallet) -> dict[str, set[str]]:
    """txid -> scriptPubKeys each stored tx touches (outputs paying them, inputs spending them)."""
    return {
        t.txid: {o.script_pubkey for o in t.tx.outputs} | {i.script_pubkey for i in t.tx.inputs if i.script_pubkey}
        for t in stored.txs.values()
    }


def wallet_txids(
    stored: StoredWallet,
    refs: dict[Key, ScriptRef],
    histories: dict[Key, ScripthashHistory],
    suspects: set[str],
) -> dict[str, int]:
    """Which transactions are in the wallet now, at which height (0: mempool).

    Those in the new histories, plus stored active ones that touch a script whose history was
    not re-read (a suspect, reorged-out tx is only kept if a history still lists it)."""
    ours = {r.script_pubkey for r in refs.values()}
    changed_spks = {refs[k].script_pubkey for k in histories}
    present: dict[str, int] = {txid: e.height for txid, e in _entries(histories).items()}
    touch = scripts_of_stored(stored)
    for t in stored.txs.values():
        if t.txid in present or t.status not in ACTIVE_TX_STATUSES or t.txid in suspects:
            continue
        touched = touch.get(t.txid, set()) & ours
        if touched and not touched <= changed_spks:
            present[t.txid] = t.height if t.status == TX_CONFIRMED and t.height else 0
    return present


def missing_txids(present: Iterable[str], stored: StoredWallet, inline: dict[str, ChainTx]) -> list[str]:
    """The wallet's transactions neither stored nor sent inline: to fetch by txid."""
    return [t for t in present if t not in inline and t not in stored.txs]


def decoded(
    present: Iterable[str], stored: StoredWallet, inline: dict[str, ChainTx], fetched: dict[str, ChainTx]
) -> dict[str, ChainTx]:
    """Each present transaction, decoded: inline, else stored, else fetched; one that vanished
    between its history and the fetch (evicted) is left out."""
    txs: dict[str, ChainTx] = {}
    for txid in present:
        if txid in inline:
            txs[txid] = inline[txid]
        elif txid in stored.txs:
            txs[txid] = stored.txs[txid].tx
        elif txid in fetched:
            txs[txid] = fetched[txid]
    return txs


def confirmations(
    present: dict[str, int],
    stored: StoredWallet,
    inline: dict[str, ChainTx],
    suspects: set[str],
    headers: dict[int, BlockHeader],
) -> tuple[dict[str, Block], set[int]]:
    """Block hash and time per present transaction, and the heights that need a header (new or
    moved confirmations that neither the inline data nor the store answer)."""
    block: dict[str, Block] = {}
    need: set[int] = set()
    for txid, height in present.items():
        if height <= 0:
            block[txid] = (None, None)
            continue
        tx = inline.get(txid)
        old = stored.txs.get(txid)
        if tx is not None and tx.height == height and tx.block_hash:
            block[txid] = (tx.block_hash, _ts(tx.block_time))
        elif old is not None and old.height == height and old.block_hash and txid not in suspects:
            block[txid] = (old.block_hash, old.block_time)
        else:
            need.add(height)
            h = headers.get(height)
            block[txid] = (h.hash, _ts(h.time)) if h else (None, None)
    return block, need


def fill_prevouts(txs: dict[str, ChainTx], stored: StoredWallet, parents: dict[str, ChainTx]) -> dict[str, ChainTx]:
    """Input values and scripts from the wallet's own transactions first, then from ``parents``;
    a transaction whose inputs are all known gets its fee."""

    def lookup(i: TxInput) -> TxOutput | None:
        if i.prev_txid in txs:
            parent: ChainTx | None = txs[i.prev_txid]
        elif i.prev_txid in stored.txs:
            parent = stored.txs[i.prev_txid].tx
        else:
            parent = parents.get(i.prev_txid)
        if parent is not None and i.prev_vout < len(parent.outputs):
            return parent.outputs[i.prev_vout]
        return None

    return {
        txid: with_prevouts(tx, lookup) if any(i.value is None and not i.is_coinbase for i in tx.inputs) else tx
        for txid, tx in txs.items()
    }


def parents_needed(txs: dict[str, ChainTx], histories: dict[Key, ScripthashHistory]) -> set[str]:
    """Parents to fetch for fees: of transactions whose fee is still unknown (and not given by
    the history) and that have inputs of unknown value."""
    fee_known = {txid for txid, e in _entries(histories).items() if e.fee is not None}
    need = {
        i.prev_txid
        for txid, tx in txs.items()
        if tx.fee is None and txid not in fee_known and not tx.is_coinbase
        for i in tx.inputs
        if i.value is None
    }
    return need - set(txs)


def apply(stored: StoredWallet, update: ChainUpdate) -> SyncResult:
    """The wallet's complete new view: transactions with their direction and amounts, those
    that left (replaced or evicted), outputs and spenders, per-script stats, balances."""
    st = stored
    ours: dict[str, ScriptRef] = {r.script_pubkey: r for r in update.refs.values()}
    entries = _entries(update.histories)
    present = wallet_txids(st, update.refs, update.histories, update.suspects)
    txs = decoded(present, st, update.inline, update.fetched)
    present = {txid: h for txid, h in present.items() if txid in txs}
    block, _ = confirmations(present, st, update.inline, update.suspects, update.headers)
    txs = fill_prevouts(txs, st, update.parents)
    fee_from_history = {txid: e.fee for txid, e in entries.items() if e.fee is not None}

    # 5. Outputs, spenders, wallet view per transaction.
    spenders: dict[tuple[str, int], str] = {}
    for txid, tx in txs.items():
        for i in tx.inputs:
            spenders[(i.prev_txid, i.prev_vout)] = txid
    outputs: dict[tuple[str, int], OutputRecord] = {}
    views: dict[str, TxRecord] = {}
    new_txids: list[str] = []
    for txid, height in present.items():
        tx = txs[txid]
        received = 0
        for n, o in enumerate(tx.outputs):
            ref = ours.get(o.script_pubkey)
            if ref is None:
                continue
            received += o.value
            outputs[(txid, n)] = OutputRecord(
                txid,
                n,
                o.value,
                ref.chain,
                ref.index,
                o.script_pubkey,
                height if height > 0 else None,
                spenders.get((txid, n)),
            )
        our_inputs = [i for i in tx.inputs if i.script_pubkey in ours]
        sent = sum(i.value or 0 for i in our_inputs)
        fee = tx.fee if tx.fee is not None else tx.compute_fee()
        if fee is None:
            fee = fee_from_history.get(txid)
        net = received - sent
        if sent == 0:
            direction = INCOMING
        elif len(our_inputs) == len(tx.inputs) and all(o.script_pubkey in ours for o in tx.outputs):
            direction = SELF
        else:
            direction = OUTGOING if net < 0 else INCOMING
        old = st.txs.get(txid)
        if old is None or old.status not in ACTIVE_TX_STATUSES:
            new_txids.append(txid)
        bhash, btime = block.get(txid, (None, None))
        views[txid] = TxRecord(
            txid=txid,
            status=TX_CONFIRMED if height > 0 else TX_MEMPOOL,
            height=height if height > 0 else None,
            block_hash=bhash,
            block_time=btime,
            first_seen=old.first_seen if old else update.seen_at,
            fee=fee,
            vsize=tx.vsize,
            weight=tx.weight,
            received=received,
            sent=sent,
            net_amount=net,
            direction=direction,
            replaced_by=None,
            io=serialize(tx),
            tx=tx,
        )

    # 6. Transactions that left: replaced (a present tx spends one of their inputs) or evicted.
    spent_by_present = {(i.prev_txid, i.prev_vout): txid for txid, tx in txs.items() for i in tx.inputs}
    for t in st.txs.values():
        if t.txid in views:
            continue
        replaced_by = next(
            (
                spent_by_present[(i.prev_txid, i.prev_vout)]
                for i in t.tx.inputs
                if (i.prev_txid, i.prev_vout) in spent_by_present
            ),
            t.replaced_by,
        )
        status = TX_REPLACED if replaced_by else TX_EVICTED
        old_record = record_of_stored(t)
        old_record.status = status
        old_record.replaced_by = replaced_by
        old_record.height = None if status != t.status else t.height
        if status != t.status:
            old_record.block_hash = None
            old_record.block_time = None
        views[t.txid] = old_record

    # 7. Per-script stats and balances.
    per_script_received: dict[str, int] = {}
    per_script_balance: dict[str, int] = {}
    confirmed = total = 0
    for ov in outputs.values():
        per_script_received[ov.script_pubkey] = per_script_received.get(ov.script_pubkey, 0) + ov.value
        spender = ov.spent_by
        if spender is None:
            total += ov.value
            per_script_balance[ov.script_pubkey] = per_script_balance.get(ov.script_pubkey, 0) + ov.value
        creator_confirmed = views[ov.txid].status == TX_CONFIRMED
        spender_confirmed = spender is not None and views[spender].status == TX_CONFIRMED
        if creator_confirmed and not spender_confirmed:
            confirmed += ov.value
    scripts: dict[tuple[int, int], ScriptRecord] = {}
    for key, ref in update.refs.items():
        old_s = st.scripts.get(key)
        new_hist = update.histories.get(key)
        sh_status: str | None
        if new_hist is not None:
            sh_status, count = new_hist.status, len(new_hist.entries)
        elif old_s is not None:
            sh_status, count = old_s.status, old_s.tx_count
        else:
            continue  # derived but never asked (cannot happen) - skip
        used = count > 0 or (old_s.used if old_s else False)
        scripts[key] = ScriptRecord(
            ref,
            sh_status,
            count,
            per_script_received.get(ref.script_pubkey, 0),
            per_script_balance.get(ref.script_pubkey, 0),
            used,
        )

    changed = bool(update.histories) or bool(update.suspects) or st.tip_hash != update.tip_hash
    changed = changed or any(differs(views[t], st.txs.get(t)) for t in views)
    return SyncResult(
        tip_height=update.tip_height,
        tip_hash=update.tip_hash,
        outcome=Outcome.UPDATED if changed else Outcome.REFRESHED,
        txs=views,
        outputs=outputs,
        scripts=scripts,
        confirmed=confirmed,
        unconfirmed=total - confirmed,
        new_txids=new_txids,
    )


def _entries(histories: dict[Key, ScripthashHistory]) -> dict[str, HistoryEntry]:
    entries: dict[str, HistoryEntry] = {}
    for hist in histories.values():
        for e in hist.entries:
            entries[e.txid] = e
    return entries


def _ts(unix: int | None) -> datetime | None:
    return datetime.fromtimestamp(unix, UTC) if unix else None


def next_stored(previous: StoredWallet, result: SyncResult) -> StoredWallet:
    """What :func:`load_stored` would read after :func:`save_result` wrote ``result``, built in
    memory (the service keeps it so that the next incremental sync skips reloading the wallet)."""
    if not result.rebuilt:
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


def record_of_stored(t: StoredTx) -> TxRecord:
    return TxRecord(
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


def differs(view: TxRecord, old: StoredTx | None) -> bool:
    if old is None:
        return True
    return (view.status, view.height, view.block_hash, view.replaced_by) != (
        old.status,
        old.height,
        old.block_hash,
        old.replaced_by,
    )
