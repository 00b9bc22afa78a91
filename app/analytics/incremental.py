"""Derived analytics state patched per transaction instead of rebuilt from every row.

* :class:`ScopedLedger`: the ledger of one scope (a portfolio's wallets) kept from the user's
  per-wallet rows; :meth:`ScopedLedger.patch` replaces the rows of the txids a sync changed and
  says the earliest ``(day, txid)`` whose entries changed. The entries, their order and the
  balance changes (:class:`~app.analytics.returns.Movements`) are those a fresh
  :func:`~app.analytics.costbasis.ledger_from_moves` gives.
* :class:`LotCheckpoint`: a cost-basis run fed the part of the ledger whose prices cannot move any
  more (days up to the last stored close). A later read feeds a copy of it only the entries after
  that day (today's, a new payment's): a price tick, which only moves the days after the last stored
  close, and a sync that only adds entries after it, never replay the history. A change at or
  before that day needs a new checkpoint (the caller builds one from the whole ledger).

Everything here is exact: the same code as a from-scratch computation runs over the same entries
in the same order, only split in two feeds (``tests/portfolios/test_analytics_cache.py`` compares).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import numpy as np

from app.analytics.costbasis import (
    CostBasisResult,
    CostBasisRun,
    EntryKind,
    FeeTreatment,
    LedgerEntry,
    Method,
    WalletMove,
    ledger_from_moves,
)
from app.analytics.pricing import DailyPrices
from app.analytics.returns import Movements

Key = tuple[date, str]
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class ScopedLedger:
    """The ledger of ``scope`` (None: every wallet of the user) from the user's per-wallet rows."""

    def __init__(self, rows: Iterable[WalletMove], scope: frozenset[str] | None) -> None:
        self.scope = scope
        self.groups: dict[str, list[LedgerEntry]] = {}
        for e in ledger_from_moves(rows, set(scope) if scope is not None else None):
            self.groups.setdefault(e.txid, []).append(e)
        self.keys: list[Key] = sorted((g[0].day, t) for t, g in self.groups.items())
        self._entries: list[LedgerEntry] | None = None
        self._movements: Movements | None = None
        self._dirty_from: Key | None = None  # entries and movements from this key on are outdated
        self.tail_rebuilds = 0  # entries and movements patched from a key on, not rebuilt (tests, bench)

    def _of(self, rows: list[WalletMove]) -> list[LedgerEntry]:
        return ledger_from_moves(rows, set(self.scope) if self.scope is not None else None) if rows else []

    def patch(self, changed: Mapping[str, list[WalletMove]]) -> Key | None:
        """Replace the rows of these txids (every wallet's row of each; an empty list: gone).
        Returns the earliest ``(day, txid)`` whose entries changed (None: no entry changed)."""
        lowest: Key | None = None
        for txid, rows in changed.items():
            old = self.groups.get(txid)
            new = self._of(rows)
            if (old or []) == new:
                continue
            for key in ([(old[0].day, txid)] if old else []) + ([(new[0].day, txid)] if new else []):
                lowest = key if lowest is None or key < lowest else lowest
            if old:
                i = bisect.bisect_left(self.keys, (old[0].day, txid))
                del self.keys[i]
                del self.groups[txid]
            if new:
                bisect.insort(self.keys, (new[0].day, txid))
                self.groups[txid] = new
        if lowest is not None and self._entries is not None:  # what is before ``lowest`` is kept
            self._dirty_from = lowest if self._dirty_from is None else min(self._dirty_from, lowest)
        return lowest

    def _catch_up(self) -> None:
        """Rebuild the entries (and movements, when built) from the first changed key on: a payment
        of today changes only the end of a history of thousands of entries."""
        dirty, self._dirty_from = self._dirty_from, None
        old = self._entries
        if dirty is None or old is None:
            return
        groups = self.groups
        first = bisect.bisect_left(self.keys, dirty)
        cut = sum(len(groups[txid]) for _, txid in self.keys[:first])  # entries before ``dirty``: unchanged
        tail = [e for _, txid in self.keys[first:] for e in groups[txid]]
        self._entries = old[:cut] + tail
        if self._movements is not None:
            kept, added = self._movements, movements_of(tail)
            self._movements = Movements(
                np.concatenate([kept.days[:cut], added.days]),
                np.concatenate([kept.net_sats[:cut], added.net_sats]),
                np.concatenate([kept.fee_sats[:cut], added.fee_sats]),
            )
        self.tail_rebuilds += 1

    @property
    def entries(self) -> list[LedgerEntry]:
        """Sorted by day, then txid (as ``ledger_from_moves``)."""
        self._catch_up()
        if self._entries is None:
            groups = self.groups
            self._entries = [e for _, txid in self.keys for e in groups[txid]]
        return self._entries

    @property
    def movements(self) -> Movements:
        """The scope's balance changes (as ``movements_from_ledger`` of :attr:`entries`)."""
        self._catch_up()
        if self._movements is None:
            self._movements = movements_of(self.entries)
        return self._movements


