"""Wallet chain sync: scan a wallet's scripts on a chain backend and store the wallet's view.

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
4. **Build the wallet's view** in memory: active transactions (confirmed or mempool), those that
   left (replaced by a conflicting transaction, or evicted), outputs and their spenders, each
   transaction's ``received``/``sent``/``net_amount``/``direction``, per-script stats and
   balances (confirmed, unconfirmed).
5. **Write** the difference in one database transaction (never a half-updated wallet) and
   publish events after the commit.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlmodel import col, select

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
from app.store.db import Tx
from app.store.models.chain import (
    ACTIVE_TX_STATUSES,
    TX_CONFIRMED,
    TX_EVICTED,
    TX_MEMPOOL,
    TX_REPLACED,
    WalletOutput,
    WalletScript,
    WalletSyncState,
    WalletTx,
)

log = structlog.get_logger(__name__)

REORG_WINDOW = 144  # blocks below the tip whose hashes we verify after the tip moved
INCOMING, OUTGOING, SELF = "INCOMING", "OUTGOING", "SELF"

# (chain, start, count) -> scriptPubKeys
Deriver = Callable[[int, int, int], Sequence[bytes]]
Progress = Callable[["ScanProgress"], Awaitable[None]]


# --------------------------------------------------------------------------------------------
# io encoding


def encode_io(tx: ChainTx) -> str:
    return json.dumps(
        {
            "v": tx.version,
            "l": tx.locktime,
            "i": [[i.prev_txid, i.prev_vout, i.sequence, i.value, i.script_pubkey] for i in tx.inputs],
            "o": [[o.value, o.script_pubkey] for o in tx.outputs],
        },
        separators=(",", ":"),
    )


def decode_io(txid: str, io: str, weight: int, fee: int | None) -> ChainTx:
    d = json.loads(io)
    return ChainTx(
        txid=txid,
        version=int(d["v"]),
        locktime=int(d["l"]),
        inputs=tuple(TxInput(a, int(b), int(c), v, s) for a, b, c, v, s in d["i"]),
        outputs=tuple(TxOutput(int(v), s) for v, s in d["o"]),
        weight=weight,
        fee=fee,
    )


# --------------------------------------------------------------------------------------------
# inputs and results


@dataclass(frozen=True, slots=True)
class ScriptRef:
    chain: int
    index: int
    script_pubkey: str  # hex
    scripthash: str


@dataclass(slots=True)
class StoredScript:
    ref: ScriptRef
    status: str | None
    tx_count: int
    used: bool


@dataclass(slots=True)
class StoredTx:
    txid: str
    status: str
    height: int | None
    block_hash: str | None
    block_time: datetime | None
    first_seen: datetime
    tx: ChainTx  # decoded io (confirmation fields not set)
    replaced_by: str | None = None
    received: int = 0
    sent: int = 0
    net_amount: int = 0
    direction: str = "INCOMING"


@dataclass(slots=True)
class StoredWallet:
    """What the store knows about a wallet before a sync."""

    scripts: dict[tuple[int, int], StoredScript] = field(default_factory=dict)
    txs: dict[str, StoredTx] = field(default_factory=dict)
    tip_height: int | None = None
    tip_hash: str | None = None


@dataclass(slots=True)
class ScanProgress:
    phase: str
    addresses_scanned: int
    txs_found: int


@dataclass(slots=True)
class TxView:
    """A transaction from the wallet's view, as it will be stored."""

    txid: str
    status: str
    height: int | None
    block_hash: str | None
    block_time: datetime | None
    first_seen: datetime
    fee: int | None
    vsize: int
    weight: int
    received: int
    sent: int
    net_amount: int
    direction: str
    replaced_by: str | None
    io: str
    tx: ChainTx | None = None  # the decoded transaction (kept to reuse as stored state)


@dataclass(slots=True)
class OutputView:
    txid: str
    vout: int
    value: int
    chain: int
    index: int
    script_pubkey: str
    height: int | None
    spent_by: str | None


@dataclass(slots=True)
class ScriptView:
    ref: ScriptRef
    status: str | None
    tx_count: int
    received: int
    balance: int
    used: bool


@dataclass(frozen=True, slots=True)
class MempoolSnapshot:
    """The server's mempool txids seen at the start of a sync, with the tip at that moment.

    Esplora has no per-address status hashes; with a snapshot, the next incremental sync at the
    same tip only looks at the transactions that entered or left the mempool since, instead of
    asking for every address again (a few requests instead of thousands).
    """

    tip_hash: str
    txids: frozenset[str]


