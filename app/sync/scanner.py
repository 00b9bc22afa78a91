"""Fetch: scan one wallet's scripts on a chain backend (tip and reorg check, gap-limit scan,
transactions, block headers, prevouts) and build its new view.

The algorithm (see ``docs/sync.md``):

1. **Tip and reorg check.** Read the tip. When it moved since the last sync, compare the block
   hashes we stored for recent confirmed transactions with the chain's; a mismatch marks those
   transactions suspect and their scripts are re-read in full.
2. **Scan with the gap limit**, both chains concurrently. The first request covers every script
   already known plus the gap; each answer that shows a newly used script extends the window so
   that ``gap_limit`` unused scripts always follow the last used one. With a previous status per
   script the backend answers only what changed (Electrum: one batched round trip of status
   hashes; Esplora: paging stops at the first known confirmed transaction).
3. **Fetch** the transactions not stored yet (Esplora returns them inline; Electrum in batches),
   block headers for confirmation times, and the parents of foreign inputs for fees.
4. **Build the wallet's view** in memory (:mod:`app.sync.view`).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from app.chain.backend import (
    ChainBackend,
    ChainTx,
    HistoryEntry,
    KnownHistory,
    ScripthashHistory,
    TxInput,
    TxOutput,
    scripthash_of,
)
from app.store.models.chain import (
    ACTIVE_TX_STATUSES,
    TX_CONFIRMED,
    TX_EVICTED,
    TX_MEMPOOL,
    TX_REPLACED,
)
from app.sync.codec import serialize
from app.sync.model import (
    INCOMING,
    OUTGOING,
    SELF,
    Deriver,
    MempoolSnapshot,
    OutputView,
    Progress,
    ScanProgress,
    ScriptRef,
    ScriptView,
    StoredWallet,
    SyncResult,
    TxView,
)
from app.sync.view import differs, view_of_stored, with_prevouts

REORG_WINDOW = 144  # blocks below the tip whose hashes we verify after the tip moved


class WalletScanner:
    """Scans one wallet on one backend. Pure with respect to the store: stored state in,
    :class:`SyncResult` out."""

    def __init__(
        self,
        backend: ChainBackend,
        derive: Deriver,
        gap_limit: int,
        stored: StoredWallet,
        *,
        full: bool = False,
        progress: Progress | None = None,
        batch_size: int | None = None,
        mempool: MempoolSnapshot | None = None,
        fresh: bool = False,
    ) -> None:
        self.backend = backend
        self.derive = derive
        self.gap = gap_limit
        self.stored = stored
        self.full = full
        self.progress = progress
        # Scripts asked per request round: at least the gap; wider windows save round trips.
        self.batch = max(gap_limit, batch_size or 0)
        self.refs: dict[tuple[int, int], ScriptRef] = {k: s.ref for k, s in stored.scripts.items()}
        self.histories: dict[tuple[int, int], ScripthashHistory] = {}
        self.unchanged: set[tuple[int, int]] = set()
        self.inline_txs: dict[str, ChainTx] = {}
        self.scanned = 0
        self.now = datetime.now(UTC)
        self.mempool_before = mempool
        self.fresh = fresh  # ask the server even where a notification-fed cache exists
        self.mempool_now: MempoolSnapshot | None = None

    # -- derivation ---------------------------------------------------------------------------

    def _refs(self, chain: int, start: int, end: int) -> list[ScriptRef]:
        missing = [i for i in range(start, end) if (chain, i) not in self.refs]
        if missing:
            lo, hi = missing[0], missing[-1] + 1
            for i, spk in zip(range(lo, hi), self.derive(chain, lo, hi - lo), strict=True):
                if (chain, i) not in self.refs:
                    self.refs[(chain, i)] = ScriptRef(chain, i, spk.hex(), scripthash_of(spk))
        return [self.refs[(chain, i)] for i in range(start, end)]

    # -- steps ----------------------------------------------------------------------------------

    async def _report(self, phase: str) -> None:
        if self.progress is not None:
            txs = {e.txid for h in self.histories.values() for e in h.entries}
            await self.progress(ScanProgress(phase, self.scanned, len(txs)))

    async def _suspects(self, tip_height: int, tip_hash: str) -> set[str]:
        """Stored confirmed txids whose block is no longer on the best chain."""
        st = self.stored
        confirmed = [t for t in st.txs.values() if t.status == TX_CONFIRMED and t.height]
        suspects = {t.txid for t in confirmed if (t.height or 0) > tip_height}
        if st.tip_hash == tip_hash or not confirmed:
            return suspects
        heights = {t.height for t in confirmed if t.height and tip_height - REORG_WINDOW < t.height <= tip_height}
        if not heights:
            return suspects
        hashes = await self.backend.block_hashes(sorted(heights))
        for t in confirmed:
            if t.height in heights and hashes.get(t.height) != t.block_hash:
                suspects.add(t.txid)
        return suspects

    def _known(self, key: tuple[int, int], suspect_scripts: set[str]) -> KnownHistory | None:
        if self.full:
            return None
        s = self.stored.scripts.get(key)
        if s is None or s.ref.script_pubkey in suspect_scripts:
            return None
        return KnownHistory(s.status, self._confirmed_by_script.get(s.ref.script_pubkey, {}))

    async def _scan_chain(self, chain: int, suspect_scripts: set[str]) -> None:
        stored_idx = [i for (c, i) in self.stored.scripts if c == chain]
        last_used = max((i for (c, i), s in self.stored.scripts.items() if c == chain and s.used), default=-1)
        start = 0
        end = max(len(stored_idx), last_used + 1 + self.gap, self.batch)
        while start < end:
            refs = self._refs(chain, start, end)
            known = {}
            for r in refs:
                k = self._known((r.chain, r.index), suspect_scripts)
                if k is not None:
                    known[r.scripthash] = k
            answers = await self.backend.histories([r.scripthash for r in refs], known or None, fresh=self.fresh)
            for r in refs:
                key = (r.chain, r.index)
                hist = answers.get(r.scripthash)
                if hist is None:
                    self.unchanged.add(key)
                    used = self.stored.scripts[key].used
                else:
                    self.histories[key] = hist
                    self.inline_txs.update(hist.txs)
                    used = bool(hist.entries) or (key in self.stored.scripts and self.stored.scripts[key].used)
                if used:
                    last_used = max(last_used, r.index)
            self.scanned += len(refs)
            start = end
            end = max(end, last_used + 1 + self.gap)
            if start < end:
                end = max(end, start + self.batch)
            await self._report("scanning")

    async def run(self) -> SyncResult:
        started = time.monotonic()
        requests_before = _request_count(self.backend)
        st = self.stored
        tip = await self.backend.tip()
        suspects = await self._suspects(tip.height, tip.hash)

        fast = await self._mempool_delta(tip.hash, suspects)
        if fast == []:
            # Same tip and nothing of ours in the mempool's changes: nothing to ask.
            self.scanned = 0
            result = SyncResult(tip.height, tip.hash, {}, {}, {}, 0, 0, [], False, unchanged=True)
            result.scripthashes = [r.scripthash for r in self.refs.values()]
            result.mempool, result.fast_path = self.mempool_now, True
            result.requests = _request_count(self.backend) - requests_before
            result.seconds = time.monotonic() - started
            return result

        # Scripts touched by each stored tx (outputs paying them, inputs spending from them).
        self._touch: dict[str, set[str]] = {}
        self._confirmed_by_script: dict[str, dict[str, int]] = {}
        for t in st.txs.values():
            spks = {o.script_pubkey for o in t.tx.outputs} | {i.script_pubkey for i in t.tx.inputs if i.script_pubkey}
            self._touch[t.txid] = spks
            if t.status == TX_CONFIRMED and t.height and t.txid not in suspects:
                for spk in spks:
                    self._confirmed_by_script.setdefault(spk, {})[t.txid] = t.height
        suspect_scripts = set().union(*(self._touch[t] for t in suspects)) if suspects else set()

        if fast is not None:
            # Same tip, and the mempool delta says which scripts (if any) to look at.
            self.scanned = len(fast)
            refs = [self.refs[k] for k in fast]
            if refs:
                known = {r.scripthash: k for r in refs if (k := self._known((r.chain, r.index), set())) is not None}
                answers = await self.backend.histories([r.scripthash for r in refs], known or None, fresh=self.fresh)
                for r in refs:
                    hist = answers.get(r.scripthash)
                    if hist is not None:
                        self.histories[(r.chain, r.index)] = hist
                        self.inline_txs.update(hist.txs)
        else:
            await self._report("scanning")
            await asyncio.gather(self._scan_chain(0, suspect_scripts), self._scan_chain(1, suspect_scripts))
        if not self.histories and not suspects and st.scripts:
            # Nothing changed: skip rebuilding the view (the common case of a periodic resync).
            result = SyncResult(tip.height, tip.hash, {}, {}, {}, 0, 0, [], st.tip_hash != tip.hash, unchanged=True)
        else:
            await self._report("fetching")
            result = await self._build(tip.height, tip.hash, suspects)
        result.scripthashes = [r.scripthash for r in self.refs.values()]
        result.mempool = self.mempool_now
        result.fast_path = fast is not None
        result.requests = _request_count(self.backend) - requests_before
        result.seconds = time.monotonic() - started
        await self._report("storing")  # "done" is published once the results are committed
        return result

    async def _mempool_delta(self, tip_hash: str, suspects: set[str]) -> list[tuple[int, int]] | None:
        """Esplora fast path. Takes a mempool snapshot for next time; when the previous one was
        taken at this same tip, returns the scripts touched by the mempool's changes since
        (possibly none). ``None``: ask address by address."""
        probe = getattr(self.backend, "mempool_txids", None)
        if probe is None or self.full:
            return None
        txids = await probe()
        if txids is None:
            return None
        self.mempool_now = MempoolSnapshot(tip_hash, txids)
        st, before = self.stored, self.mempool_before
        if before is None or before.tip_hash != tip_hash or st.tip_hash != tip_hash or suspects or not st.scripts:
            return None
        added, removed = txids - before.txids, before.txids - txids
        ours_in_mempool = {t.txid for t in st.txs.values() if t.status == TX_MEMPOOL}
        if removed & ours_in_mempool or len(added) > 500:
            return None  # one of ours left the mempool (mined? replaced?), or too much changed
        touched: set[tuple[int, int]] = set()
        if added:
            spk_key = {s.ref.script_pubkey: k for k, s in st.scripts.items()}
            outpoint_spk: dict[tuple[str, int], str] = {}
            for t in st.txs.values():
                for n, o in enumerate(t.tx.outputs):
                    if o.script_pubkey in spk_key:
                        outpoint_spk[(t.txid, n)] = o.script_pubkey
            for tx in (await self.backend.transactions(sorted(added))).values():
                for o in tx.outputs:
                    if o.script_pubkey in spk_key:
                        touched.add(spk_key[o.script_pubkey])
                for i in tx.inputs:
                    spk = outpoint_spk.get((i.prev_txid, i.prev_vout))
                    if spk is not None:
                        touched.add(spk_key[spk])
        # A payment to a script near the end of the window reveals new addresses: full scan.
        for chain in (0, 1):
            last = max((i for (c, i) in st.scripts if c == chain), default=-1)
            if any(c == chain and i > last - self.gap for (c, i) in touched):
                return None
        return sorted(touched)

    # -- building the view ------------------------------------------------------------------

    async def _build(self, tip_height: int, tip_hash: str, suspects: set[str]) -> SyncResult:
        st = self.stored
        ours: dict[str, ScriptRef] = {r.script_pubkey: r for r in self.refs.values()}
        changed_spks = {self.refs[k].script_pubkey for k in self.histories}

        # 1. Which transactions are in the wallet now, at which height.
        entries: dict[str, HistoryEntry] = {}
        for hist in self.histories.values():
            for e in hist.entries:
                entries[e.txid] = e
        present: dict[str, int] = {txid: e.height for txid, e in entries.items()}
        for t in st.txs.values():
            if t.txid in present or t.status not in ACTIVE_TX_STATUSES or t.txid in suspects:
                continue
            touched = self._touch.get(t.txid, set()) & set(ours)
            if touched and not touched <= changed_spks:
                present[t.txid] = t.height if t.status == TX_CONFIRMED and t.height else 0

        # 2. Decoded transactions: stored, inline (Esplora), or fetched (Electrum).
        txs: dict[str, ChainTx] = {}
        for txid in present:
            if txid in self.inline_txs:
                txs[txid] = self.inline_txs[txid]
            elif txid in st.txs:
                txs[txid] = st.txs[txid].tx
        missing = [t for t in present if t not in txs]
        if missing:
            fetched = await self.backend.transactions(missing)
            txs.update(fetched)
            for gone_txid in missing:
                if gone_txid not in txs:  # vanished between history and fetch (evicted)
                    present.pop(gone_txid, None)

        # 3. Confirmation data: block hash and time for new or moved confirmations.
        need_headers = set()
        block: dict[str, tuple[str | None, datetime | None]] = {}
        for txid, height in present.items():
            if height <= 0:
                block[txid] = (None, None)
                continue
            inline = self.inline_txs.get(txid)
            old = st.txs.get(txid)
            if inline is not None and inline.height == height and inline.block_hash:
                block[txid] = (inline.block_hash, _ts(inline.block_time))
            elif old is not None and old.height == height and old.block_hash and txid not in suspects:
                block[txid] = (old.block_hash, old.block_time)
            else:
                need_headers.add(height)
        if need_headers:
            headers = await self.backend.block_headers(sorted(need_headers))
            for txid, height in present.items():
                if txid not in block and height > 0:
                    h = headers.get(height)
                    block[txid] = (h.hash, _ts(h.time)) if h else (None, None)

        # 4. Prevouts: values and scripts of inputs, from the wallet's own transactions first.
        def lookup(i: TxInput) -> TxOutput | None:
            parent = txs.get(i.prev_txid) or (st.txs[i.prev_txid].tx if i.prev_txid in st.txs else None)
            if parent is not None and i.prev_vout < len(parent.outputs):
                return parent.outputs[i.prev_vout]
            return None

        for txid, tx in list(txs.items()):
            if any(i.value is None and not i.is_coinbase for i in tx.inputs):
                txs[txid] = with_prevouts(tx, lookup)
        fee_from_history = {txid: e.fee for txid, e in entries.items() if e.fee is not None}
        needs_parents = {
            i.prev_txid
            for txid, tx in txs.items()
            if tx.fee is None and txid not in fee_from_history and not tx.is_coinbase
            for i in tx.inputs
            if i.value is None
        }
        needs_parents -= set(txs)
        if needs_parents:
            parents = await self.backend.transactions(sorted(needs_parents))
            for txid, tx in list(txs.items()):
                if any(i.value is None and not i.is_coinbase for i in tx.inputs):
                    txs[txid] = with_prevouts(
                        tx,
                        lambda i: (
                            parents[i.prev_txid].outputs[i.prev_vout]
                            if i.prev_txid in parents and i.prev_vout < len(parents[i.prev_txid].outputs)
                            else None
                        ),
                    )

        # 5. Outputs, spenders, wallet view per transaction.
        spenders: dict[tuple[str, int], str] = {}
        for txid, tx in txs.items():
            for i in tx.inputs:
                spenders[(i.prev_txid, i.prev_vout)] = txid
        outputs: dict[tuple[str, int], OutputView] = {}
        views: dict[str, TxView] = {}
        new_txids: list[str] = []
        for txid, height in present.items():
            tx = txs[txid]
            received = 0
            for n, o in enumerate(tx.outputs):
                ref = ours.get(o.script_pubkey)
                if ref is None:
                    continue
                received += o.value
                outputs[(txid, n)] = OutputView(
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
            views[txid] = TxView(
                txid=txid,
                status=TX_CONFIRMED if height > 0 else TX_MEMPOOL,
                height=height if height > 0 else None,
                block_hash=bhash,
                block_time=btime,
                first_seen=old.first_seen if old else self.now,
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
            old_view = view_of_stored(t)
            old_view.status = status
            old_view.replaced_by = replaced_by
            old_view.height = None if status != t.status else t.height
            if status != t.status:
                old_view.block_hash = None
                old_view.block_time = None
            views[t.txid] = old_view

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
        scripts: dict[tuple[int, int], ScriptView] = {}
        for key, ref in self.refs.items():
            old_s = st.scripts.get(key)
            new_hist = self.histories.get(key)
            sh_status: str | None
            if new_hist is not None:
                sh_status, count = new_hist.status, len(new_hist.entries)
            elif old_s is not None:
                sh_status, count = old_s.status, old_s.tx_count
            else:
                continue  # derived but never asked (cannot happen) - skip
            used = count > 0 or (old_s.used if old_s else False)
            scripts[key] = ScriptView(
                ref,
                sh_status,
                count,
                per_script_received.get(ref.script_pubkey, 0),
                per_script_balance.get(ref.script_pubkey, 0),
                used,
            )

        changed = bool(self.histories) or bool(suspects) or st.tip_hash != tip_hash
        changed = changed or any(differs(views[t], st.txs.get(t)) for t in views)
        return SyncResult(
            tip_height=tip_height,
            tip_hash=tip_hash,
            txs=views,
            outputs=outputs,
            scripts=scripts,
            confirmed=confirmed,
            unconfirmed=total - confirmed,
            new_txids=new_txids,
            changed=changed,
        )


def _request_count(backend: Any) -> int:
    return int(getattr(backend, "requests", 0))


def _ts(unix: int | None) -> datetime | None:
    return datetime.fromtimestamp(unix, UTC) if unix else None