def movements_of(entries: list[LedgerEntry]) -> Movements:
    """The balance changes of these entries, in their order (as ``movements_from_ledger``)."""
    acq = EntryKind.ACQUISITION
    out_kinds = (EntryKind.DISPOSAL, EntryKind.MOVE_OUT)
    net = [
        e.sats if e.kind is acq else (-(e.sats + e.fee_sats) if e.kind in out_kinds else -e.fee_sats) for e in entries
    ]
    days = (np.array([e.day.toordinal() for e in entries], dtype=np.int64) - _EPOCH_ORDINAL).astype("datetime64[D]")
    fee = np.array([e.fee_sats for e in entries], dtype=np.int64)
    return Movements(days, np.array(net, dtype=np.int64), fee)


@dataclass
class LotCheckpoint:
    """A cost-basis run over every entry up to ``through`` (inclusive), whose prices are settled."""

    run: CostBasisRun
    through: date | None  # None: nothing fed (no settled day)
    # sums of the run's disposal rows (realised gain, per tax year) by period, shared by its results
    sums: dict[tuple[object, ...], object] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        entries: list[LedgerEntry],
        prices: DailyPrices,
        settled: date | None,
        method: Method,
        cost_overrides: Mapping[str, Decimal] | None,
        *,
        long_term_months: int,
        fee_treatment: FeeTreatment,
    ) -> LotCheckpoint:
        run = CostBasisRun(method, cost_overrides, long_term_months=long_term_months, fee_treatment=fee_treatment)
        if settled is not None:
            run.feed(entries[: _after(entries, settled)], prices)
        return cls(run, settled)

    def holds(self, lowest_change: Key | None) -> bool:
        """Whether a ledger change starting at ``lowest_change`` leaves the fed part as it was."""
        return lowest_change is None or self.through is None or lowest_change[0] > self.through

    def result(
        self, entries: list[LedgerEntry], prices: DailyPrices, end: date, current_price: Decimal
    ) -> CostBasisResult:
        """The cost basis of ``entries`` up to ``end``: a copy of the run fed what follows the
        checkpoint (``end`` must not be before the checkpoint's day)."""
        start = 0 if self.through is None else _after(entries, self.through)
        stop = _after(entries, end)
        run = self.run.copy()
        checkpoint_rows = len(run.res.disposals)
        run.feed(entries[start:stop], prices)
        res = run.result(current_price, consume=True)
        res._prefix = (checkpoint_rows, self.sums)  # the checkpoint's rows are summed once, here
        return res


def _after(entries: list[LedgerEntry], day: date) -> int:
    """Index of the first entry after ``day`` (entries sorted by day)."""
    lo, hi = 0, len(entries)
    while lo < hi:
        mid = (lo + hi) // 2
        if entries[mid].day <= day:
            lo = mid + 1
        else:
            hi = mid
    return lo
