"""JSON: everything in the report, machine-readable (Decimals as strings, sats as integers)."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from app.reports.data import ReportData


def _plain(x: Any) -> Any:
    if isinstance(x, Decimal):
        return str(x)
    if isinstance(x, datetime | date):
        return x.isoformat()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if hasattr(x, "value") and hasattr(x, "name") and not dataclasses.is_dataclass(x):
        return x.value  # enums
    raise TypeError(f"cannot serialise {type(x).__name__}")


def _row(obj: Any) -> dict[str, Any]:
    """A flat dataclass as a dict (much faster than ``dataclasses.asdict`` for thousands of rows)."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def report_dict(data: ReportData) -> dict[str, Any]:
    p = data.performance
    days, values, drawdowns = data.series
    cb = data.cost_basis
    return {
        "title": data.title,
        "portfolio": data.portfolio_name,
        "owner": data.owner,
        "currency": data.currency,
        "timeframe": data.timeframe,
        "periodStart": data.period_start,
        "periodEnd": data.period_end,
        "generatedAt": data.generated_at,
        "balanceSats": data.balance_sats,
        "value": data.value,
        "price": {"value": data.price, "source": data.price_source, "at": data.price_at},
        "performance": {
            "startValue": p.start_value,
            "endValue": p.end_value,
            "netFlows": p.net_flows,
            "timeWeightedReturn": p.time_weighted_return,
            "timeWeightedReturnAnnualised": p.time_weighted_return_annualised,
            "moneyWeightedReturn": p.money_weighted_return,
            "moneyWeightedReturnPeriod": p.money_weighted_return_period,
            "volatility": p.volatility,
            "sharpeRatio": p.sharpe_ratio,
            "sortinoRatio": p.sortino_ratio,
            "maxDrawdown": dataclasses.asdict(p.max_drawdown),
            "benchmarks": [
                {"name": b.name, "return": b.return_, "invested": b.invested, "finalValue": b.final_value}
                for b in p.benchmarks
            ],
            "partial": p.partial,
            "estimatedDays": p.estimated_days,
        },
        "valueHistory": [
            {"date": d, "value": round(v, 2), "drawdown": round(dd, 6)}
            for d, v, dd in zip(days, values, drawdowns or [0.0] * len(days), strict=False)
        ],
        "costBasis": {
            "method": cb.method.value,
            "totalCost": cb.total_cost,
            "holdingsSats": cb.holdings_sats,
            "currentValue": cb.current_value,
            "realizedGain": cb.realized_gain,
            "unrealizedGain": cb.unrealized_gain,
            "missingBasisSats": cb.missing_basis_sats,
            "estimatedPrices": cb.estimated_prices,
            "disposals": [_row(r) for r in cb.disposals],
        },
        "risk": {
            "score": data.risk.score,
            "factors": [dataclasses.asdict(f) for f in data.risk.factors],
            "recommendations": data.risk.recommendations,
        },
        "allocation": [dataclasses.asdict(a) for a in data.allocation],
        "transactions": [_row(t) for t in data.transactions],
        "notes": data.notes,
    }


def render_json(data: ReportData) -> bytes:
    return json.dumps(report_dict(data), default=_plain, indent=2).encode("utf-8")
