"""Everything about one portfolio and timeframe in one pure call (used by the service, reports, bench)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

import numpy as np

from app.analytics.costbasis import (
    LONG_TERM_MONTHS,
    CostBasisResult,
    EntryKind,
    FeeTreatment,
    LedgerEntry,
    Method,
    WalletMove,
    compute_cost_basis,
    ledger_from_moves,
)
from app.analytics.performance import Performance, analyse
from app.analytics.pricing import DailyPrices
from app.analytics.returns import Movements
from app.analytics.risk import RiskReport, WalletRisk, assess_risk


def movements_from_ledger(entries: Sequence[LedgerEntry]) -> Movements:
    """Balance changes of the user (transfers between own wallets only cost their fee)."""
    acq = EntryKind.ACQUISITION
    out_kinds = (EntryKind.DISPOSAL, EntryKind.MOVE_OUT)
    ordinals = [e.day.toordinal() for e in entries]
    fee = [e.fee_sats for e in entries]
    net = [
        e.sats if e.kind is acq else (-(e.sats + e.fee_sats) if e.kind in out_kinds else -e.fee_sats) for e in entries
    ]
    days = (np.array(ordinals, dtype=np.int64) - _EPOCH_ORDINAL).astype("datetime64[D]")
    return Movements(days, np.array(net, dtype=np.int64), np.array(fee, dtype=np.int64))


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class PortfolioAnalytics:
    ledger: list[LedgerEntry]
    performance: Performance
    cost_basis: CostBasisResult
    risk: RiskReport
    wallet_balances: dict[str, int]  # at the end of the period, every transaction
    wallet_unconfirmed: dict[str, int] = field(default_factory=dict)  # of that, not yet confirmed


def holdings_at(
    moves: Sequence[WalletMove], end: date, scope: set[str] | None = None
) -> tuple[dict[str, int], dict[str, int]]:
    """(balance, unconfirmed part) per wallet at the end of ``end`` from the transactions: the one
    set of holdings a report's summary, allocation and risk are all computed from."""
    balances: dict[str, int] = {}
    unconfirmed: dict[str, int] = {}
    for t in moves:
        if t.day <= end and (scope is None or t.wallet_id in scope):
            balances[t.wallet_id] = balances.get(t.wallet_id, 0) + t.net_sats
            if not t.confirmed:
                unconfirmed[t.wallet_id] = unconfirmed.get(t.wallet_id, 0) + t.net_sats
    return balances, unconfirmed


def analyse_portfolio(
    moves: Sequence[WalletMove],
    prices: DailyPrices,
    start: date,
    end: date,
    current_price: Decimal,
    method: Method | str = Method.FIFO,
    risk_wallets: Sequence[WalletRisk] = (),
    fee_rate_sat_vb: float = 1.0,
    risk_free_rate: float = 0.0,
    cost_overrides: Mapping[str, Decimal] | None = None,
    scope: set[str] | None = None,
    *,
    long_term_months: int = LONG_TERM_MONTHS,
    fee_treatment: FeeTreatment | str = FeeTreatment.DISPOSE,
) -> PortfolioAnalytics:
    """``moves``: every row of the user's wallets; ``scope``: the portfolio's wallet ids
    (None = all of them). The cost basis runs over the history up to ``end`` and values what is
    held then at ``current_price``. Risk takes its balances from the same holdings as the
    allocation (the wallets' UTXOs and address use from ``risk_wallets``)."""
    ledger = ledger_from_moves(moves, scope)
    perf = analyse(movements_from_ledger(ledger), prices, start, end, risk_free_rate)
    upto = ledger if not ledger or ledger[-1].day <= end else [e for e in ledger if e.day <= end]
    cb = compute_cost_basis(
        upto, prices, method, current_price, cost_overrides, long_term_months=long_term_months,
        fee_treatment=fee_treatment,
    )  # fmt: skip
    balances, unconfirmed = holdings_at(moves, end, scope)
    return assemble(ledger, perf, cb, balances, unconfirmed, risk_wallets, fee_rate_sat_vb)


def assemble(
    ledger: list[LedgerEntry],
    perf: Performance,
    cb: CostBasisResult,
    balances: dict[str, int],
    unconfirmed: dict[str, int],
    risk_wallets: Sequence[WalletRisk],
    fee_rate_sat_vb: float,
) -> PortfolioAnalytics:
    """The analytics from their parts (fresh, or kept by ``app/services/portfolios_cache.py``):
    risk takes its balances from the same holdings as the allocation."""
    held = [
        replace(
            w,
            confirmed_sats=balances.get(w.wallet_id, 0) - unconfirmed.get(w.wallet_id, 0),
            unconfirmed_sats=unconfirmed.get(w.wallet_id, 0),
        )
        for w in risk_wallets
    ]
    risk = assess_risk(held, fee_rate_sat_vb, perf.max_drawdown.value, perf.volatility, market_data=not perf.missing)
    return PortfolioAnalytics(ledger, perf, cb, risk, balances, unconfirmed)
