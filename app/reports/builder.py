"""Assemble a :class:`ReportData` from plain inputs (pure; the reports service does the I/O).

One valuation per report: the holdings at the period's end (per wallet, from the transactions)
times one price (the spot price when the period ends today, else that day's close) give the
summary's balance and value, the allocation table and its shares; the risk factors were computed
from the same holdings (:func:`app.analytics.portfolio.analyse_portfolio`), and the performance's
last day is the same balance at the same close.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal

from app.analytics.costbasis import EntryKind
from app.analytics.gains import CALENDAR_YEAR, FiscalStart
from app.analytics.periods import describe_period
from app.analytics.portfolio import PortfolioAnalytics
from app.analytics.pricing import DailyPrices
from app.analytics.valuation import value_points
from app.prices.provider import Price
from app.reports.data import SATS, AllocationRow, ReportData, TransactionRow

CENT = Decimal("0.01")


def build_report_data(
    *,
    title: str,
    portfolio_name: str,
    owner: str,
    currency: str,
    timeframe: str | None,
    start: date,
    end: date,
    generated_at: datetime,
    spot: Price,
    analytics: PortfolioAnalytics,
    prices: DailyPrices,
    wallet_names: Mapping[str, str],
    labels: Mapping[str, str] | None = None,
    period_label: str | None = None,
    multisig: Mapping[str, bool] | None = None,
    fiscal_year_start: FiscalStart = CALENDAR_YEAR,
    tax_year: int | None = None,
) -> ReportData:
    """The holdings at ``end`` are valued at that day's close in ``prices`` (the same price the value
    history's last day uses; the price service adds a fresh spot price as today's close)."""
    labels = labels or {}
    multisig = multisig or {}
    price, estimated_end = prices.close_on(end)
    price_source, price_at = spot.source, spot.at
    if price is None or price != spot.value or end != spot.at.date():
        price_source = f"close of {end}" + (" (estimated)" if estimated_end and price is not None else "")
        price_at = datetime.combine(end + timedelta(days=1), datetime.min.time(), spot.at.tzinfo)
    balances = analytics.wallet_balances
    unconfirmed = analytics.wallet_unconfirmed
    balance = sum(balances.values())
    value = None if price is None else (price * balance / SATS).quantize(CENT)
    alloc = []
    total = sum(max(0, s) for s in balances.values())
    for wid, sats in sorted(balances.items(), key=lambda kv: -kv[1]):
        alloc.append(
            AllocationRow(
                wallet_names.get(wid, wid),
                sats,
                None if price is None else (price * sats / SATS).quantize(CENT),
                (max(0, sats) / total) if total > 0 else 0.0,
                multisig.get(wid, False),
                sats - unconfirmed.get(wid, 0),
                unconfirmed.get(wid, 0),
            )
        )
    confirmed_txids = {e.txid for e in analytics.ledger if e.confirmed}
    txs: list[TransactionRow] = []
    for e in analytics.ledger:
        if not (start < e.day <= end):
            continue
        close, est = prices.close_on(e.day)
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
                None if close is None else close.quantize(CENT),
                None if close is None else (close * abs(sats) / SATS).quantize(CENT),
                est,
                labels.get(e.txid, ""),
                e.txid in confirmed_txids,
            )
        )
    notes = []
    perf = analytics.performance
    if perf.missing:
        notes.append(
            f"{perf.missing_days} day(s) of the period have no recorded close near enough to estimate one: "
            "the figures that need them are not computed (n/a), never estimated."
        )
    if perf.partial:
        notes.append(
            f"{perf.estimated_days} day(s) of the period have no recorded close: their prices are "
            "estimated from the nearest known closes within the allowed gap (flagged *)."
        )
    cb = analytics.cost_basis
    if cb.missing_basis_sats:
        notes.append(
            f"{cb.missing_basis_sats:,} sats were spent without a known acquisition "
            "(history incomplete): their cost basis is taken as 0."
        )
    if cb.missing_prices:
        notes.append(
            f"{len(cb.missing_prices)} transaction(s) fall on days without a price: their gains are n/a. "
            "Set their cost (setTransactionCost) or add a price provider."
        )
    if cb.pending:
        notes.append(
            f"{len(cb.pending)} unconfirmed transaction(s) are listed as pending: they are not disposals or "
            "acquisitions until they confirm."
        )
    if price is None:
        notes.append(f"There is no price for {end}: the value of the holdings is n/a.")
    elif end >= generated_at.date() and (generated_at - spot.at).total_seconds() > 3600:
        notes.append(
            f"The current price is from {spot.at.strftime('%Y-%m-%d %H:%M UTC')} ({spot.source}): "
            "no live price was available."
        )
    label = period_label or timeframe or f"{start} to {end}"
    return ReportData(
        title=f"{title}, {describe_period(label)}",
        portfolio_name=portfolio_name,
        owner=owner,
        currency=currency,
        timeframe=timeframe,
        period_start=start,
        period_end=end,
        generated_at=generated_at,
        balance_sats=balance,
        value=value,
        price=price,
        price_source=price_source,
        price_at=price_at,
        performance=perf,
        cost_basis=cb,
        risk=analytics.risk,
        allocation=alloc,
        transactions=txs,
        notes=notes,
        period_label=label,
        value_points=value_points(perf, prices),
        fiscal_year_start=fiscal_year_start,
        wallet_names=dict(wallet_names),
        tax_year=tax_year,
    )
