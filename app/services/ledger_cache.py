"""Per-wallet ledgers kept in memory and caught up from what the syncs wrote since, so analytics
(value, performance, cost basis, reports) do not re-read every transaction on every request.

A wallet's cached ledger stands for its sync state's ``updated_at`` (the stamp every sync that
writes moves, see ``app/sync/persist.py``). On each use the stamps of the user's wallets are read
(one small query); for a wallet whose stamp moved only the rows written since the newest one
already held are read, and applied: new and changed transactions replace their move, transactions
no longer active (reorged out, replaced, evicted) leave. Transaction rows are never deleted while
their wallet exists; a deleted wallet loses its sync state and so its cached ledger.

Wallets without a sync state are read in full every time and not cached. A reader whose snapshot
is older than the cache (a stamp earlier than the cached one) reads in full and leaves the cache
alone, so it never mixes states.

Every change of a user's cached ledgers moves that user's *generation* and is journalled with the
txids it touched, so what is derived from the ledger (cost-basis lots, daily balance series, see
``app/services/portfolios_cache.py``) can be patched for those txids instead of rebuilt:
:meth:`LedgerCache.snapshot` answers the generation with the moves, :meth:`LedgerCache.changed_since`
the txids touched after a generation (None when the journal no longer reaches back).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from app.analytics.costbasis import WalletMove
from app.sync.queries import SyncQueries


@dataclass
class _WalletLedger:
    stamp: datetime
    written: datetime | None = None  # newest row write seen
    moves: dict[str, WalletMove] = field(default_factory=dict)  # txid -> the wallet's move, while active


JOURNAL = 256  # changes remembered per user


@dataclass(frozen=True)
class LedgerSnapshot:
    moves: list[WalletMove]
    generation: int | None  # None: some wallet was read past the cache (see LedgerCache.snapshot)
    stamps: dict[str, datetime]  # wallet id -> its sync state's stamp, as read


class LedgerCache:
    def __init__(self, sync: SyncQueries) -> None:
        self.sync = sync
        self.rows_read = 0  # transaction rows read from the store (tests, bench)
        self._users: dict[str, dict[str, _WalletLedger]] = {}
        self._generation: dict[str, int] = {}
        self._journal: dict[str, deque[tuple[int, frozenset[str]]]] = {}

    def generation(self, user_id: str) -> int:
        return self._generation.get(user_id, 0)

    def changed_since(self, user_id: str, generation: int) -> set[str] | None:
        """The txids whose moves changed (appeared, changed or left) after ``generation``; None
        when that is no longer known (too many changes since, or a generation of another cache)."""
        now = self.generation(user_id)
        if generation == now:
            return set()
        journal = self._journal.get(user_id)
        if generation > now or not journal or journal[0][0] > generation + 1:
            return None
        out: set[str] = set()
        for gen, txids in journal:
            if gen > generation:
                out |= txids
        return out

    def _moved(self, user_id: str, txids: set[str]) -> None:
        if not txids:
            return
        gen = self._generation[user_id] = self.generation(user_id) + 1
        self._journal.setdefault(user_id, deque(maxlen=JOURNAL)).append((gen, frozenset(txids)))

    async def snapshot(self, user_id: str, wallet_ids: Sequence[str]) -> LedgerSnapshot:
        """:meth:`ledger` with the generation it stands for (None when some wallet was read past
        the cache: a reader behind the cache) and the stamps it was read at."""
        return await self._ledger(user_id, wallet_ids)

    async def ledger(self, user_id: str, wallet_ids: Sequence[str]) -> list[WalletMove]:
        """Every active transaction of these wallets of the user (as ``SyncQueries.ledger``)."""
        return (await self._ledger(user_id, wallet_ids)).moves

    async def _ledger(self, user_id: str, wallet_ids: Sequence[str]) -> LedgerSnapshot:
        stamps = await self.sync.ledger_versions(user_id)
        cached = self._users.setdefault(user_id, {})
        touched: set[str] = set()
        for wallet_id in [w for w in cached if w not in stamps]:
            touched |= cached.pop(wallet_id).moves.keys()
        since: dict[str, datetime | None] = {}
        keep: set[str] = set()  # wallets whose full read goes into the cache
        for w in wallet_ids:
            stamp, have = stamps.get(w), cached.get(w)
            if have is not None and stamp == have.stamp:
                continue
            if have is not None and stamp is not None and stamp > have.stamp and have.written is not None:
                since[w] = have.written
                continue
            since[w] = None
            if stamp is not None and (have is None or stamp > have.stamp):
                keep.add(w)
        changes = await self.sync.ledger_changes(user_id, since) if since else []
        self.rows_read += len(changes)
        full: dict[str, dict[str, WalletMove]] = {w: {} for w, at in since.items() if at is None}
        for ch in changes:
            target = full.get(ch.wallet_id)
            if target is None:  # caught up in place
                wl = cached[ch.wallet_id]
                touched.add(ch.txid)
                if ch.move is None:
                    wl.moves.pop(ch.txid, None)
                else:
                    wl.moves[ch.txid] = ch.move
                wl.written = ch.written_at if wl.written is None else max(wl.written, ch.written_at)
            elif ch.move is not None:
                target[ch.txid] = ch.move
        for w, at in since.items():
            if at is not None:
                cached[w].stamp = stamps[w]
        for w in keep:
            written = max((ch.written_at for ch in changes if ch.wallet_id == w), default=None)
            old = cached.get(w)
            touched |= full[w].keys() | (old.moves.keys() if old is not None else set())
            cached[w] = _WalletLedger(stamps[w], written, full[w])
        self._moved(user_id, touched)
        out: list[WalletMove] = []
        past_cache = False
        for w in wallet_ids:
            if w in full and w not in keep and (w in stamps or full[w]):
                past_cache = True  # read past the cache (a wallet with no sync state and no rows is none)
            out.extend((full[w] if w in full else cached[w].moves if w in cached else {}).values())
        return LedgerSnapshot(out, None if past_cache else self.generation(user_id), stamps)
