"""Cost basis: portfolio scope when several of the user's wallets pay in one transaction, every
method's book when a disposal outruns the known lots, and the defaults of the ledger types.

Each figure is worked out by hand. (Written from the survivors of a mutation run of
app/analytics/costbasis.py: each test fails for a one-token change there.)"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.analytics.costbasis import (
    EntryKind,
    FeeTreatment,
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
ACQ, DISP, MOVE_OUT = EntryKind.ACQUISITION, EntryKind.DISPOSAL, EntryKind.MOVE_OUT


def prices(*pairs: tuple[date, str]) -> DailyPrices:
    return DailyPrices.from_pairs([(d, D(p)) for d, p in pairs])


def test_two_of_the_users_wallets_paying_one_outsider_seen_from_one_of_them() -> None:
    # One transaction spends inputs of w1 (1,000 sats + the 100-sat fee) and of w2 (2,000 sats)
    # to an outsider: the user disposed of 3,000 sats. Seen from a portfolio of w1 alone, w1's
    # 1,000 sats are a disposal with the fee, and nothing moved to the user's other wallets.
    rows = [WalletMove("t", "w1", DAY0, -1_100, 100), WalletMove("t", "w2", DAY0, -2_000)]
    assert [(e.kind, e.sats, e.fee_sats) for e in ledger_from_moves(rows)] == [(DISP, 3_000, 100)]
    scoped = ledger_from_moves(rows, scope={"w1"})
    assert [(e.kind, e.sats, e.fee_sats) for e in scoped] == [(DISP, 1_000, 100)]
    assert [(e.kind, e.sats) for e in ledger_from_moves(rows, scope={"w2"})] == [(DISP, 2_000)]


def test_a_transfer_seen_from_the_portfolio_of_both_wallets_stays_a_transfer() -> None:
    rows = [WalletMove("t", "w1", DAY0, -1_500, 500), WalletMove("t", "w2", DAY0, 1_000)]
    scoped = ledger_from_moves(rows, scope={"w1", "w2"})
    assert [(e.kind, e.sats, e.fee_sats, e.wallet_ids) for e in scoped] == [(EntryKind.TRANSFER, 0, 500, ("w1", "w2"))]


def test_a_zero_fee_move_to_another_own_wallet_is_a_move_out_of_the_portfolio() -> None:
    rows = [WalletMove("t", "w1", DAY0, -1_000, 0), WalletMove("t", "w2", DAY0, 1_000)]
    assert ledger_from_moves(rows) == []  # the user as a whole: nothing happened
    scoped = ledger_from_moves(rows, scope={"w1"})
    assert [(e.kind, e.sats, e.fee_sats) for e in scoped] == [(MOVE_OUT, 1_000, 0)]
    # the receiving portfolio acquires the coins; the portfolio of both sees nothing
    assert [(e.kind, e.sats) for e in ledger_from_moves(rows, scope={"w2"})] == [(ACQ, 1_000)]
    assert ledger_from_moves(rows, scope={"w1", "w2"}) == []


def test_moving_ones_own_coins_without_a_fee_realises_no_gain() -> None:
    # w1 bought 1,000 sats at 30,000 and moved them (zero fee) to w2 when the close was 40,000:
    # the portfolio of w1 sees the lot leave at cost: no disposal, no gain, nothing held.
    rows = [WalletMove("a", "w1", DAY0, 1_000), WalletMove("t", "w1", DAY0 + timedelta(days=1), -1_000, 0),
            WalletMove("t", "w2", DAY0 + timedelta(days=1), 1_000)]  # fmt: skip
    p = prices((DAY0, "30000"), (DAY0 + timedelta(days=1), "40000"))
    for method in Method:
        r = compute_cost_basis(ledger_from_moves(rows, scope={"w1"}), p, method, D(40000))
        assert (r.disposals, r.realized_gain, r.holdings_sats, r.total_cost) == ([], D(0), 0, D(0))


@pytest.mark.parametrize(
    ("w1_net", "w1_fee", "expected"),
    [
        # the whole amount moves, the user pays a fee of 200: a move out carrying the fee
        (-1_200, 200, [(MOVE_OUT, 1_000, 200)]),
        # 2,000 to an outsider and 1,000 to w2 in one zero-fee transaction
        (-3_000, 0, [(DISP, 2_000, 0), (MOVE_OUT, 1_000, 0)]),
        # the same with a fee of 300: the fee goes with the disposal, the move carries none
        (-3_300, 300, [(DISP, 2_000, 300), (MOVE_OUT, 1_000, 0)]),
    ],
)
def test_a_move_to_another_own_wallet_with_a_fee_or_next_to_a_payment(
    w1_net: int, w1_fee: int, expected: list[tuple[EntryKind, int, int]]
) -> None:
    rows = [WalletMove("t", "w1", DAY0, w1_net, w1_fee), WalletMove("t", "w2", DAY0, 1_000)]
    scoped = ledger_from_moves(rows, scope={"w1"})
    assert [(e.kind, e.sats, e.fee_sats) for e in scoped] == expected


@pytest.mark.parametrize("method", list(Method))
def test_a_disposal_beyond_the_known_lots_under_every_method(method: Method) -> None:
    # 1,000 sats bought at 30,000, 1,500 sold at 40,000: 500 sats have no known lot (history
    # incomplete): zero cost, flagged, nothing left in the book.
    p = prices((DAY0, "30000"), (DAY0 + timedelta(days=1), "40000"))
    entries = [
        LedgerEntry("a", DAY0, ACQ, 1_000, 0, ("w",)),
        LedgerEntry("d", DAY0 + timedelta(days=1), DISP, 1_500, 0, ("w",)),
    ]
    r = compute_cost_basis(entries, p, method, D(40000))
    assert [(row.sats, row.cost, row.proceeds, row.missing_basis) for row in r.disposals] == [
        (1_000, D("0.30"), D("0.40"), False),
        (500, D("0.00"), D("0.20"), True),
    ]
    assert r.missing_basis_sats == 500 and r.holdings_sats == 0 and r.open_lots == []
    assert r.realized_gain == D("0.30")  # 0.10 on the known lot + 0.20 without a basis


@pytest.mark.parametrize("method", list(Method))
def test_a_transfer_fee_that_takes_the_last_coins_loses_its_cost(method: Method) -> None:
    # ADD_TO_COST: a transfer's fee cost stays with the remaining coins; when the fee takes the
    # last sats of the book there are none left to carry it: no holdings, no cost, no disposal.
    p = prices((DAY0, "50000"))
    entries = [
        LedgerEntry("a", DAY0, ACQ, 1_000, 0, ("w",)),
        LedgerEntry("t", DAY0, EntryKind.TRANSFER, 0, 1_000, ("w",)),
    ]
    r = compute_cost_basis(entries, p, method, D(50000), fee_treatment=FeeTreatment.ADD_TO_COST)
    assert r.disposals == [] and r.holdings_sats == 0 and r.total_cost == D("0.00")
    assert r.acquisitions_cost == D("0.50")


@pytest.mark.parametrize("method", [Method.LIFO, Method.HIFO])
def test_a_transfer_fee_beyond_the_book_under_lifo_and_hifo(method: Method) -> None:
    # the fee (1,500 sats) is more than the book holds (1,000): the book empties, nothing fails,
    # and the next lot starts with its own cost only (2,000 sats at 60,000)
    entries = [
        LedgerEntry("a", DAY0, ACQ, 1_000, 0, ("w",)),
        LedgerEntry("t", DAY0, EntryKind.TRANSFER, 0, 1_500, ("w",)),
        LedgerEntry("b", DAY0 + timedelta(days=1), ACQ, 2_000, 0, ("w",)),
    ]
    r = compute_cost_basis(
        entries, prices((DAY0, "50000"), (DAY0 + timedelta(days=1), "60000")), method, D(60000),
        fee_treatment=FeeTreatment.ADD_TO_COST,
    )  # fmt: skip
    assert [(lot.txid, lot.sats, lot.cost) for lot in r.open_lots] == [("b", 2_000, D("1.2"))]


def test_ledger_types_default_to_no_fee_confirmed_and_no_wallets() -> None:
    tx = WalletMove("t", "w", DAY0, 5_000)
    assert (tx.fee_sats, tx.confirmed) == (0, True)
    entry = LedgerEntry("t", DAY0, ACQ, 5_000)
    assert (entry.fee_sats, entry.wallet_ids, entry.confirmed) == (0, (), True)
    # a disposal entry built without a fee makes no FEE row and counts as confirmed
    p = prices((DAY0, "10000"))
    r = compute_cost_basis([entry, LedgerEntry("d", DAY0, DISP, 1_000)], p, Method.FIFO, D(10000))
    assert [(row.kind, row.sats) for row in r.disposals] == [("SPEND", 1_000)] and r.pending == []


_TWO_LOTS = [
    LedgerEntry("a", DAY0, ACQ, 1_000, 0, ("w",)),  # at 30,000: cost 0.30
    LedgerEntry("b", DAY0 + timedelta(days=1), ACQ, 1_000, 0, ("w",)),  # at 40,000: cost 0.40
]
_TWO_CLOSES = prices((DAY0, "30000"), (DAY0 + timedelta(days=1), "40000"))


@pytest.mark.parametrize(
    ("method", "left"),
    [(Method.FIFO, "b"), (Method.LIFO, "a"), (Method.HIFO, "a"), (Method.AVERAGE, "b")],
)
def test_a_transfer_fee_that_empties_a_lot_gives_its_cost_to_the_next_lot(method: Method, left: str) -> None:
    # ADD_TO_COST: a 1,000-sat transfer fee takes one whole lot (the oldest under FIFO/AVERAGE,
    # the newest under LIFO, the dearest under HIFO); its cost moves to the lot that remains:
    # the user still holds 1,000 sats that cost 0.70 in total.
    fee = LedgerEntry("t", DAY0 + timedelta(days=1), EntryKind.TRANSFER, 0, 1_000, ("w",))
    r = compute_cost_basis([*_TWO_LOTS, fee], _TWO_CLOSES, method, D(40000), fee_treatment=FeeTreatment.ADD_TO_COST)
    assert [(lot.txid, lot.sats, lot.cost) for lot in r.open_lots] == [(left, 1_000, D("0.7"))]
    assert r.total_cost == D("0.70") and r.disposals == []


def test_hifo_reorders_its_lots_after_a_transfer_fee_raised_a_unit_cost() -> None:
    # a: 1,000 sats for 0.30; b: 2,000 sats for 0.80 (unit cost 0.0004, the dearest). A 500-sat
    # transfer fee (ADD_TO_COST) takes 500 of b and gives their 0.20 back to b: 1,500 sats for 0.80.
    # A 1,000-sat sale then takes from b (still the dearest): cost 0.80 x 1,000 / 1,500 = 0.53.
    day1 = DAY0 + timedelta(days=1)
    entries = [
        LedgerEntry("a", DAY0, ACQ, 1_000, 0, ("w",)),
        LedgerEntry("b", day1, ACQ, 2_000, 0, ("w",)),
        LedgerEntry("t", day1, EntryKind.TRANSFER, 0, 500, ("w",)),
        LedgerEntry("s", day1, DISP, 1_000, 0, ("w",)),
    ]
    r = compute_cost_basis(entries, _TWO_CLOSES, Method.HIFO, D(40000), fee_treatment=FeeTreatment.ADD_TO_COST)
    assert [(row.sats, row.cost, row.acquired) for row in r.disposals] == [(1_000, D("0.53"), day1)]
    assert sorted((lot.txid, lot.sats) for lot in r.open_lots) == [("a", 1_000), ("b", 500)]


def test_user_set_proceeds_on_a_day_without_a_close_are_known() -> None:
    # bought on a day with a close; sold 20 days later where no close may be estimated (gap > 3
    # days), but the user set the proceeds: the gain is known, nothing is listed as missing
    p = DailyPrices.from_pairs([(DAY0, D(30000)), (DAY0 + timedelta(days=40), D(50000))], max_gap_days=3)
    sale_day = DAY0 + timedelta(days=20)
    entries = [LedgerEntry("a", DAY0, ACQ, 10_000, 0, ("w",)), LedgerEntry("s", sale_day, DISP, 10_000, 0, ("w",))]
    r = compute_cost_basis(entries, p, Method.FIFO, D(50000), proceeds_overrides={"s": D("4.00")})
    (row,) = r.disposals
    assert (row.proceeds, row.cost, row.gain, row.price_missing) == (D("4.00"), D("3.00"), D("1.00"), False)
    assert r.missing_prices == [] and r.realized_in() == D("1.00")
    # without the user's figure the same sale has no known proceeds
    r = compute_cost_basis(entries, p, Method.FIFO, D(50000))
    assert r.disposals[0].price_missing is True and r.missing_prices == [("s", sale_day)]
    assert r.realized_in() is None


def test_one_transaction_across_three_of_the_users_wallets() -> None:
    # w1 (1,000 + the 100-sat fee) and w2 (2,000) pay 1,500 to the user's w3 and 1,500 to someone else
    rows = [
        WalletMove("t", "w1", DAY0, -1_100, 100),
        WalletMove("t", "w2", DAY0, -2_000),
        WalletMove("t", "w3", DAY0, 1_500),
    ]
    (whole,) = ledger_from_moves(rows)
    assert (whole.kind, whole.sats, whole.fee_sats, whole.wallet_ids) == (DISP, 1_500, 100, ("w1", "w2", "w3"))
    # the paying wallets: 1,500 to the outsider (with the fee) and 1,500 moved out to w3
    got = [(e.kind, e.sats, e.fee_sats) for e in ledger_from_moves(rows, scope={"w1", "w2"})]
    assert got == [(DISP, 1_500, 100), (MOVE_OUT, 1_500, 0)]
    # the receiving wallet: an acquisition (at the day's price) of what it got
    assert [(e.kind, e.sats) for e in ledger_from_moves(rows, scope={"w3"})] == [(ACQ, 1_500)]


def test_coins_acquired_before_the_first_close_have_an_unknown_cost_unless_the_user_sets_it() -> None:
    # no close on or before DAY0, and prices are not estimated across 3 or more missing days
    p = DailyPrices.from_pairs([(DAY0 + timedelta(days=10), D("40000"))], max_gap_days=3)
    entries = [LedgerEntry("a", DAY0, ACQ, 1_000, 0, ("w",))]
    r = compute_cost_basis(entries, p, Method.FIFO, D(40000))
    assert r.missing_prices == [("a", DAY0)] and r.holdings_sats == 1_000
    assert r.known_total_cost is None and r.known_unrealized is None  # never a made-up zero cost
    r = compute_cost_basis(entries, p, Method.FIFO, D(40000), {"a": D("0.25")})
    assert r.missing_prices == [] and r.known_total_cost == D("0.25")
    assert r.known_unrealized == D("0.15")  # 1,000 sats at 40,000 = 0.40, minus 0.25
