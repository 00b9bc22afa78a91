"""Cost basis and gains: FIFO, LIFO, HIFO and average cost over lots in satoshis.

* Every transaction is looked at across *all* of the user's wallets
(:func:`ledger_from_moves`):
  coins moving between the user's own wallets are a ``TRANSFER`` (not a disposal); only its fee is.
* An acquisition costs its sats x that day's close, unless the user set a cost for the transaction.
* A disposal's proceeds are its sats x that day's close (or a user-set value). The fee of a
transaction
  the user paid is a separate disposal of the fee sats (row kind ``FEE``) at the same price.
* Lots are matched per method; one disposal that takes lots held both short and long term is split
  into a ``SHORT`` and a ``LONG`` row. Long term = held *more than* ``long_term_months`` calendar
  months (default 12: sold after the first anniversary of the acquisition, as in the US and Germany).
* Fees (:class:`FeeTreatment`): ``DISPOSE`` makes the fee sats a disposal of their own (row kind
  ``FEE``); ``ADD_TO_COST`` adds the cost of the fee sats to the disposal they paid for (a transfer
  fee's cost stays with the coins that remain).
* Only confirmed transactions move lots; unconfirmed ones are listed in ``pending``.
* Selling more than the known lots (history incomplete) never fails: the excess has zero cost and
the
  row says ``missing_basis``.
* Amounts are rounded to cents per row (half-even); the totals are the sums of the rows.
"""

from __future__ import annotations

import functools
import heapq
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Any

from app.analytics.pricing import DailyPrices

SATS = Decimal(100_000_000)
CENT = Decimal("0.01")
LONG_TERM_MONTHS = 12


class FeeTreatment(StrEnum):
    DISPOSE = "DISPOSE"  # the fee sats are a disposal of their own (row kind FEE)
    ADD_TO_COST = "ADD_TO_COST"  # the fee sats' cost is part of the disposal they paid for


def add_months(d: date, months: int) -> date:
    """``d`` plus calendar months (the 31st becomes the month's last day, 29 Feb becomes 28 Feb)."""
    m = d.month - 1 + months
    year, month = d.year + m // 12, m % 12 + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, min(d.day, day))
        except ValueError:
            continue
    raise ValueError(d)  # pragma: no cover - day 28 always exists


def holding_period(acquired: date, disposed: date, long_term_months: int = LONG_TERM_MONTHS) -> str:
    """``LONG`` when held more than ``long_term_months`` months (disposed after the anniversary)."""
    return "LONG" if disposed > add_months(acquired, long_term_months) else "SHORT"


class Method(StrEnum):
    FIFO = "FIFO"
    LIFO = "LIFO"
    HIFO = "HIFO"
    AVERAGE = "AVERAGE"


class EntryKind(StrEnum):
    ACQUISITION = "ACQUISITION"
    DISPOSAL = "DISPOSAL"
    TRANSFER = "TRANSFER"
    MOVE_OUT = "MOVE_OUT"  # to the user's own wallet outside the scope: lots leave, no gain


class DisposalKind(StrEnum):
    SPEND = "SPEND"  # coins sent to someone else
    FEE = "FEE"  # a miner fee paid


@dataclass(frozen=True, slots=True)
class WalletMove:
    """How one active transaction moved one wallet's balance, on the UTC day it happened: the
    per-wallet line the analytics start from (``app.sync.queries`` produces them; the table row
    behind it is ``app.store.models.chain.WalletTx``)."""

    txid: str
    wallet_id: str
    day: date
    net_sats: int  # change of this wallet's balance, fee included (negative when it paid)
    fee_sats: int = 0  # the fee, when this wallet paid it
    confirmed: bool = True  # False while in the mempool


@dataclass(slots=True)
class LedgerEntry:
    """One transaction at the level of the user (all wallets together), classified: what
    :func:`ledger_from_moves` makes of the :class:`WalletMove` lines of one txid."""

    txid: str
    day: date
    kind: EntryKind
    sats: int  # coins in (acquisition) or out to others (disposal), > 0; 0 for a transfer
    fee_sats: int = 0  # fee paid by the user (a disposal of its own)
    wallet_ids: tuple[str, ...] = ()
    confirmed: bool = True  # every wallet's row of the transaction is confirmed


