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
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from app.chain.backend import ChainBackend, ChainTx, KnownHistory, ScripthashHistory, scripthash_of
from app.store.models.chain import TX_CONFIRMED, TX_MEMPOOL
from app.sync.model import (
    ChainUpdate,
    Deriver,
    MempoolSnapshot,
    Outcome,
    Progress,
    ScanProgress,
    ScriptRef,
    StoredWallet,
    SyncResult,
)
from app.sync.view import (
    apply,
    confirmations,
    decoded,
    fill_prevouts,
    missing_txids,
    parents_needed,
    scripts_of_stored,
    wallet_txids,
)

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
        chains: Sequence[tuple[int, int | None]] = ((0, None), (1, None)),
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
        # The wallet's keychains: (chain, number of scripts), None for a ranged one (gap-limit scan);
        # a non-ranged descriptor (addr(), one key) has exactly one script.
        self.chains = tuple(chains)

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

    async def _scan_chain(self, chain: int, suspect_scripts: set[str], limit: int | None = None) -> None:
        stored_idx = [i for (c, i) in self.stored.scripts if c == chain]
        last_used = max((i for (c, i), s in self.stored.scripts.items() if c == chain and s.used), default=-1)
        start = 0
        end = max(len(stored_idx), last_used + 1 + self.gap, self.batch)
        if limit is not None:
            end = min(end, limit)
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
            if limit is not None:
                end = min(end, limit)
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
            result = SyncResult(tip.height, tip.hash, Outcome.UNCHANGED)
            result.scripthashes = [r.scripthash for r in self.refs.values()]
            result.mempool, result.fast_path = self.mempool_now, True
            result.requests = _request_count(self.backend) - requests_before
            result.seconds = time.monotonic() - started
            return result

        # Scripts touched by each stored tx (outputs paying them, inputs spending from them).
        touch = scripts_of_stored(st)
        self._confirmed_by_script: dict[str, dict[str, int]] = {}
        for t in st.txs.values():
            if t.status == TX_CONFIRMED and t.height and t.txid not in suspects:
                for spk in touch[t.txid]:
                    self._confirmed_by_script.setdefault(spk, {})[t.txid] = t.height
        suspect_scripts = set().union(*(touch[t] for t in suspects)) if suspects else set()

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
            await asyncio.gather(*(self._scan_chain(c, suspect_scripts, limit) for c, limit in self.chains))
        if not self.histories and not suspects and st.scripts:
            # Nothing changed: skip rebuilding the view (the common case of a periodic resync).
            outcome = Outcome.TIP_MOVED if st.tip_hash != tip.hash else Outcome.UNCHANGED
            result = SyncResult(tip.height, tip.hash, outcome)
        else:
            await self._report("fetching")
            result = apply(st, await self._fetch(tip.height, tip.hash, suspects))
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
        for chain, limit in self.chains:
            if limit is not None:
                continue  # a fixed script reveals nothing
            last = max((i for (c, i) in st.scripts if c == chain), default=-1)
            if any(c == chain and i > last - self.gap for (c, i) in touched):
                return None
        return sorted(touched)

    # -- fetching what the view needs ------------------------------------------------------------

    async def _fetch(self, tip_height: int, tip_hash: str, suspects: set[str]) -> ChainUpdate:
        """Everything :func:`app.sync.view.apply` needs beyond the stored state and the histories:
        transactions not stored nor inline, block headers of new confirmations, parents of
        foreign inputs (for fees)."""
        st = self.stored
        update = ChainUpdate(
            tip_height, tip_hash, dict(self.refs), self.histories, suspects, self.now, inline=self.inline_txs
        )
        present = wallet_txids(st, update.refs, update.histories, suspects)
        missing = missing_txids(present, st, update.inline)
        if missing:
            update.fetched = await self.backend.transactions(missing)
        txs = decoded(present, st, update.inline, update.fetched)
        present = {txid: h for txid, h in present.items() if txid in txs}
        _, heights = confirmations(present, st, update.inline, suspects, {})
        if heights:
            update.headers = await self.backend.block_headers(sorted(heights))
        parents = parents_needed(fill_prevouts(txs, st, {}), update.histories)
        if parents:
            update.parents = await self.backend.transactions(sorted(parents))
        return update


def _request_count(backend: Any) -> int:
    return int(getattr(backend, "requests", 0))
