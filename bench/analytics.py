"""Benchmark: all analytics for 50 wallets, 20,000 transactions and 10 years of daily prices.

Run: ``.venv/bin/python bench/analytics.py [--reports]`` (pin to one core with ``taskset -c 0``).
Target: under 200 ms in total on one core for ledger + performance (value series, TWR, XIRR, volatility,
Sharpe, Sortino, drawdown, benchmarks) + cost basis (the portfolio's method) + risk.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.analytics.costbasis import Method, WalletMove, compute_cost_basis, ledger_from_moves
from app.analytics.performance import analyse
from app.analytics.portfolio import analyse_portfolio, movements_from_ledger
from app.analytics.pricing import DailyPrices
from app.analytics.risk import WalletRisk, assess_risk
from app.prices.bundled import BundledProvider

N_WALLETS = 50
N_TXS = 20_000
END = date(2025, 9, 23)
START = END - timedelta(days=3652)


def make_history(seed: int = 7) -> list[WalletMove]:
    rng = np.random.default_rng(seed)
    days = np.sort(rng.integers(0, 3653, N_TXS))
    txs: list[WalletMove] = []
    balances = np.zeros(N_WALLETS, dtype=np.int64)
    i = 0
    while len(txs) < N_TXS:
        d = START + timedelta(days=int(days[min(i, N_TXS - 1)]))
        w = int(rng.integers(0, N_WALLETS))
        kind = rng.random()
        txid = f"{i:064x}"
        if kind < 0.7 or balances[w] < 200_000:  # receive
            amt = int(rng.integers(50_000, 5_000_000))
            txs.append(WalletMove(txid, f"w{w}", d, amt))
            balances[w] += amt
        elif kind < 0.9:  # pay someone
            amt = int(rng.integers(10_000, max(20_000, balances[w] // 3)))
            fee = int(rng.integers(200, 5_000))
            txs.append(WalletMove(txid, f"w{w}", d, -(amt + fee), fee))
            balances[w] -= amt + fee
        else:  # transfer to another own wallet (two rows)
            w2 = (w + 1) % N_WALLETS
            amt = int(rng.integers(10_000, max(20_000, balances[w] // 2)))
            fee = int(rng.integers(200, 5_000))
            txs.append(WalletMove(txid, f"w{w}", d, -(amt + fee), fee))
            txs.append(WalletMove(txid, f"w{w2}", d, amt))
            balances[w] -= amt + fee
            balances[w2] += amt
        i += 1
    return txs[:N_TXS]


def timed(fn, repeat: int = 7):  # type: ignore[no-untyped-def]
    """(result, median CPU ms, min CPU ms). CPU time of this process (``time.process_time``): the
    figure for "one core", unaffected by other processes competing for the machine."""
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        times.append((time.process_time() - t0) * 1000)
    return out, statistics.median(times), min(times)


def main() -> None:
    bundled = BundledProvider()
    i0 = bundled.days.index(START)
    prices = DailyPrices.from_pairs(list(zip(bundled.days[i0:], bundled.closes[i0:], strict=True)))
    txs = make_history()
    balances: dict[str, int] = {}
    for t in txs:
        balances[t.wallet_id] = balances.get(t.wallet_id, 0) + t.net_sats
    rng = np.random.default_rng(1)
    wallets = [
        WalletRisk(
            w, w, i % 3 == 0, "P2WSH" if i % 3 == 0 else "P2WPKH", max(0, b), 0,
            list(rng.integers(500, 2_000_000, 40)), 100, int(rng.integers(0, 5)),
        )
        for i, (w, b) in enumerate(sorted(balances.items()))
    ]  # fmt: skip
    now = bundled.closes[-1]
    print(f"portfolio: {len(balances)} wallets, {len(txs):,} wallet transactions, "
          f"{len(prices.days):,} daily closes ({START} .. {END})")  # fmt: skip

    ledger, t_ledger, _ = timed(lambda: ledger_from_moves(txs))
    mv, t_mv, _ = timed(lambda: movements_from_ledger(ledger))
    perf, t_perf, _ = timed(lambda: analyse(mv, prices, START, END, 0.0))
    cbs = {}
    t_cb = {}
    t_cb_min = {}
    for m in Method:
        cbs[m], t_cb[m], t_cb_min[m] = timed(lambda m=m: compute_cost_basis(ledger, prices, m, now))  # type: ignore[misc]
    risk, t_risk, _ = timed(lambda: assess_risk(wallets, 12.0, perf.max_drawdown.value, perf.volatility))
    print(f"  (CPU time, medians of 7 runs; load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus)")
    _, t_all, t_all_min = timed(
        lambda: analyse_portfolio(txs, prices, START, END, now, Method.HIFO, wallets, 12.0, 0.0)
    )
    print(f"  ledger (group + classify)     {t_ledger:8.1f} ms   ({len(ledger):,} user-level entries)")
    print(f"  movements                     {t_mv:8.1f} ms")
    print(f"  performance (all metrics)     {t_perf:8.1f} ms   TWR {perf.time_weighted_return:+.2%}, "
          f"XIRR {perf.money_weighted_return:+.2%}, vol {perf.volatility:.2%}, "
          f"maxDD {perf.max_drawdown.value:.2%}")  # fmt: skip
    for m in Method:
        cb = cbs[m]
        print(f"  cost basis {m.value:<8}           {t_cb[m]:8.1f} ms (min {t_cb_min[m]:.1f})  "
              f"{len(cb.disposals):,} rows, "
              f"realized {cb.realized_gain:,.2f}, unrealized {cb.unrealized_gain:,.2f}")  # fmt: skip
    print(f"  risk                          {t_risk:8.1f} ms   score {risk.score}")
    t0 = time.perf_counter()
    analyse_portfolio(txs, prices, START, END, now, Method.HIFO, wallets, 12.0, 0.0)
    wall = (time.perf_counter() - t0) * 1000
    print(f"  TOTAL analyse_portfolio (HIFO) {t_all:7.1f} ms CPU median, {t_all_min:.1f} ms min "
          f"(target < 200 ms; one wall-clock run: {wall:.1f} ms)")  # fmt: skip
    assert isinstance(now, Decimal)
    if "--reports" in sys.argv:
        bench_reports(txs, prices, wallets, now)


def bench_reports(txs: list[WalletMove], prices: DailyPrices, wallets: list[WalletRisk], now: Decimal) -> None:
    """Rendering time of each format for the same portfolio, one year of it (background job)."""
    from datetime import UTC, datetime

    from app.prices.provider import Price
    from app.reports.builder import build_report_data
    from app.reports.csv import render_csv
    from app.reports.html import render_html
    from app.reports.json import render_json
    from app.reports.pdf import render_pdf

    start = END - timedelta(days=365)
    analytics = analyse_portfolio(txs, prices, start, END, now, Method.FIFO, wallets, 12.0, 0.0)
    data = build_report_data(
        title="Bitcoin portfolio report", portfolio_name="Bench", owner="bench@example.com", currency="USD",
        timeframe="Y1", start=start, end=END, generated_at=datetime.now(UTC),
        spot=Price("USD", now, datetime.now(UTC), "bundled"), analytics=analytics, prices=prices,
        wallet_names={w.wallet_id: w.name for w in wallets},
    )  # fmt: skip
    print(f"reports (Y1: {len(data.transactions):,} transactions, {len(data.period_disposals):,} disposal rows)")
    for name, fn in (("CSV", render_csv), ("JSON", render_json), ("HTML", render_html), ("PDF", render_pdf)):
        t0 = time.perf_counter()
        body = fn(data)
        print(f"  {name:<5} {(time.perf_counter() - t0) * 1000:8.0f} ms  {len(body) / 1e6:6.2f} MB")


if __name__ == "__main__":
    main()
