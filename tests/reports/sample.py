"""A realistic sample portfolio over the bundled price history, for the renderer tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from app.analytics.costbasis import WalletTx
from app.analytics.portfolio import analyse_portfolio
from app.analytics.pricing import DailyPrices
from app.analytics.risk import WalletRisk
from app.prices.bundled import BundledProvider
from app.prices.provider import Price
from app.reports.builder import build_report_data
from app.reports.data import ReportData

BTC = 100_000_000
WALLETS = {"w-hot": "Daily spending (hot)", "w-cold": "Cold storage 2-of-3", "w-dca": "DCA stack"}


def sample_txs() -> list[WalletTx]:
    txs: list[WalletTx] = []
    d = date(2023, 1, 6)
    i = 0
    while d <= date(2025, 6, 20):  # a DCA buy every two weeks
        txs.append(WalletTx(f"{i:04d}dca" + "a" * 57, "w-dca", d, 2_500_000 + (i % 5) * 100_000))
        d += timedelta(days=14)
        i += 1
    txs += [
        WalletTx("b" * 64, "w-hot", date(2023, 3, 2), 40_000_000),
        WalletTx("c" * 64, "w-hot", date(2024, 3, 14), -12_000_000 - 4_200, 4_200),  # paid someone
        # hot -> cold: a transfer between own wallets, 3,100 sats fee
        WalletTx("d" * 64, "w-hot", date(2024, 5, 1), -20_000_000 - 3_100, 3_100),
        WalletTx("d" * 64, "w-cold", date(2024, 5, 1), 20_000_000),
        WalletTx("e" * 64, "w-cold", date(2024, 11, 20), 50_000_000),
        WalletTx("f" * 64, "w-dca", date(2025, 2, 3), -30_000_000 - 2_000, 2_000),  # sold some
    ]
    return txs


def sample_report(bundled: BundledProvider | None = None) -> ReportData:
    bundled = bundled or BundledProvider()
    prices = DailyPrices.from_pairs(list(zip(bundled.days, bundled.closes, strict=True)))
    end = date(2025, 6, 30)
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
    spot_price, _ = prices.close_on(end)
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
    )