def ledger_from_moves(rows: Iterable[WalletMove], scope: set[str] | None = None) -> list[LedgerEntry]:
    """Group per-wallet rows by txid and classify them (sorted by day, then txid).

    With ``scope`` (a subset of the user's wallet ids, e.g. one portfolio), the entries are seen
    from that subset: coins arriving from the user's other wallets are acquisitions at the day's
    price, coins leaving to them are ``MOVE_OUT`` (lots leave without a gain); only coins to or
    from other people are disposals/acquisitions as usual."""
    if scope is not None:
        return _scoped_ledger(list(rows), scope)
    groups: dict[str, WalletMove | list[WalletMove]] = {}
    for r in rows:
        prev = groups.get(r.txid)
        if prev is None:
            groups[r.txid] = r
        elif isinstance(prev, list):
            prev.append(r)
        else:
            groups[r.txid] = [prev, r]
    out: list[LedgerEntry] = []
    acq, disp, xfer = EntryKind.ACQUISITION, EntryKind.DISPOSAL, EntryKind.TRANSFER
    for txid, g in groups.items():
        if isinstance(g, WalletMove):  # the common case: one wallet involved
            net, fee, day, conf = g.net_sats, g.fee_sats, g.day, g.confirmed
            wallets: tuple[str, ...] = (g.wallet_id,)
        else:
            net = sum(r.net_sats for r in g)
            fee = max(r.fee_sats for r in g)
            day = min(r.day for r in g)
            conf = all(r.confirmed for r in g)
            wallets = tuple(sorted({r.wallet_id for r in g}))
        if net > 0:
            out.append(LedgerEntry(txid, day, acq, net, 0, wallets, conf))
        elif net < 0:
            spent = -net - fee
            if spent <= 0:
                out.append(LedgerEntry(txid, day, xfer, 0, -net, wallets, conf))
            else:
                out.append(LedgerEntry(txid, day, disp, spent, fee, wallets, conf))
    out.sort(key=lambda e: (e.day, e.txid))
    return out


def _scoped_ledger(rows: list[WalletMove], scope: set[str]) -> list[LedgerEntry]:
    user_level = {e.txid: e for e in ledger_from_moves(rows)}
    inside = ledger_from_moves([r for r in rows if r.wallet_id in scope])
    out: list[LedgerEntry] = []
    for e in inside:
        if e.kind is EntryKind.TRANSFER:
            out.append(e)
            continue
        if e.kind is EntryKind.DISPOSAL:
            # what the user as a whole sent to others; the rest went to the user's other wallets.
            # No user-level entry: the user's wallets together neither gained nor paid anything
            # (a zero-fee move between them, or a fee paid by someone else), so nothing left the user.
            whole = user_level.get(e.txid)
            to_others = whole.sats if whole is not None and whole.kind is EntryKind.DISPOSAL else 0
            to_own = max(0, e.sats - to_others)
            if to_others:
                out.append(
                    LedgerEntry(
                        e.txid, e.day, EntryKind.DISPOSAL, min(to_others, e.sats), e.fee_sats, e.wallet_ids, e.confirmed
                    )
                )
            if to_own:
                fee = 0 if to_others else e.fee_sats
                out.append(LedgerEntry(e.txid, e.day, EntryKind.MOVE_OUT, to_own, fee, e.wallet_ids, e.confirmed))
        else:
            out.append(e)
    return out


@dataclass(slots=True)
class DisposalRow:
    txid: str
    day: date
    kind: str  # a DisposalKind: SPEND (coins sent to someone else) or FEE (miner fee paid)
    sats: int
    proceeds: Decimal
    cost: Decimal
    gain: Decimal
    holding_period: str  # "SHORT" | "LONG"
    acquired: date | None  # the earliest lot used (None when no lot was known)
    price_estimated: bool = False
    missing_basis: bool = False
    acquired_dates: tuple[date, ...] = ()  # every acquisition date of the lots used, oldest first
    fee_sats: int = 0  # fee sats whose cost is included (fee treatment ADD_TO_COST)
    wallet_ids: tuple[str, ...] = ()  # the user's wallets the coins left from
    price_missing: bool = False  # proceeds or cost need a close that does not exist: figures unknown

    @property
    def holding_days(self) -> int | None:
        """Days held, from the earliest acquisition used (None when no lot was known)."""
        return None if self.acquired is None else (self.day - self.acquired).days


