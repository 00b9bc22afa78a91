"""Cost basis per method against hand calculations."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

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

# Hand-made price table (closes in USD)
PRICES = DailyPrices.from_pairs(
    [
        (date(2020, 1, 1), D(7000)),
        (date(2020, 6, 1), D(9000)),
        (date(2021, 3, 1), D(45000)),
        (date(2021, 6, 1), D(36000)),
        (date(2021, 7, 1), D(33000)),
    ]
)
NOW = D(50000)

# Per-wallet view of the history: wallet w1 (hot) and w2 (cold), both the user's.
ROWS = [
    WalletMove("a", "w1", date(2020, 1, 1), BTC),  # buy A 1.0 BTC @ 7000
    WalletMove("b", "w1", date(2020, 6, 1), BTC),  # buy B 1.0 BTC @ 9000, user-set cost 9500
    WalletMove("c", "w2", date(2021, 3, 1), BTC // 2),  # buy C 0.5 BTC @ 45000
    # pay someone 1.5 BTC, fee 10,000 sats: w1 loses 1.5 BTC + fee
    WalletMove("sell", "w1", date(2021, 6, 1), -(3 * BTC // 2) - 10_000, 10_000),
    # move 0.2 BTC w1 -> w2 paying 5,000 sats fee: a transfer, only the fee is a disposal
    WalletMove("move", "w1", date(2021, 7, 1), -(BTC // 5) - 5_000, 5_000),
    WalletMove("move", "w2", date(2021, 7, 1), BTC // 5),
]
OVERRIDES = {"b": D(9500)}


def ledger() -> list[LedgerEntry]:
    return ledger_from_moves(ROWS)


def test_ledger_classifies_transfers_between_own_wallets() -> None:
    by_tx = {e.txid: e for e in ledger()}
    assert by_tx["a"].kind is EntryKind.ACQUISITION and by_tx["a"].sats == BTC
    assert by_tx["sell"].kind is EntryKind.DISPOSAL
    assert (by_tx["sell"].sats, by_tx["sell"].fee_sats) == (3 * BTC // 2, 10_000)
    assert by_tx["move"].kind is EntryKind.TRANSFER
    assert (by_tx["move"].sats, by_tx["move"].fee_sats) == (0, 5_000)
    assert by_tx["move"].wallet_ids == ("w1", "w2")


def rows_of(res):  # type: ignore[no-untyped-def]
    return [(r.txid, r.kind, r.sats, r.proceeds, r.cost, r.gain, r.holding_period) for r in res.disposals]


def test_fifo_by_hand() -> None:
    # sell 1.5 BTC @ 36000 = 54000 proceeds. FIFO lots: A (1.0, 7000, 2020-01-01) and half of
    # B (0.5 of 9500 = 4750, 2020-06-01). A is held 517 days (LONG); B exactly 365 days: SHORT
    # (long needs MORE than 365). Proceeds split by sats: 36000 / 18000.
    # fee 10,000 sats @ 36000 = 3.60 proceeds; cost from B: 9500 / 1e8 sats = 0.000095 per sat
    #   x 10,000 = 0.95 -> gain 3.60 - 0.95 = 2.65, SHORT (B held 365 days)
    # transfer fee 5,000 sats @ 33000 = 1.65 proceeds; from B: 0.475 -> 0.48 (half-even), held 395 d
    res = compute_cost_basis(ledger(), PRICES, Method.FIFO, NOW, OVERRIDES)
    assert rows_of(res) == [
        ("sell", "SPEND", BTC, D("36000.00"), D("7000.00"), D("29000.00"), "LONG"),
        ("sell", "SPEND", BTC // 2, D("18000.00"), D("4750.00"), D("13250.00"), "SHORT"),
        ("sell", "FEE", 10_000, D("3.60"), D("0.95"), D("2.65"), "SHORT"),
        ("move", "FEE", 5_000, D("1.65"), D("0.48"), D("1.17"), "LONG"),
    ]
    # held: B 0.5 BTC - 15,000 sats = 49,985,000 sats at 4750 - 0.95 - 0.475 = 4748.575 -> 4748.58
    #       C 0.5 BTC at 22500 -> total cost 27248.575 -> 27248.58 (rounded once, on the total)
    assert res.holdings_sats == 99_985_000
    assert res.total_cost == D("27248.58")
    # value 0.99985 x 50000 = 49992.50; unrealized 49992.50 - 27248.58 = 22743.92
    assert res.current_value == D("49992.50")
    assert res.unrealized_gain == D("22743.92")
    # realized 29000 + 13250 + 2.65 + 1.17 = 42253.82
    assert res.realized_gain == D("42253.82")
    assert res.acquisitions_cost == D("39000.00")  # 7000 + 9500 (user-set) + 22500


def test_lifo_by_hand() -> None:
    # LIFO: sell takes C (0.5, 22500, 92 days) then B (1.0, 9500, 365 days): both SHORT, one row:
    # proceeds 54000, cost 32000, gain 22000.
    # fee 10,000 sats: only A left (7000/BTC -> 0.70), held 517 days LONG: 3.60 - 0.70 = 2.90
    # transfer fee 5,000 sats from A: 0.35; 1.65 - 0.35 = 1.30, LONG
    res = compute_cost_basis(ledger(), PRICES, Method.LIFO, NOW, OVERRIDES)
    assert rows_of(res) == [
        ("sell", "SPEND", 3 * BTC // 2, D("54000.00"), D("32000.00"), D("22000.00"), "SHORT"),
        ("sell", "FEE", 10_000, D("3.60"), D("0.70"), D("2.90"), "LONG"),
        ("move", "FEE", 5_000, D("1.65"), D("0.35"), D("1.30"), "LONG"),
    ]
    # A left: 99,985,000 sats at 7000 - 0.70 - 0.35 = 6998.95; unrealized 49992.50 - 6998.95
    assert res.total_cost == D("6998.95")
    assert res.unrealized_gain == D("42993.55")
    assert res.realized_gain == D("22004.20")


def test_average_by_hand() -> None:
    # pool: 2.5 BTC for 7000 + 9500 + 22500 = 39000 -> 15600 / BTC.
    # sell 1.5 BTC: cost 1.5 x 15600 = 23400, holding split by FIFO lot dates:
    #   1.0 BTC LONG (A): 36000 - 15600 = 20400; 0.5 BTC SHORT (B): 18000 - 7800 = 10200
    # fee 10,000 sats: 1.56 cost -> 3.60 - 1.56 = 2.04 SHORT (B, 365 days)
    # transfer fee 5,000 sats: 0.78 -> 1.65 - 0.78 = 0.87 LONG (B, 395 days)
    res = compute_cost_basis(ledger(), PRICES, Method.AVERAGE, NOW, OVERRIDES)
    assert rows_of(res) == [
        ("sell", "SPEND", BTC, D("36000.00"), D("15600.00"), D("20400.00"), "LONG"),
        ("sell", "SPEND", BTC // 2, D("18000.00"), D("7800.00"), D("10200.00"), "SHORT"),
        ("sell", "FEE", 10_000, D("3.60"), D("1.56"), D("2.04"), "SHORT"),
        ("move", "FEE", 5_000, D("1.65"), D("0.78"), D("0.87"), "LONG"),
    ]
    # left 0.99985 BTC x 15600 = 15597.66; unrealized 49992.50 - 15597.66 = 34394.84
    assert res.total_cost == D("15597.66")
    assert res.unrealized_gain == D("34394.84")
    assert res.realized_gain == D("30602.91")


def small_history(prices: list[int]) -> tuple[list[LedgerEntry], DailyPrices]:
    days = [date(2024, 1, i + 1) for i in range(len(prices) + 1)]
    entries = [LedgerEntry(f"buy{i}", days[i], EntryKind.ACQUISITION, BTC) for i in range(len(prices))]
    entries.append(LedgerEntry("sell", days[-1], EntryKind.DISPOSAL, BTC))
    table = [(days[i], D(p)) for i, p in enumerate(prices)] + [(days[-1], D(400))]
    return entries, DailyPrices.from_pairs(table)


@pytest.mark.parametrize(
    ("method", "cost"),
    [
        # buys at 100, 300, 200; sell 1 BTC at 400
        (Method.FIFO, D(100)),  # first lot
        (Method.LIFO, D(200)),  # last lot
        (Method.HIFO, D(300)),  # highest cost lot
        (Method.AVERAGE, D(200)),  # (100 + 300 + 200) / 3
    ],
)
def test_each_method_picks_its_lot(method: Method, cost: Decimal) -> None:
    entries, prices = small_history([100, 300, 200])
    res = compute_cost_basis(entries, prices, method, D(400))
    (row,) = res.disposals
    assert (row.proceeds, row.cost, row.gain) == (D("400.00"), cost.quantize(D("0.01")), D(400) - cost)
    # realized + unrealized = value now + proceeds - everything paid, for every method
    assert res.realized_gain + res.unrealized_gain == D(400) + D(800) - D(600)


def test_selling_more_than_known_lots_marks_missing_basis() -> None:
    entries = [
        LedgerEntry("buy", date(2024, 1, 1), EntryKind.ACQUISITION, BTC // 2),
        LedgerEntry("sell", date(2024, 1, 2), EntryKind.DISPOSAL, BTC),
    ]
    prices = DailyPrices.from_pairs([(date(2024, 1, 1), D(100)), (date(2024, 1, 2), D(200))])
    res = compute_cost_basis(entries, prices, "FIFO", D(200))
    # 0.5 BTC from the lot (cost 50) and 0.5 BTC with no known lot (cost 0, flagged)
    assert [(r.sats, r.proceeds, r.cost, r.missing_basis) for r in res.disposals] == [
        (BTC // 2, D("100.00"), D("50.00"), False),
        (BTC // 2, D("100.00"), D("0.00"), True),
    ]
    assert res.missing_basis_sats == BTC // 2
    assert res.holdings_sats == 0


def test_acquisition_on_a_day_without_price_is_estimated() -> None:
    entries = [LedgerEntry("buy", date(2024, 1, 2), EntryKind.ACQUISITION, BTC)]
    prices = DailyPrices.from_pairs([(date(2024, 1, 1), D(100)), (date(2024, 1, 3), D(200))])
    res = compute_cost_basis(entries, prices, "HIFO", D(200))
    assert res.total_cost == D("150.00")  # interpolated close of 2024-01-02
    assert res.estimated_prices


def test_empty_history() -> None:
    res = compute_cost_basis([], PRICES, "FIFO", NOW)
    assert (res.holdings_sats, res.total_cost, res.realized_gain, res.unrealized_gain) == (0, 0, 0, 0)


def test_portfolio_scope_sees_moves_to_own_wallets_as_moves_not_disposals() -> None:
    # Only w1 is in the portfolio. The 0.2 BTC move w1 -> w2 leaves the portfolio (MOVE_OUT: lots leave
    # at cost, no gain), its fee is still a disposal; the sale to someone else stays a disposal.
    scoped = ledger_from_moves(ROWS, scope={"w1"})
    kinds = [(e.txid, e.kind, e.sats, e.fee_sats) for e in scoped]
    assert kinds == [
        ("a", EntryKind.ACQUISITION, BTC, 0),
        ("b", EntryKind.ACQUISITION, BTC, 0),
        ("sell", EntryKind.DISPOSAL, 3 * BTC // 2, 10_000),
        ("move", EntryKind.MOVE_OUT, BTC // 5, 5_000),
    ]
    res = compute_cost_basis(scoped, PRICES, Method.FIFO, NOW, OVERRIDES)
    # w1 had A (1 BTC, 7000) + B (1 BTC, 9500) = 2 BTC; sold 1.5 BTC + 10,000 sats fee (FIFO as above,
    # but C is not in scope), then 0.2 BTC moved out + 5,000 sats fee:
    # left 2 BTC - 1.5 - 0.0001 - 0.2 - 0.00005 = 0.29985 BTC = 29,985,000 sats of B
    assert res.holdings_sats == 29_985_000
    # B cost per sat 0.000095: 29,985,000 x 0.000095 = 2848.575 -> 2848.58
    assert res.total_cost == D("2848.58")
    assert [r.kind for r in res.disposals] == ["SPEND", "SPEND", "FEE", "FEE"]