@dataclass(slots=True)
class SyncResult:
    """The wallet's complete new view plus what changed (for events)."""

    tip_height: int
    tip_hash: str
    txs: dict[str, TxView]
    outputs: dict[tuple[str, int], OutputView]
    scripts: dict[tuple[int, int], ScriptView]
    confirmed: int
    unconfirmed: int
    new_txids: list[str]
    changed: bool
    requests: int = 0
    seconds: float = 0.0
    unchanged: bool = False  # nothing of the wallet changed: only the tip is to be recorded
    scripthashes: list[str] = field(default_factory=list)  # every script scanned
    mempool: MempoolSnapshot | None = None  # for the next incremental sync (Esplora)
    fast_path: bool = False  # decided from the mempool snapshot, without asking per address

    @property
    def active_txs(self) -> list[TxView]:
        return [t for t in self.txs.values() if t.status in ACTIVE_TX_STATUSES]

    @property
    def utxos(self) -> list[OutputView]:
        return [o for o in self.outputs.values() if o.spent_by is None]


# --------------------------------------------------------------------------------------------
# the scan


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
                txs[txid] = _with_prevouts(tx, lookup)
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
                    txs[txid] = _with_prevouts(
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
                io=encode_io(tx),
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
            old_view = _view_of_stored(t)
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
        changed = changed or any(_differs(views[t], st.txs.get(t)) for t in views)
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


def next_stored(previous: StoredWallet, result: SyncResult) -> StoredWallet:
    """What :func:`load_stored` would read after :func:`save_result` wrote ``result``, built in
    memory (the service keeps it so that the next incremental sync skips reloading the wallet)."""
    if result.unchanged:
        return StoredWallet(previous.scripts, previous.txs, result.tip_height, result.tip_hash)
    out = StoredWallet(tip_height=result.tip_height, tip_hash=result.tip_hash)
    for key, sv in result.scripts.items():
        out.scripts[key] = StoredScript(sv.ref, sv.status, sv.tx_count, sv.used)
    for txid, v in result.txs.items():
        tx = v.tx if v.tx is not None else decode_io(txid, v.io, v.weight, v.fee)
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


def _request_count(backend: Any) -> int:
    return int(getattr(backend, "requests", 0))


def _ts(unix: int | None) -> datetime | None:
    return datetime.fromtimestamp(unix, UTC) if unix else None


def _with_prevouts(tx: ChainTx, lookup: Callable[[TxInput], TxOutput | None]) -> ChainTx:
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


def _view_of_stored(t: StoredTx) -> TxView:
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
        io=encode_io(t.tx),
        tx=t.tx,
    )


def _differs(view: TxView, old: StoredTx | None) -> bool:
    if old is None:
        return True
    return (view.status, view.height, view.block_hash, view.replaced_by) != (
        old.status,
        old.height,
        old.block_hash,
        old.replaced_by,
    )


# --------------------------------------------------------------------------------------------
# store access (owner-scoped)


async def load_stored(s: Tx, user_id: str, wallet_id: str) -> StoredWallet:
    out = StoredWallet()
    rows = await s.exec(
        select(WalletScript).where(WalletScript.user_id == user_id, WalletScript.wallet_id == wallet_id)
    )
    for r in rows:
        ref = ScriptRef(r.chain, r.index, r.script_pubkey, r.scripthash)
        out.scripts[(r.chain, r.index)] = StoredScript(ref, r.status, r.tx_count, r.used)
    txs = await s.exec(select(WalletTx).where(WalletTx.user_id == user_id, WalletTx.wallet_id == wallet_id))
    for t in txs:
        out.txs[t.txid] = StoredTx(
            t.txid,
            t.status,
            t.height,
            t.block_hash,
            t.block_time,
            t.first_seen,
            decode_io(t.txid, t.io, t.weight, t.fee),
            t.replaced_by,
            t.received,
            t.sent,
            t.net_amount,
            t.direction,
        )
    state = await s.get(WalletSyncState, wallet_id)
    if state is not None and state.user_id == user_id:
        out.tip_height, out.tip_hash = state.tip_height, state.tip_hash
    return out


async def _bulk_insert(s: Tx, rows: list[Any]) -> None:
    """Insert many new model objects in one executemany (much faster than the unit of work)."""
    if not rows:
        return
    table = type(rows[0]).__table__  # type: ignore[attr-defined]
    cols = [c.name for c in table.columns]
    await s.exec(sa.insert(table), params=[{c: getattr(r, c) for c in cols} for r in rows])  # type: ignore[call-overload]


