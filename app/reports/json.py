"""JSON: everything in the report, machine-readable, in the API's shapes: camelCase keys with the
GraphQL names (``netDeposits``, ``holdings``, ``missingBasis``...), money as decimal strings, sats as
integers, ratios as numbers, a missing figure as ``null`` (named in ``performance.missing``)."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from app.reports.data import ReportData

CENT = Decimal("0.01")


def _money(x: Decimal | float | None) -> str | None:
    """A money amount as a decimal string with 2 places (None stays null)."""
    if x is None or x != x:
        return None
    return str(Decimal(str(x)).quantize(CENT))


def _plain(x: Any) -> Any:
    if isinstance(x, Decimal):
        return str(x)
    if isinstance(x, datetime | date):
        return x.isoformat()
    raise TypeError(f"cannot serialise {type(x).__name__}")


def report_dict(data: ReportData) -> dict[str, Any]:
    p = data.performance
    cb = data.cost_basis
    dd = p.max_drawdown
    drawdowns = list(p.drawdowns) if p.drawdowns is not None else []
    history = []
    for i, v in enumerate(data.value_points):
        history.append(
            {
                "date": v.day,
                "balance": v.balance,
                "price": None if v.price is None else str(v.price),
                "value": _money(v.value),
                "netDeposits": _money(v.flow),
                "estimated": v.estimated,
                "missing": v.missing,
                "drawdown": round(float(drawdowns[i]), 10) if i < len(drawdowns) else None,
            }
        )
    unknown_rows = {id(r) for r in cb.disposals if r.price_missing}
    return {
        "title": data.title,
        "portfolio": data.portfolio_name,
        "owner": data.owner,
        "currency": data.currency,
        "period": {
            "label": data.period_label,
            "timeframe": data.timeframe,
            "taxYear": data.tax_year,
            "from": data.period_first,
            "to": data.period_end,
            "valuedFrom": data.period_start,
        },
        "generatedAt": data.generated_at,
        "balance": data.balance_sats,
        "value": _money(data.value),
        "price": {
            "value": None if data.price is None else str(data.price),
            "source": data.price_source,
            "at": data.price_at,
        },
        "performance": {
            "start": p.start,
            "end": p.end,
            "startValue": _money(data.value_points[0].value if data.value_points else None),
            "endValue": _money(data.value),
            "netDeposits": _money(p.net_flows),
            "timeWeightedReturn": p.time_weighted_return,
            "timeWeightedReturnAnnualised": p.time_weighted_return_annualised,
            "moneyWeightedReturn": p.money_weighted_return,
            "moneyWeightedReturnPeriod": p.money_weighted_return_period,
            "volatility": p.volatility,
            "sharpeRatio": p.sharpe_ratio,
            "sortinoRatio": p.sortino_ratio,
            "maxDrawdown": {
                "value": dd.value,
                "peakDate": dd.peak_date,
                "troughDate": dd.trough_date,
                "recoveryDate": dd.recovery_date,
            },
            "benchmark": [
                {
                    "name": b.name,
                    "return": b.return_,
                    "invested": _money(b.invested),
                    "finalValue": _money(b.final_value),
                }
                for b in p.benchmarks
            ],
            "partial": p.partial,
            "estimatedDays": p.estimated_days,
            "missing": list(p.missing),
            "missingDays": p.missing_days,
        },
        "valueHistory": history,
        "costBasis": {
            "method": cb.method.value,
            "feeTreatment": cb.fee_treatment.value,
            "longTermMonths": cb.long_term_months,
            "totalCost": _money(cb.known_total_cost),
            "holdings": cb.holdings_sats,
            "currentValue": _money(cb.current_value),
            "realizedGain": _money(data.period_realized_gain),
            "realizedGainAllTime": _money(cb.realized_in()),
            "unrealizedGain": _money(cb.known_unrealized),
            "missingBasis": cb.missing_basis_sats,
            "estimatedPrices": cb.estimated_prices,
            "missingPrices": [t for t, _ in cb.missing_prices],
            "disposals": [
                {
                    "txid": r.txid,
                    "date": r.day,
                    "kind": r.kind,
                    "walletIds": list(r.wallet_ids),
                    "wallets": data.wallet_list(r.wallet_ids),
                    "amount": r.sats,
                    "acquiredDate": r.acquired,
                    "acquiredDates": list(r.acquired_dates),
                    "holdingDays": r.holding_days,
                    "holdingPeriod": r.holding_period,
                    "proceeds": None if id(r) in unknown_rows else _money(r.proceeds),
                    "cost": None if id(r) in unknown_rows else _money(r.cost),
                    "gain": None if id(r) in unknown_rows else _money(r.gain),
                    "feeIncluded": r.fee_sats,
                    "priceEstimated": r.price_estimated,
                    "priceMissing": r.price_missing,
                    "missingBasis": r.missing_basis,
                }
                for r in data.period_disposals
            ],
            "summary": [
                {
                    "taxYear": s.tax_year,
                    "label": s.label,
                    "start": s.start,
                    "end": s.end,
                    "holdingPeriod": s.holding_period,
                    "disposals": s.disposals,
                    "proceeds": _money(s.proceeds),
                    "cost": _money(s.cost),
                    "gain": _money(s.gain),
                    "feeDisposals": s.fee_disposals,
                    "feeProceeds": _money(s.fee_proceeds),
                    "feeCost": _money(s.fee_cost),
                    "feeGain": _money(s.fee_gain),
                }
                for s in data.gains_summary
            ],
            "pending": [
                {
                    "txid": t.txid,
                    "date": t.day,
                    "kind": t.kind,
                    "amount": t.sats,
                    "fee": t.fee_sats,
                    "walletIds": list(t.wallet_ids),
                    "wallets": data.wallet_list(t.wallet_ids),
                }
                for t in data.pending
            ],
        },
        "risk": {
            "score": data.risk.score,
            "factors": [
                {
                    "name": f.name,
                    "score": f.score,
                    "weight": f.weight,
                    "detail": f.detail,
                    "recommendation": f.recommendation,
                }
                for f in data.risk.factors
            ],
            "recommendations": data.risk.recommendations,
        },
        "allocation": [
            {
                "wallet": a.wallet,
                "multisig": a.multisig,
                "balance": a.sats,
                "confirmed": a.confirmed,
                "unconfirmed": a.unconfirmed,
                "value": _money(a.value),
                "share": a.share,
            }
            for a in data.allocation
        ],
        "transactions": [
            {
                "date": t.day,
                "txid": t.txid,
                "wallets": t.wallets,
                "type": t.kind,
                "confirmed": t.confirmed,
                "amount": t.sats,
                "fee": t.fee_sats,
                "price": _money(t.price),
                "value": _money(t.fiat_value),
                "priceEstimated": t.price_estimated,
                "label": t.label,
            }
            for t in data.transactions
        ],
        "notes": data.notes,
    }


def render_json(data: ReportData) -> bytes:
    return json.dumps(report_dict(data), default=_plain, indent=2).encode("utf-8")