@dataclass(slots=True)
class PendingTx:
    """An unconfirmed transaction: no disposal or acquisition until it confirms."""

    txid: str
    day: date  # first seen
    kind: str  # ACQUISITION | DISPOSAL | TRANSFER | MOVE_OUT
    sats: int
    fee_sats: int
    wallet_ids: tuple[str, ...]


@dataclass(slots=True)
class Lot:
    day: date
    sats: int
    cost_units: int  # remaining cost of the remaining sats, in 1e-8 fiat units (exact fixed point)
    seq: int
    txid: str
    cost_known: bool = True  # False: acquired on a day without a close (and no user-set cost)
    long_after: date | None = None  # its anniversary: disposed of after this day it is long term

    @property
    def cost(self) -> Decimal:
        return _dec(self.cost_units)


@dataclass
class CostBasisResult:
    """Figures that need a missing close are unknown: see :meth:`known_realized` and
    :meth:`known_total_cost` (None then), ``missing_prices`` lists the transactions concerned."""

    method: Method
    disposals: list[DisposalRow] = field(default_factory=list)
    open_lots: list[Lot] = field(default_factory=list)
    holdings_sats: int = 0
    total_cost: Decimal = Decimal(0)  # cost of what is still held
    realized_gain: Decimal = Decimal(0)
    current_value: Decimal = Decimal(0)
    unrealized_gain: Decimal = Decimal(0)
    acquisitions_cost: Decimal = Decimal(0)  # everything ever acquired
    estimated_prices: bool = False
    missing_basis_sats: int = 0
    pending: list[PendingTx] = field(default_factory=list)
    missing_prices: list[tuple[str, date]] = field(default_factory=list)  # (txid, day) without a close
    holdings_cost_known: bool = True  # every open lot has a known cost
    long_term_months: int = LONG_TERM_MONTHS
    fee_treatment: FeeTreatment = FeeTreatment.DISPOSE

    # figures of a finished result asked for again (a cached result is read by many requests)
    _memo: dict[tuple[object, ...], object] = field(default_factory=dict, init=False, repr=False, compare=False)
    # (n, memo): the first n disposal rows are a lot checkpoint's, whose sums are kept in its memo
    # (shared by every result resumed from it), so a read sums only the rows after them
    _prefix: tuple[int, dict[tuple[object, ...], object]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def _within(self, part: slice, first: date | None, last: date | None) -> list[DisposalRow]:
        rows = self.disposals[part]
        return [r for r in rows if (first is None or r.day >= first) and (last is None or r.day <= last)]

    def disposals_in(self, first: date | None = None, last: date | None = None) -> list[DisposalRow]:
        """The disposal rows of ``first..last`` (a fresh list)."""
        key = ("rows", first, last)
        rows = self._memo.get(key)
        if rows is None:
            rows = self._memo[key] = [
                r for r in self.disposals if (first is None or r.day >= first) and (last is None or r.day <= last)
            ]
        return list(rows)  # type: ignore[call-overload]

    def summary_in(self, first: date | None, last: date | None, fy: tuple[int, int]) -> list[Any]:
        """``summarise_gains`` of the disposals in ``first..last`` for the fiscal-year start ``fy``."""
        from app.analytics.gains import gain_sums, merge_sums, subtotals, summarise_gains  # gains builds on this

        key = ("summary", first, last, fy)
        if key not in self._memo:
            if self._prefix is None:
                self._memo[key] = summarise_gains(self.disposals_in(first, last), fy)
            else:
                n, shared = self._prefix
                if key not in shared:
                    shared[key] = gain_sums(self._within(slice(n), first, last), fy)
                head: Any = shared[key]
                tail = gain_sums(self._within(slice(n, None), first, last), fy)
                self._memo[key] = subtotals(merge_sums(head, tail), fy)
        return list(self._memo[key])  # type: ignore[call-overload]

    def realized_in(self, first: date | None = None, last: date | None = None) -> Decimal | None:
        """Realised gain of the disposals in ``first..last``; None when one of them lacks a price."""
        key = ("realized", first, last)
        if key not in self._memo:
            if self._prefix is None:
                self._memo[key] = _realized(self.disposals_in(first, last))
            else:
                n, shared = self._prefix
                if key not in shared:
                    shared[key] = _realized(self._within(slice(n), first, last))
                head: Decimal | None = shared[key]  # type: ignore[assignment]
                tail = _realized(self._within(slice(n, None), first, last)) if head is not None else None
                self._memo[key] = None if head is None or tail is None else head + tail
        return self._memo[key]  # type: ignore[return-value]

    @property
    def known_total_cost(self) -> Decimal | None:
        return self.total_cost if self.holdings_cost_known else None

    @property
    def known_unrealized(self) -> Decimal | None:
        return self.unrealized_gain if self.holdings_cost_known else None


def _realized(rows: list[DisposalRow]) -> Decimal | None:
    return None if any(r.price_missing for r in rows) else sum((r.gain for r in rows), Decimal(0))


UNIT = 100_000_000  # fiat amounts run as integers of 1e-8 inside the lot book
_UNIT_D = Decimal(UNIT)


def _units(x: Decimal) -> int:
    return int((x * UNIT).to_integral_value(rounding=ROUND_HALF_EVEN))


def _dec(units: int) -> Decimal:
    return Decimal(units) / _UNIT_D


def _c(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_EVEN)


def _cu(units: int) -> Decimal:
    """Integer units (1e-8) to a Decimal rounded to cents, half-even, with integer maths only."""
    q, r = divmod(units, 1_000_000)
    if r > 500_000 or (r == 500_000 and q & 1):
        q += 1
    return Decimal(q).scaleb(-2)


class _Book:
    """Open lots with the removal order of one method (costs as exact integers of 1e-8)."""

    def __init__(self, method: Method) -> None:
        self.method = method
        self.fifo: deque[Lot] = deque()
        self.stack: list[Lot] = []
        self.heap: list[tuple[float, int, Lot]] = []
        self.pool_sats = 0
        self.pool_cost = 0
        self.shared = False  # lots may be shared with the book this one was copied from
        self._own: set[int] = set()  # ids of this book's own lots (while ``shared``)

    def copy(self) -> _Book:
        """An independent copy that shares the open lots until it changes one (copy on write:
        ``take`` and ``keep_cost`` change only the lot at the head, which is copied first)."""
        other = _Book(self.method)
        other.pool_sats, other.pool_cost = self.pool_sats, self.pool_cost
        other.fifo = deque(self.fifo)
        other.stack = list(self.stack)
        other.heap = list(self.heap)  # a copied heap stays a heap
        other.shared = True
        self.shared, self._own = True, set()  # neither may change a lot the other holds
        return other

    def _head(self) -> Lot | None:
        """The lot the method takes next, this book's own (copied when it was shared)."""
        m = self.method
        if m is Method.LIFO:
            if not self.stack:
                return None
            lot = self.stack[-1]
        elif m is Method.HIFO:
            if not self.heap:
                return None
            lot = self.heap[0][2]
        else:
            if not self.fifo:
                return None
            lot = self.fifo[0]
        if not self.shared or id(lot) in self._own:
            return lot
        lot = replace(lot)
        self._own.add(id(lot))
        if m is Method.LIFO:
            self.stack[-1] = lot
        elif m is Method.HIFO:
            k, seq, _ = self.heap[0]
            self.heap[0] = (k, seq, lot)  # same key: still a heap
        else:
            self.fifo[0] = lot
        return lot

    def add(self, lot: Lot) -> None:
        if self.shared:
            self._own.add(id(lot))
        self.pool_sats += lot.sats
        self.pool_cost += lot.cost_units
        m = self.method
        if m is Method.LIFO:
            self.stack.append(lot)
        elif m is Method.HIFO:
            heapq.heappush(self.heap, (-lot.cost_units / lot.sats if lot.sats else 0.0, lot.seq, lot))
        else:  # FIFO, and AVERAGE keeps FIFO order for holding periods
            self.fifo.append(lot)

    def take(self, sats: int) -> tuple[list[tuple[Lot, int, int]], int]:
        """Remove ``sats``: [(lot, sats taken, cost units taken)], and the sats no lot covered."""
        used: list[tuple[Lot, int, int]] = []
        need = sats
        m = self.method
        average = m is Method.AVERAGE
        while need > 0:
            head = self._head()
            if head is None:
                break
            lot = head
            n = need if need < lot.sats else lot.sats
            if average:
                cost = self.pool_cost if n == self.pool_sats else self.pool_cost * n // self.pool_sats
            else:
                cost = lot.cost_units if n == lot.sats else lot.cost_units * n // lot.sats
                lot.cost_units -= cost
            lot.sats -= n
            self.pool_sats -= n
            self.pool_cost -= cost
            need -= n
            used.append((lot, n, cost))
            if lot.sats == 0:
                if m is Method.LIFO:
                    self.stack.pop()
                elif m is Method.HIFO:
                    heapq.heappop(self.heap)
                else:
                    self.fifo.popleft()
        return used, need

    def keep_cost(self, used: list[tuple[Lot, int, int]]) -> int:
        """Give the cost of sats just taken back to the coins that remain (a transfer fee under
        ``ADD_TO_COST``): to the same lot while it has sats, else to the next lot the method would
        take. Returns the cost units no remaining lot could carry."""
        lost = 0
        for lot, _, cost in used:
            if self.method is Method.AVERAGE:
                if self.pool_sats:
                    self.pool_cost += cost
                else:
                    lost += cost
                continue
            target = lot if lot.sats > 0 else self._next()
            if target is None:
                lost += cost
                continue
            target.cost_units += cost
            self.pool_cost += cost
        if self.method is Method.HIFO:
            self.heap = [(-x.cost_units / x.sats if x.sats else 0.0, x.seq, x) for _, _, x in self.heap]
            heapq.heapify(self.heap)
        return lost

    def _next(self) -> Lot | None:
        return self._head()

    def lots(self) -> list[Lot]:
        if self.method is Method.LIFO:
            items = list(self.stack)
        elif self.method is Method.HIFO:
            items = [x[2] for x in self.heap]
        else:
            items = list(self.fifo)
        items.sort(key=lambda lot: lot.seq)
        if self.method is Method.AVERAGE and self.pool_sats:
            # show the pooled average cost on the remaining lots (copies: lots may be shared)
            items = [replace(lot, cost_units=self.pool_cost * lot.sats // self.pool_sats) for lot in items]
        return items


def compute_cost_basis(
    entries: Iterable[LedgerEntry],
    prices: DailyPrices,
    method: Method | str,
    current_price: Decimal,
    cost_overrides: Mapping[str, Decimal] | None = None,
    proceeds_overrides: Mapping[str, Decimal] | None = None,
    *,
    long_term_months: int = LONG_TERM_MONTHS,
    fee_treatment: FeeTreatment | str = FeeTreatment.DISPOSE,
) -> CostBasisResult:
    """Run the ledger (chronological) through the lot book of ``method``.

    Pure and deterministic in its inputs (a cache may key on them)."""
    items = list(entries)
    if any(items[i].day > items[i + 1].day for i in range(len(items) - 1)):
        items.sort(key=lambda x: (x.day, x.txid))
    run = CostBasisRun(
        method, cost_overrides, proceeds_overrides, long_term_months=long_term_months, fee_treatment=fee_treatment
    )
    run.feed(items, prices)
    return run.result(current_price, consume=True)


class CostBasisRun:
    """The lot book part way through a chronological ledger: :meth:`feed` entries (in order),
    :meth:`copy` the state to resume from later, :meth:`result` values what is held.

    :func:`compute_cost_basis` is one run fed everything; a cache keeps a run fed the part of the
    history that cannot change and feeds a copy only the rest (the same code, so the same figures).
    """

    def __init__(
        self,
        method: Method | str,
        cost_overrides: Mapping[str, Decimal] | None = None,
        proceeds_overrides: Mapping[str, Decimal] | None = None,
        *,
        long_term_months: int = LONG_TERM_MONTHS,
        fee_treatment: FeeTreatment | str = FeeTreatment.DISPOSE,
    ) -> None:
        self.method = Method(method)
        self.fees = FeeTreatment(fee_treatment)
        self.costs = cost_overrides or {}
        self.proceeds_set = proceeds_overrides or {}
        self.long_term_months = long_term_months
        self.book = _Book(self.method)
        self.res = CostBasisResult(self.method, long_term_months=long_term_months, fee_treatment=self.fees)
        self.realized = Decimal(0)
        self.acquired_units = 0
        self.seq = 0
        self.unknown_lots = False  # some lot was acquired without a price
        self.last: tuple[date, str] | None = None  # (day, txid) of the last entry fed

    def copy(self) -> CostBasisRun:
        """An independent copy (lots are mutated as they are used; rows and pending never are)."""
        other = CostBasisRun.__new__(CostBasisRun)
        other.__dict__.update(self.__dict__)
        other.book = self.book.copy()
        other.res = replace(
            self.res,
            disposals=list(self.res.disposals),
            pending=list(self.res.pending),
            missing_prices=list(self.res.missing_prices),
            open_lots=[],
        )
        return other

    def feed(self, items: Iterable[LedgerEntry], prices: DailyPrices) -> None:
        """Entries in (day, txid) order, each after every entry fed before."""
        book, res, costs, proceeds_set = self.book, self.res, self.costs, self.proceeds_set
        long_term_months = self.long_term_months
        price_cache: dict[date, tuple[int | None, bool]] = {}
        anniversaries = functools.lru_cache(maxsize=None)(lambda d: add_months(d, long_term_months))
        acq = EntryKind.ACQUISITION
        disp = EntryKind.DISPOSAL
        fee_in_cost = self.fees is FeeTreatment.ADD_TO_COST
        last = self.last
        for e in items:
            last = (e.day, e.txid)
            if not e.confirmed:
                res.pending.append(PendingTx(e.txid, e.day, e.kind.value, e.sats, e.fee_sats, e.wallet_ids))
                continue
            cached = price_cache.get(e.day)
            if cached is None:
                pd, pe = prices.close_on(e.day)
                cached = price_cache[e.day] = (None if pd is None else _units(pd), pe)
            price_units, est = cached  # fiat units per BTC (None: no close for that day)
            if e.kind is acq:
                user_cost = costs.get(e.txid)
                known = True
                if user_cost is not None:
                    cost = _units(user_cost)
                elif price_units is None:
                    cost, known = 0, False
                    self.unknown_lots = True
                    res.missing_prices.append((e.txid, e.day))
                else:
                    cost = price_units * e.sats // UNIT
                    res.estimated_prices |= est
                self.acquired_units += cost
                book.add(Lot(e.day, e.sats, cost, self.seq, e.txid, known, anniversaries(e.day)))
                self.seq += 1
                continue
            if e.kind is EntryKind.MOVE_OUT and e.sats > 0:
                book.take(e.sats)  # the basis travels with the coins: no disposal
            # (kind, sats taken from the lots, sats sold for proceeds, user-set proceeds, fee sats in the cost)
            parts: list[tuple[str, int, int, Decimal | None, int]] = []
            spend = e.kind is disp and e.sats > 0
            if spend:
                fee_part = e.fee_sats if fee_in_cost else 0
                parts.append(("SPEND", e.sats + fee_part, e.sats, proceeds_set.get(e.txid), fee_part))
            if e.fee_sats > 0 and not (spend and fee_in_cost):
                if fee_in_cost:  # a fee of a transfer: the remaining coins carry its cost
                    used, _missing = book.take(e.fee_sats)
                    book.keep_cost(used)
                    continue
                parts.append(("FEE", e.fee_sats, e.fee_sats, None, 0))
            for kind, sats, sold, user_proceeds, fee_sats in parts:
                no_price = user_proceeds is None and price_units is None
                if user_proceeds is not None:
                    proceeds = _units(user_proceeds)
                else:
                    proceeds = 0 if price_units is None else price_units * sold // UNIT
                if no_price and (e.txid, e.day) not in res.missing_prices:
                    res.missing_prices.append((e.txid, e.day))
                used, missing = book.take(sats)
                estimated = est and user_proceeds is None
                unknown = no_price or (self.unknown_lots and any(not lot.cost_known for lot, _, _ in used))
                for row in _rows(e, kind, sats, proceeds, used, missing, estimated, long_term_months, fee_sats):
                    row.price_missing = unknown
                    res.disposals.append(row)
                    self.realized += row.gain
                res.missing_basis_sats += missing
                res.estimated_prices |= estimated
        self.last = last

    def result(self, current_price: Decimal, *, consume: bool = False) -> CostBasisResult:
        """The figures with what is held valued at ``current_price``. Works on a copy, so the run
        can be fed further afterwards, unless ``consume`` (the run is then used up)."""
        run = self if consume else self.copy()
        res = run.res
        lots = run.book.lots()
        res.open_lots = lots
        res.holdings_cost_known = all(lot.cost_known for lot in lots)
        res.holdings_sats = sum(lot.sats for lot in lots)
        res.total_cost = _cu(sum(lot.cost_units for lot in lots))
        res.realized_gain = run.realized
        res.current_value = _c(current_price * res.holdings_sats / SATS)
        res.unrealized_gain = res.current_value - res.total_cost
        res.acquisitions_cost = _cu(run.acquired_units)
        return res


def _rows(
    e: LedgerEntry,
    kind: str,
    sats: int,
    proceeds: int,
    used: list[tuple[Lot, int, int]],
    missing: int,
    estimated: bool,
    long_term_months: int = LONG_TERM_MONTHS,
    fee_sats: int = 0,
) -> list[DisposalRow]:
    """One row per holding term (LONG first, then SHORT), plus one for sats without a known lot.
    The fee sats in the cost (ADD_TO_COST) are reported on the first row."""
    if not missing and len(used) == 1:  # fast path: one lot
        lot, n, cost = used[0]
        after = lot.long_after or add_months(lot.day, long_term_months)
        p, c = _cu(proceeds), _cu(cost)
        term = "LONG" if e.day > after else "SHORT"
        return [
            DisposalRow(
                e.txid, e.day, kind, n, p, c, p - c, term, lot.day, estimated, False, (lot.day,), fee_sats, e.wallet_ids
            )
        ]
    terms: dict[str, tuple[int, int, set[date]]] = {}
    for lot, n, cost in used:
        after = lot.long_after or add_months(lot.day, long_term_months)
        term = "LONG" if e.day > after else "SHORT"
        prev = terms.get(term)
        if prev is None:
            terms[term] = (n, cost, {lot.day})
        else:
            prev[2].add(lot.day)
            terms[term] = (prev[0] + n, prev[1] + cost, prev[2])
    groups: list[tuple[str, int, int, tuple[date, ...], bool]] = [
        (term, v[0], v[1], tuple(sorted(v[2])), False)
        for term, v in sorted(terms.items(), key=lambda kv: kv[0] != "LONG")
    ]
    if missing:
        groups.append(("SHORT", missing, 0, (), True))
    rows: list[DisposalRow] = []
    total = _cu(proceeds)
    allocated = Decimal(0)
    for i, (term, n, cost, acquired, no_basis) in enumerate(groups):
        if i == len(groups) - 1:
            p = total - allocated  # the last row takes the rounding remainder
        else:
            p = _cu(proceeds * n // sats)
            allocated += p
        c = _cu(cost)
        rows.append(
            DisposalRow(
                e.txid, e.day, kind, n, p, c, p - c, term, acquired[0] if acquired else None, estimated, no_basis,
                acquired, fee_sats if i == 0 else 0, e.wallet_ids,
            )
        )  # fmt: skip
    return rows
