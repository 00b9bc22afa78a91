"""Cost basis at its edges, each figure worked out by hand: one-satoshi amounts, exactly half a
cent, the long-term boundary, unit cost (not lot size) ordering HIFO, lot order of LIFO rows, the
estimated/missing flags of exact runs, and input out of order. (Written from the survivors of a
mutation run: each test fails for a one-token change of app/analytics/costbasis.py.)"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from app.analytics.costbasis import (
    EntryKind,
    LedgerEntry,
    Method,
    WalletMove,
    compute_cost_basis,
    ledger_from_moves,
)
from app.analytics.pricing import DailyPrices

BTC = 100_000_000
D = Decimal
DAY0 = date(2022, 1, 1)
ACQ, DISP = EntryKind.ACQUISITION, EntryKind.DISPOSAL


def prices(*pairs: tuple[date, str]) -> DailyPrices:
    return DailyPrices.from_pairs([(d, D(p)) for d, p in pairs])


def acq(txid: str, day: date, sats: int) -> LedgerEntry:
    return LedgerEntry(txid, day, ACQ, sats, 0, ("w",))


def disp(txid: str, day: date, sats: int, fee: int = 0) -> LedgerEntry:
    return LedgerEntry(txid, day, DISP, sats, fee, ("w",))


def test_one_satoshi_in_and_zero_net_out_of_the_ledger() -> None:
    rows = [WalletMove("one", "w", DAY0, 1), WalletMove("zero", "w", DAY0, 0)]
    assert [(e.txid, e.kind, e.sats) for e in ledger_from_moves(rows)] == [("one", ACQ, 1)]


def test_one_satoshi_disposal_and_one_satoshi_fee_are_rows() -> None:
    p = prices((DAY0, "40000"))
    r = compute_cost_basis([acq("a", DAY0, 10), disp("d", DAY0, 1, fee=1)], p, Method.FIFO, D(40000))
    assert [(row.kind, row.sats) for row in r.disposals] == [("SPEND", 1), ("FEE", 1)]
    assert r.holdings_sats == 8


def test_taking_the_last_satoshi_of_several_lots() -> None:
    p = prices((DAY0, "40000"))
    r = compute_cost_basis([acq("a", DAY0, 1), acq("b", DAY0, 1), disp("d", DAY0, 2)], p, Method.FIFO, D(40000))
    assert r.holdings_sats == 0 and r.missing_basis_sats == 0
    assert sum(row.sats for row in r.disposals) == 2


def test_exact_runs_are_not_estimated_and_have_their_basis() -> None:
    p = prices((DAY0, "30000"), (DAY0 + timedelta(days=10), "31000"))
    r = compute_cost_basis([acq("a", DAY0, BTC), disp("d", DAY0 + timedelta(days=10), BTC // 2)], p, "FIFO", D(1))
    assert r.estimated_prices is False
    assert [(row.price_estimated, row.missing_basis) for row in r.disposals] == [(False, False)]
    # a user-set proceeds value on exact prices: still not estimated
    r = compute_cost_basis(
        [acq("a", DAY0, BTC), disp("d", DAY0 + timedelta(days=10), BTC // 2)],
        p,
        "FIFO",
        D(1),
        proceeds_overrides={"d": D("20000")},
    )
    assert r.estimated_prices is False and r.disposals[0].price_estimated is False
    assert r.disposals[0].proceeds == D("20000.00")


def test_current_value_uses_exactly_one_hundred_million_sats_per_btc() -> None:
    p = prices((DAY0, "100000"))
    r = compute_cost_basis([acq("a", DAY0, 21 * BTC)], p, "FIFO", D(100000))
    assert r.current_value == D("2100000.00")  # 21 BTC x 100,000 (a 1e-8 error shows as a cent here)
    assert r.unrealized_gain == D("0.00") and r.total_cost == D("2100000.00")


def test_half_a_cent_rounds_half_even() -> None:
    # 10 sats at 50,000.00 cost 0.005 (to even: 0.00); 30 sats cost 0.015 (to even: 0.02).
    p = prices((DAY0, "50000"))
    assert compute_cost_basis([acq("a", DAY0, 10)], p, "FIFO", D(0)).acquisitions_cost == D("0.00")
    assert compute_cost_basis([acq("a", DAY0, 30)], p, "FIFO", D(0)).acquisitions_cost == D("0.02")
    # 51 sats at 10,000.00: 0.0051, just over half a cent -> 0.01; 49 sats: 0.0049 -> 0.00
    p2 = prices((DAY0, "10000"))
    assert compute_cost_basis([acq("a", DAY0, 51)], p2, "FIFO", D(0)).acquisitions_cost == D("0.01")
    assert compute_cost_basis([acq("a", DAY0, 49)], p2, "FIFO", D(0)).acquisitions_cost == D("0.00")
    # 3 sats at 166,667.00: 0.00500001, the smallest amount over half a cent -> 0.01
    p3 = prices((DAY0, "166667"))
    assert compute_cost_basis([acq("a", DAY0, 3)], p3, "FIFO", D(0)).acquisitions_cost == D("0.01")


def test_long_term_starts_after_365_days() -> None:
    p = prices((DAY0, "20000"), (DAY0 + timedelta(days=365), "30000"), (DAY0 + timedelta(days=366), "30000"))
    at_365 = compute_cost_basis([acq("a", DAY0, BTC), disp("d", DAY0 + timedelta(days=365), BTC)], p, "FIFO", D(1))
    at_366 = compute_cost_basis([acq("a", DAY0, BTC), disp("d", DAY0 + timedelta(days=366), BTC)], p, "FIFO", D(1))
    assert [row.holding_period for row in at_365.disposals] == ["SHORT"]
    assert [row.holding_period for row in at_366.disposals] == ["LONG"]


def test_hifo_takes_the_highest_unit_cost_not_the_biggest_lot() -> None:
    d1, d2, d3 = DAY0, DAY0 + timedelta(days=1), DAY0 + timedelta(days=2)
    p = prices((d1, "10000"), (d2, "20000"), (d3, "30000"))
    # a: 5 BTC at 10,000 (50,000 in all); b: 1 BTC at 20,000 (higher unit cost, lower total)
    r = compute_cost_basis([acq("a", d1, 5 * BTC), acq("b", d2, BTC), disp("d", d3, BTC)], p, "HIFO", D(1))
    assert [(row.acquired, row.cost) for row in r.disposals] == [(d2, D("20000.00"))]


def test_lifo_split_rows_list_long_before_short() -> None:
    old, new, sell = DAY0, DAY0 + timedelta(days=400), DAY0 + timedelta(days=500)
    p = prices((old, "10000"), (new, "20000"), (sell, "30000"))
    r = compute_cost_basis([acq("a", old, BTC), acq("b", new, BTC), disp("d", sell, 3 * BTC // 2)], p, "LIFO", D(1))
    # LIFO takes b (short term) first, then half of a (long term); rows: LONG first, then SHORT
    assert [(row.holding_period, row.sats) for row in r.disposals] == [("LONG", BTC // 2), ("SHORT", BTC)]
    assert [row.acquired for row in r.disposals] == [old, new]


def test_split_rows_share_the_proceeds_to_the_cent() -> None:
    # 2 sats sold at 500,000.00 bring 0.01 in all: one long-term sat, one short-term sat. Each
    # half is half a cent (rounded to even: 0.00); the last row takes the remainder, so the rows
    # add up to the 0.01 received.
    old, new, sell = DAY0, DAY0 + timedelta(days=400), DAY0 + timedelta(days=401)
    p = prices((old, "10000"), (new, "10000"), (sell, "500000"))
    r = compute_cost_basis([acq("a", old, 1), acq("b", new, 1), disp("d", sell, 2)], p, "FIFO", D(1))
    assert [(row.holding_period, row.proceeds) for row in r.disposals] == [("LONG", D("0.00")), ("SHORT", D("0.01"))]


def test_average_holds_exactly_what_is_left() -> None:
    p = prices((DAY0, "10000"), (DAY0 + timedelta(days=1), "20000"))
    entries = [acq("a", DAY0, BTC), acq("b", DAY0 + timedelta(days=1), BTC), disp("d", DAY0 + timedelta(days=1), BTC)]
    r = compute_cost_basis(entries, p, "AVERAGE", D(20000))
    assert r.holdings_sats == BTC
    assert r.total_cost == D("15000.00") and r.disposals[0].cost == D("15000.00")


def test_entries_out_of_order_are_run_in_date_order() -> None:
    p = prices((DAY0, "10000"), (DAY0 + timedelta(days=5), "12000"))
    in_order = [acq("a", DAY0, BTC), disp("d", DAY0 + timedelta(days=5), BTC)]
    r = compute_cost_basis(list(reversed(in_order)), p, "FIFO", D(1))
    assert r.missing_basis_sats == 0 and r.realized_gain == D("2000.00")


def test_scoped_move_out_next_to_a_disposal_carries_no_fee() -> None:
    # One transaction from w1 pays someone 0.1 BTC and the user's w2 0.2 BTC, fee 1,000 sats;
    # seen from the portfolio of w1 alone: a disposal (with the fee) and a move out (without).
    rows = [
        WalletMove("t", "w1", DAY0, -(3 * BTC // 10) - 1_000, 1_000),
        WalletMove("t", "w2", DAY0, 2 * BTC // 10),
    ]
    got = [(e.kind, e.sats, e.fee_sats) for e in ledger_from_moves(rows, scope={"w1"})]
    assert got == [(DISP, BTC // 10, 1_000), (EntryKind.MOVE_OUT, 2 * BTC // 10, 0)]


def test_a_disposal_at_an_interpolated_price_is_flagged_unless_the_user_set_proceeds() -> None:
    p = prices((DAY0, "10000"), (DAY0 + timedelta(days=10), "20000"))  # day 5 has no close
    entries = [acq("a", DAY0, BTC), disp("d", DAY0 + timedelta(days=5), BTC // 2)]
    r = compute_cost_basis(entries, p, "FIFO", D(1))
    assert r.estimated_prices is True and r.disposals[0].price_estimated is True
    r = compute_cost_basis(entries, p, "FIFO", D(1), proceeds_overrides={"d": D("7000")})
    assert r.estimated_prices is False and r.disposals[0].price_estimated is False


def test_one_satoshi_to_someone_else_and_a_one_satoshi_transfer_fee() -> None:
    rows = [
        WalletMove("pay", "w", DAY0, -(1 + 100), 100),  # 1 sat to someone, fee 100: a disposal
        WalletMove("fee", "w", DAY0, -1, 1),  # nothing left the user but a 1-sat fee: a transfer
    ]
    got = {e.txid: (e.kind, e.sats, e.fee_sats) for e in ledger_from_moves(rows)}
    assert got == {"pay": (DISP, 1, 100), "fee": (EntryKind.TRANSFER, 0, 1)}
