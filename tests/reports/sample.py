"""A realistic sample portfolio over the bundled price history, for the renderer tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from app.analytics.costbasis import WalletMove
from app.analytics.portfolio import analyse_portfolio
from app.analytics.pricing import DailyPrices
from app.analytics.risk import WalletRisk
from app.prices.bundled import BundledProvider
from app.prices.provider import Price
from app.reports.builder import build_report_data
from app.reports.data import ReportData

BTC = 100_000_000
WALLETS = {"w-hot": "Daily spending (hot)", "w-cold": "Cold storage 2-of-3", "w-dca": "DCA stack"}


def sample_txs() -> list[WalletMove]:
    txs: list[WalletMove] = []
    d = date(2023, 1, 6)
    i = 0
    while d <= date(2025, 6, 20):  # a DCA buy every two weeks
        txs.append(WalletMove(f"{i:04d}dca" + "a" * 57, "w-dca", d, 2_500_000 + (i % 5) * 100_000))
        d += timedelta(days=14)
        i += 1
    txs += [
        WalletMove("b" * 64, "w-hot", date(2023, 3, 2), 40_000_000),
        WalletMove("c" * 64, "w-hot", date(2024, 3, 14), -12_000_000 - 4_200, 4_200),  # paid someone
        # hot -> cold: a transfer between own wallets, 3,100 sats fee
        WalletMove("d" * 64, "w-hot", date(2024, 5, 1), -20_000_000 - 3_100, 3_100),
        WalletMove("d" * 64, "w-cold", date(2024, 5, 1), 20_000_000),
        WalletMove("e" * 64, "w-cold", date(2024, 11, 20), 50_000_000),
        WalletMove("f" * 64, "w-dca", date(2025, 2, 3), -30_000_000 - 2_000, 2_000),  # sold some
        WalletMove("1" * 64, "w-hot", date(2024, 9, 10), -5_000_000 - 1_500, 1_500),  # paid someone
        # in the mempool at the end of the period: pending, not an acquisition yet
        WalletMove("9" * 64, "w-hot", date(2025, 6, 30), 1_500_000, confirmed=False),
    ]
    return txs


def sample_report(
    bundled: BundledProvider | None = None,
    end: date = date(2025, 6, 30),
    max_gap_days: int | None = None,
    spot_value: Decimal | None = None,
) -> ReportData:
    """The Y1 report of the sample portfolio ending ``end`` (with ``max_gap_days`` a day without a
    close further than that from one is missing: the bundled file ends on 2025-09-23)."""
    bundled = bundled or BundledProvider()
    pairs = list(zip(bundled.days, bundled.closes, strict=True))
    if spot_value is not None:  # as the price service does: the spot price is the last day's value
        pairs.append((end, spot_value))
    prices = DailyPrices.from_pairs(pairs, max_gap_days=max_gap_days)
    start = end - timedelta(days=365)
    txs = sample_txs()
    balances: dict[str, int] = {}
    for t in txs:
        balances[t.wallet_id] = balances.get(t.wallet_id, 0) + t.net_sats
    risk_wallets = [
        WalletRisk("w-hot", WALLETS["w-hot"], False, "P2WPKH", balances["w-hot"], 0, [balances["w-hot"]], 4, 1),
        WalletRisk("w-cold", WALLETS["w-cold"], True, "P2WSH", balances["w-cold"], 0, [20_000_000, 50_000_000], 2, 0),
        WalletRisk(
            "w-dca", WALLETS["w-dca"], False, "P2WPKH", balances["w-dca"], 0,
            [2_500_000] * 20 + [balances["w-dca"] - 50_000_000], 60, 0,
        ),
    ]  # fmt: skip
    spot_price = spot_value or prices.close_on(end)[0]
    assert spot_price is not None
    spot = Price("USD", spot_price, datetime.combine(end, time(23, 59), UTC), "bundled")
    analytics = analyse_portfolio(txs, prices, start, end, spot_price, "FIFO", risk_wallets, fee_rate_sat_vb=12.0)
    return build_report_data(
        title="Bitcoin portfolio report",
        portfolio_name="Family savings",
        owner="alice@example.com",
        currency="USD",
        timeframe="Y1",
        start=start,
        end=end,
        generated_at=datetime.combine(end, time(23, 59), UTC) + timedelta(minutes=1),
        spot=spot,
        analytics=analytics,
        prices=prices,
        wallet_names=WALLETS,
        labels={"f" * 64: "Sold to pay the builder"},
        multisig={"w-cold": True},
    )