async def save_result(
    s: Tx,
    user_id: str,
    wallet_id: str,
    result: SyncResult,
    *,
    backend: str,
    addresses_scanned: int,
) -> datetime:
    """Write the wallet's new view as a difference from what is stored (one transaction).

    Returns the sync state's new ``updated_at``, a version stamp of what was written."""
    now = datetime.now(UTC)
    if result.unchanged:
        state = await s.get(WalletSyncState, wallet_id)
        if state is not None and state.user_id == user_id:
            state.status, state.phase, state.last_error = "SYNCED", "done", None
            state.last_synced_at = now
            state.tip_height, state.tip_hash = result.tip_height, result.tip_hash
            state.backend = backend
            state.addresses_scanned = addresses_scanned
            state.updated_at = now
            s.add(state)
        return now

    # Transactions.
    existing = {
        t.txid: t
        for t in await s.exec(select(WalletTx).where(WalletTx.user_id == user_id, WalletTx.wallet_id == wallet_id))
    }
    inserts = []
    for txid, v in result.txs.items():
        row = existing.get(txid)
        values: dict[str, Any] = {
            "status": v.status,
            "height": v.height,
            "block_hash": v.block_hash,
            "block_time": v.block_time,
            "fee": v.fee,
            "vsize": v.vsize,
            "weight": v.weight,
            "received": v.received,
            "sent": v.sent,
            "net_amount": v.net_amount,
            "direction": v.direction,
            "replaced_by": v.replaced_by,
        }
        if row is None:
            inserts.append(
                WalletTx(
                    user_id=user_id,
                    wallet_id=wallet_id,
                    txid=txid,
                    first_seen=v.first_seen,
                    updated_at=now,
                    io=v.io,
                    **values,
                )
            )
            continue
        if any(getattr(row, k) != val for k, val in values.items()) or row.io != v.io:
            for k, val in values.items():
                setattr(row, k, val)
            row.io = v.io
            row.updated_at = now
            s.add(row)
    await _bulk_insert(s, inserts)

    # Outputs.
    current = {
        (o.txid, o.vout): o
        for o in await s.exec(
            select(WalletOutput).where(WalletOutput.user_id == user_id, WalletOutput.wallet_id == wallet_id)
        )
    }
    gone = [o.id for k, o in current.items() if k not in result.outputs]
    if gone:
        await s.exec(sa.delete(WalletOutput).where(col(WalletOutput.id).in_(gone)))  # type: ignore[call-overload]
    new_outputs = []
    for okey, ov in result.outputs.items():
        orow = current.get(okey)
        if orow is None:
            new_outputs.append(
                WalletOutput(
                    user_id=user_id,
                    wallet_id=wallet_id,
                    txid=ov.txid,
                    vout=ov.vout,
                    value=ov.value,
                    chain=ov.chain,
                    index=ov.index,
                    script_pubkey=ov.script_pubkey,
                    height=ov.height,
                    spent_by=ov.spent_by,
                )
            )
        elif (orow.height, orow.spent_by, orow.value) != (ov.height, ov.spent_by, ov.value):
            orow.height, orow.spent_by, orow.value = ov.height, ov.spent_by, ov.value
            s.add(orow)
    await _bulk_insert(s, new_outputs)

    # Scripts.
    scripts = {
        (r.chain, r.index): r
        for r in await s.exec(
            select(WalletScript).where(WalletScript.user_id == user_id, WalletScript.wallet_id == wallet_id)
        )
    }
    new_scripts = []
    for key, sv in result.scripts.items():
        srow = scripts.get(key)
        if srow is None:
            new_scripts.append(
                WalletScript(
                    user_id=user_id,
                    wallet_id=wallet_id,
                    chain=sv.ref.chain,
                    index=sv.ref.index,
                    scripthash=sv.ref.scripthash,
                    script_pubkey=sv.ref.script_pubkey,
                    status=sv.status,
                    tx_count=sv.tx_count,
                    received=sv.received,
                    balance=sv.balance,
                    used=sv.used,
                )
            )
        elif (srow.status, srow.tx_count, srow.received, srow.balance, srow.used) != (
            sv.status,
            sv.tx_count,
            sv.received,
            sv.balance,
            sv.used,
        ):
            srow.status, srow.tx_count, srow.received = sv.status, sv.tx_count, sv.received
            srow.balance, srow.used = sv.balance, sv.used
            s.add(srow)
    await _bulk_insert(s, new_scripts)

    # Sync state.
    state = await s.get(WalletSyncState, wallet_id)
    if state is None:
        state = WalletSyncState(wallet_id=wallet_id, user_id=user_id)
    state.status = "SYNCED"
    state.phase = "done"
    state.last_error = None
    state.last_synced_at = now
    state.tip_height, state.tip_hash = result.tip_height, result.tip_hash
    state.backend = backend
    state.confirmed, state.unconfirmed = result.confirmed, result.unconfirmed
    state.tx_count = len(result.active_txs)
    state.utxo_count = len(result.utxos)
    state.addresses_scanned = addresses_scanned
    state.txs_found = len(result.active_txs)
    state.updated_at = now
    s.add(state)
    return now


def derive_scripts(
    derive: Deriver, chain: int, start: int, count: int
) -> list[ScriptRef]:  # pragma: no cover - convenience for callers and benches
    return [
        ScriptRef(chain, start + n, spk.hex(), scripthash_of(spk)) for n, spk in enumerate(derive(chain, start, count))
    ]


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


__all__ = [
    "INCOMING",
    "OUTGOING",
    "SELF",
    "Deriver",
    "OutputView",
    "ScanProgress",
    "ScriptRef",
    "ScriptView",
    "StoredWallet",
    "SyncResult",
    "TxView",
    "WalletScanner",
    "decode_io",
    "encode_io",
    "load_stored",
    "save_result",
]
