"""Realised gains per tax year and holding class for each method, against figures worked out by
hand (derivations next to them): acquisitions and disposals across two tax years, network fees,
an internal transfer and an unconfirmed send.

The history (closes in USD on each day; long term = sold after the first anniversary):

    2022-03-01  40000  buy A 1.0 BTC                          -> cost 40000
    2022-09-01  20000  buy B 1.0 BTC                          -> cost 20000
    2023-02-01  25000  buy C 0.5 BTC (into the cold wallet)   -> cost 12500
    2023-06-01  30000  move 0.3 BTC hot -> cold, fee 10,000 sats (internal transfer: only the fee)
    2023-08-01  30000  send 1.2 BTC to someone, fee 20,000 sats
    2024-04-01  70000  send 0.5 BTC to someone (no fee)
    2024-05-01   (mempool) send 0.1 BTC, fee 1,000 sats: unconfirmed, so pending, not a disposal
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from app.analytics.costbasis import (
    FeeTreatment,
    Method,
    WalletMove,
    add_months,
    compute_cost_basis,
    holding_period,
    ledger_from_moves,
)
from app.analytics.gains import fee_lines, summarise_gains, tax_year_of, tax_year_range
from app.analytics.pricing import DailyPrices

BTC = 100_000_000
D = Decimal
UK = (4, 6)

PRICES = DailyPrices.from_pairs(
    [
        (date(2022, 3, 1), D(40000)),
        (date(2022, 9, 1), D(20000)),
        (date(2023, 2, 1), D(25000)),
        (date(2023, 6, 1), D(30000)),
        (date(2023, 8, 1), D(30000)),
        (date(2024, 4, 1), D(70000)),
    ]
)
ROWS = [
    WalletMove("A", "hot", date(2022, 3, 1), BTC),
    WalletMove("B", "hot", date(2022, 9, 1), BTC),
    WalletMove("C", "cold", date(2023, 2, 1), BTC // 2),
    WalletMove("move", "hot", date(2023, 6, 1), -30_000_000 - 10_000, 10_000),
    WalletMove("move", "cold", date(2023, 6, 1), 30_000_000),
    WalletMove("sell1", "hot", date(2023, 8, 1), -120_000_000 - 20_000, 20_000),
    WalletMove("sell2", "cold", date(2024, 4, 1), -50_000_000),
    WalletMove("mempool", "cold", date(2024, 5, 1), -10_000_000 - 1_000, 1_000, confirmed=False),
]


def run(method: Method, fees: FeeTreatment = FeeTreatment.DISPOSE):  # type: ignore[no-untyped-def]
    return compute_cost_basis(ledger_from_moves(ROWS), PRICES, method, D(70000), fee_treatment=fees)


def per_year(res, fy=(1, 1)) -> dict[tuple[int, str], tuple[Decimal, Decimal, Decimal]]:  # type: ignore[no-untyped-def]
    return {(s.tax_year, s.holding_period): (s.proceeds, s.cost, s.gain) for s in summarise_gains(res.disposals, fy)}


def test_fifo_by_hand() -> None:
    # 2023-06-01 transfer fee 0.0001 BTC from A: cost 0.0001 x 40000 = 4.00, proceeds 0.0001 x 30000
    #   = 3.00, gain -1.00; A bought 2022-03-01, so LONG. A keeps 0.9999 BTC (39996).
    # 2023-08-01 send 1.2: A 0.9999 (39996, LONG) + B 0.2001 (0.2001 x 20000 = 4002; B's anniversary
    #   is 2023-09-01, so SHORT). Proceeds 36000 split by sats: LONG 36000 x 0.9999/1.2 = 29997.00,
    #   SHORT 6003.00. Gains LONG 29997 - 39996 = -9999.00, SHORT 6003 - 4002 = 2001.00.
    #   Its fee 0.0002 from B: cost 4.00, proceeds 6.00, gain 2.00 SHORT.
    # 2024-04-01 send 0.5 from B (0.7997 left @ 20000): cost 10000, proceeds 35000, gain 25000 LONG.
    res = run(Method.FIFO)
    assert per_year(res) == {
        (2023, "SHORT"): (D("6009.00"), D("4006.00"), D("2003.00")),  # 6003 + 6, 4002 + 4, 2001 + 2
        (2023, "LONG"): (D("30000.00"), D("40000.00"), D("-10000.00")),  # 3 + 29997, 4 + 39996, -1 - 9999
        (2024, "LONG"): (D("35000.00"), D("10000.00"), D("25000.00")),
    }
    spend = [r for r in res.disposals if r.txid == "sell1" and r.kind == "SPEND"]
    assert [(r.holding_period, r.acquired_dates, r.holding_days) for r in spend] == [
        ("LONG", (date(2022, 3, 1),), 518),
        ("SHORT", (date(2022, 9, 1),), 334),
    ]


def test_lifo_by_hand() -> None:
    # transfer fee 0.0001 from C (newest, 25000): cost 2.50, proceeds 3.00, gain 0.50 SHORT.
    # send 1.2: C 0.4999 (12497.50) + B 0.7001 (14002), both SHORT -> one row, acquired 2022-09-01 and
    #   2023-02-01: cost 26499.50, proceeds 36000, gain 9500.50. Fee 0.0002 from B: 4.00 -> 6.00, +2.00.
    # send 0.5 (2024): B 0.2997 (5994) + A 0.2003 (8012), both LONG: cost 14006, gain 35000 - 14006.
    res = run(Method.LIFO)
    assert per_year(res) == {
        (2023, "SHORT"): (D("36009.00"), D("26506.00"), D("9503.00")),  # 0.50 + 9500.50 + 2.00
        (2024, "LONG"): (D("35000.00"), D("14006.00"), D("20994.00")),
    }
    (row,) = [r for r in res.disposals if r.txid == "sell1" and r.kind == "SPEND"]
    assert row.acquired_dates == (date(2022, 9, 1), date(2023, 2, 1))


def test_hifo_by_hand() -> None:
    # unit costs: A 40000 > C 25000 > B 20000.
    # transfer fee from A: 4.00 -> 3.00, -1.00 LONG. send 1.2: A 0.9999 (39996, LONG) + C 0.2001
    #   (5002.50, SHORT): LONG 29997 - 39996 = -9999.00, SHORT 6003 - 5002.50 = 1000.50.
    #   Fee 0.0002 from C: 5.00 -> 6.00, +1.00 SHORT.
    # send 0.5 (2024): C 0.2997 (7492.50) + B 0.2003 (4006), both LONG: 35000 - 11498.50 = 23501.50.
    res = run(Method.HIFO)
    assert per_year(res) == {
        (2023, "SHORT"): (D("6009.00"), D("5007.50"), D("1001.50")),
        (2023, "LONG"): (D("30000.00"), D("40000.00"), D("-10000.00")),
        (2024, "LONG"): (D("35000.00"), D("11498.50"), D("23501.50")),
    }


def test_average_by_hand() -> None:
    # pool 2.5 BTC for 72500 = 29000/BTC throughout; holding classes follow FIFO lot dates.
    # transfer fee 0.0001: 2.90 -> 3.00, +0.10 LONG (A). send 1.2: A 0.9999 LONG costs 28997.10,
    #   B 0.2001 SHORT costs 5802.90: LONG 29997 - 28997.10 = 999.90, SHORT 6003 - 5802.90 = 200.10.
    #   Fee 0.0002: 5.80 -> 6.00, +0.20 SHORT (B).
    # send 0.5 (2024), from B by date, LONG: 35000 - 14500 = 20500.
    res = run(Method.AVERAGE)
    assert per_year(res) == {
        (2023, "SHORT"): (D("6009.00"), D("5808.70"), D("200.30")),
        (2023, "LONG"): (D("30000.00"), D("29000.00"), D("1000.00")),  # 0.10 + 999.90
        (2024, "LONG"): (D("35000.00"), D("14500.00"), D("20500.00")),
    }


def test_uk_fiscal_year_puts_april_2024_in_2023_24() -> None:
    # 6 April 2023 .. 5 April 2024 is tax year 2023 ("2023/24"): all three disposal days fall in it.
    assert tax_year_of(date(2024, 4, 1), UK) == 2023 and tax_year_of(date(2024, 4, 6), UK) == 2024
    assert tax_year_range(2023, UK) == (date(2023, 4, 6), date(2024, 4, 5))
    res = run(Method.FIFO)
    subs = summarise_gains(res.disposals, UK)
    assert [(s.label, s.holding_period, s.gain) for s in subs] == [
        ("2023/24", "SHORT", D("2003.00")),
        ("2023/24", "LONG", D("15000.00")),  # -10000 + 25000
    ]
    assert subs[0].disposals == 1 and subs[0].fee_disposals == 1  # the SHORT part of sell1 and its fee


def test_add_to_cost_puts_fees_into_the_disposal_they_paid_for() -> None:
    # transfer fee 0.0001 from A: its 4.00 cost stays on A (0.9999 BTC now cost 40000); no row.
    # send 1.2 + fee 0.0002 = 1.2002 BTC leave: A 0.9999 (40000, LONG) + B 0.2003 (4006, SHORT).
    #   Proceeds 36000 (what the 1.2 BTC fetched) split by sats: LONG 36000 x 9999/12002 = 29991.9997
    #   -> 29992.00, SHORT 6008.00. Gains -10008.00 and 2002.00 (sum 36000 - 44006 = -8006).
    # send 0.5 (2024) from B (0.7997 @ 20000): 35000 - 10000 = 25000 LONG.
    res = run(Method.FIFO, FeeTreatment.ADD_TO_COST)
    assert all(r.kind == "SPEND" for r in res.disposals)
    assert per_year(res) == {
        (2023, "SHORT"): (D("6008.00"), D("4006.00"), D("2002.00")),
        (2023, "LONG"): (D("29992.00"), D("40000.00"), D("-10008.00")),
        (2024, "LONG"): (D("35000.00"), D("10000.00"), D("25000.00")),
    }
    assert [r.fee_sats for r in res.disposals if r.txid == "sell1"] == [20_000, 0]


def test_unconfirmed_send_is_pending_not_a_disposal_and_transfer_is_not_a_disposal() -> None:
    for method in Method:
        res = run(method)
        assert {r.txid for r in res.disposals if r.kind == "SPEND"} == {"sell1", "sell2"}
        assert [(p.txid, p.kind, p.sats, p.fee_sats) for p in res.pending] == [
            ("mempool", "DISPOSAL", 10_000_000, 1_000)
        ]
        assert res.holdings_sats == 250_000_000 - 10_000 - 120_020_000 - 50_000_000  # 0.7997 BTC


def test_fee_rows_aggregate_per_year_and_class() -> None:
    lines = fee_lines(run(Method.FIFO).disposals)
    # 2023: the transfer fee (LONG, from A) and the sale's fee (SHORT, from B)
    assert [(f.label, f.holding_period, f.count, f.sats, f.gain) for f in lines] == [
        ("2023", "SHORT", 1, 20_000, D("2.00")),
        ("2023", "LONG", 1, 10_000, D("-1.00")),
    ]


def test_long_term_after_the_anniversary_and_configurable() -> None:
    assert holding_period(date(2020, 1, 1), date(2021, 1, 1)) == "SHORT"  # exactly one year (366 days)
    assert holding_period(date(2020, 1, 1), date(2021, 1, 2)) == "LONG"
    assert add_months(date(2020, 2, 29), 12) == date(2021, 2, 28)
    assert holding_period(date(2023, 1, 1), date(2023, 7, 2), 6) == "LONG"
    res = compute_cost_basis(ledger_from_moves(ROWS), PRICES, Method.FIFO, D(1), long_term_months=24)
    classes = {(s.tax_year, s.holding_period) for s in summarise_gains(res.disposals)}
    assert classes == {(2023, "SHORT"), (2024, "SHORT")}


@pytest.mark.parametrize("method", list(Method))
def test_every_method_realises_the_same_total_over_a_full_liquidation(method: Method) -> None:
    # selling everything: realised = all proceeds - all costs, whatever the order of lots
    rows = [*ROWS[:-1], WalletMove("rest", "hot", date(2024, 4, 1), -79_970_000)]
    res = compute_cost_basis(ledger_from_moves(rows), PRICES, method, D(1))
    proceeds = D(3) + D(36000) + D(6) + D(35000) + D("55979.00")  # 0.7997 x 70000
    assert res.holdings_sats == 0 and res.realized_gain == proceeds - D(72500)
