"""Per-wallet ledgers kept in memory and caught up from what the syncs wrote since, so analytics
(value, performance, cost basis, reports) do not re-read every transaction on every request.

A wallet's cached ledger stands for its sync state's ``updated_at`` (the stamp every sync that
writes moves, see ``app/sync/persist.py``). On each use the stamps of the user's wallets are read
(one small query); for a wallet whose stamp moved only the rows written since the newest one
already held are read, and applied: new and changed transactions replace their entry, transactions
no longer active (reorged out, replaced, evicted) leave. Transaction rows are never deleted while
their wallet exists; a deleted wallet loses its sync state and so its cached ledger.

Wallets without a sync state are read in full every time and not cached. A reader whose snapshot
is older than the cache (a stamp earlier than the cached one) reads in full and leaves the cache
alone, so it never mixes states.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from app.sync.model import LedgerEntry
from app.sync.queries import SyncQueries


@dataclass
class _WalletLedger:
    stamp: datetime
    written: datetime | None = None  # newest row write seen
    entries: dict[str, LedgerEntry] = field(default_factory=dict)  # txid -> active entry


class LedgerCache:
    def __init__(self, sync: SyncQueries) -> None:
        self.sync = sync
        self.rows_read = 0  # transaction rows read from the store (tests, bench)
        self._users: dict[str, dict[str, _WalletLedger]] = {}

    async def ledger(self, user_id: str, wallet_ids: Sequence[str]) -> list[LedgerEntry]:
        """Every active transaction of these wallets of the user (as ``SyncQueries.ledger``)."""
        stamps = await self.sync.ledger_versions(user_id)
        cached = self._users.setdefault(user_id, {})
        for wallet_id in [w for w in cached if w not in stamps]:
            del cached[wallet_id]
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
        full: dict[str, dict[str, LedgerEntry]] = {w: {} for w, at in since.items() if at is None}
        for ch in changes:
            target = full.get(ch.wallet_id)
            if target is None:  # caught up in place
                wl = cached[ch.wallet_id]
                if ch.entry is None:
                    wl.entries.pop(ch.txid, None)
                else:
                    wl.entries[ch.txid] = ch.entry
                wl.written = ch.written_at if wl.written is None else max(wl.written, ch.written_at)
            elif ch.entry is not None:
                target[ch.txid] = ch.entry
        for w, at in since.items():
            if at is not None:
                cached[w].stamp = stamps[w]
        for w in keep:
            written = max((ch.written_at for ch in changes if ch.wallet_id == w), default=None)
            cached[w] = _WalletLedger(stamps[w], written, full[w])
        out: list[LedgerEntry] = []
        for w in wallet_ids:
            out.extend((full[w] if w in full else cached[w].entries if w in cached else {}).values())
        return out
