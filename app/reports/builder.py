"""Assemble a :class:`ReportData` from plain inputs (pure; the reports service does the I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal

from app.analytics.costbasis import EntryKind
from app.analytics.portfolio import PortfolioAnalytics
from app.analytics.pricing import DailyPrices
from app.prices.provider import Price
from app.reports.data import SATS, AllocationRow, ReportData, TransactionRow


def build_report_data(
    *,
    title: str,
    portfolio_name: str,
    owner: str,
    currency: str,
    timeframe: str,
    start: date,
    end: date,
    generated_at: datetime,
    spot: Price,
    analytics: PortfolioAnalytics,
    prices: DailyPrices,
    wallet_names: Mapping[str, str],
    labels: Mapping[str, str] | None = None,
) -> ReportData:
    labels = labels or {}
    balance = sum(analytics.wallet_balances.values())
    value = (spot.value * balance / SATS).quantize(Decimal("0.01"))
    alloc = []
    total = sum(max(0, s) for s in analytics.wallet_balances.values())
    for wid, sats in sorted(analytics.wallet_balances.items(), key=lambda kv: -kv[1]):
        alloc.append(
            AllocationRow(
                wallet_names.get(wid, wid),
                sats,
                (spot.value * sats / SATS).quantize(Decimal("0.01")),
                (sats / total) if total > 0 else 0.0,
            )
        )
    txs: list[TransactionRow] = []
    for e in analytics.ledger:
        if not (start <= e.day <= end):
            continue
        price, est = prices.close_on(e.day)
        if e.kind is EntryKind.ACQUISITION:
            sats = e.sats
        elif e.kind in (EntryKind.DISPOSAL, EntryKind.MOVE_OUT):
            sats = -(e.sats + e.fee_sats)
        else:
            sats = -e.fee_sats
        txs.append(
            TransactionRow(
                e.day,
                e.txid,
                ", ".join(wallet_names.get(w, w) for w in e.wallet_ids),
                e.kind.value,
                sats,
                e.fee_sats,
                price.quantize(Decimal("0.01")),
                (price * abs(sats) / SATS).quantize(Decimal("0.01")),
                est,
                labels.get(e.txid, ""),
            )
        )
    notes = []
    perf = analytics.performance
    if perf.partial:
        notes.append(
            f"{perf.estimated_days} day(s) of the period have no recorded close: their prices are "
            "interpolated between the nearest known closes (partial result)."
        )
    if analytics.cost_basis.missing_basis_sats:
        notes.append(
            f"{analytics.cost_basis.missing_basis_sats:,} sats were spent without a known acquisition "
            "(history incomplete): their cost basis is taken as 0."
        )
    if (generated_at - spot.at).total_seconds() > 3600:
        notes.append(
            f"The current price is from {spot.at.strftime('%Y-%m-%d %H:%M UTC')} ({spot.source}): "
            "no live price was available."
        )
    return ReportData(
        title=title,
        portfolio_name=portfolio_name,
        owner=owner,
        currency=currency,
        timeframe=timeframe,
        period_start=start,
        period_end=end,
        generated_at=generated_at,
        balance_sats=balance,
        value=value,
        price=spot.value,
        price_source=spot.source,
        price_at=spot.at,
        performance=perf,
        cost_basis=analytics.cost_basis,
        risk=analytics.risk,
        allocation=alloc,
        transactions=txs,
        notes=notes,
    )
