"""A 0-100 portfolio risk score (0 best, 100 worst) from named, weighted factors.

Each factor scores 0-100 and comes with a recommendation; the total is the weighted mean
``sum(w_i x s_i)`` (weights sum to 1), rounded to one decimal.

================================  ======  ==========================================================
factor                            weight  score
================================  ======  ==========================================================
single_sig_share                  0.25    100 x share of the balance in single-signature wallets
concentration                     0.15    100 x share of the balance in the largest wallet
address_reuse                     0.15    100 x reused addresses / used addresses
dust_fragmentation                0.15    50 x dust UTXO share + 50 x min(1, spend cost / balance
/ 1%)
unconfirmed_exposure              0.10    100 x unconfirmed / total balance
market                            0.20    50 x min(1, |max drawdown| / 80%) + 50 x min(1, vol /
100%)
================================  ======  ==========================================================

A UTXO is dust when spending it costs at least its value: ``input_vbytes x fee_rate >= value``.
The cost to spend all UTXOs is ``sum(input_vbytes) x fee_rate``. An empty portfolio scores 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

WEIGHTS: dict[str, float] = {
    "single_sig_share": 0.25,
    "concentration": 0.15,
    "address_reuse": 0.15,
    "dust_fragmentation": 0.15,
    "unconfirmed_exposure": 0.10,
    "market": 0.20,
}

# Virtual size of one input by script type (signature included), used for the cost to spend.
INPUT_VBYTES: dict[str, float] = {
    "P2PKH": 148.0,
    "P2SH_P2WPKH": 91.0,
    "P2WPKH": 68.0,
    "P2TR": 57.5,
    "P2SH": 297.0,  # 2-of-3 bare P2SH multisig
    "P2SH_P2WSH": 140.0,  # 2-of-3
    "P2WSH": 104.5,  # 2-of-3
}
DEFAULT_INPUT_VBYTES = 68.0
FULL_SPEND_COST_SHARE = 0.01  # a spend cost of 1% of the balance scores the maximum
FULL_DRAWDOWN = 0.80
FULL_VOLATILITY = 1.00


@dataclass(frozen=True)
class WalletRisk:
    wallet_id: str
    name: str
    multisig: bool
    script_type: str
    confirmed_sats: int
    unconfirmed_sats: int
    utxo_values: Sequence[int] = ()  # sats, one per unspent output
    used_addresses: int = 0
    reused_addresses: int = 0  # addresses that received more than once

    @property
    def total_sats(self) -> int:
        return self.confirmed_sats + self.unconfirmed_sats


@dataclass(frozen=True)
class RiskFactor:
    name: str
    score: float | None  # None: not scored (no data), left out of the total
    weight: float
    detail: str
    recommendation: str


@dataclass(frozen=True)
class RiskReport:
    score: float
    factors: list[RiskFactor] = field(default_factory=list)

    @property
    def recommendations(self) -> list[str]:
        scored = [f for f in self.factors if f.score is not None]
        ranked = sorted(scored, key=lambda f: -(f.score or 0.0) * f.weight)
        return [f.recommendation for f in ranked if (f.score or 0.0) >= 20.0]


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%" if x == 0 or abs(x) >= 0.001 else f"{x * 100:.3f}%"


def assess_risk(
    wallets: Sequence[WalletRisk],
    fee_rate_sat_vb: float,
    max_drawdown: float | None,
    volatility: float | None,
    market_data: bool = True,
) -> RiskReport:
    """``market_data=False`` (prices missing in the timeframe): the market factor is not scored
    (score None) and the score is the weighted mean of the other factors."""
    total = sum(max(w.total_sats, 0) for w in wallets)
    factors: list[RiskFactor] = []

    def add(name: str, score: float, detail: str, rec: str) -> None:
        factors.append(RiskFactor(name, round(min(100.0, max(0.0, score)), 1), WEIGHTS[name], detail, rec))

    if total <= 0:
        for name in WEIGHTS:
            add(name, 0.0, "No funds in this portfolio.", "Nothing to do: no bitcoin held.")
        return RiskReport(0.0, factors)

    single = sum(w.total_sats for w in wallets if not w.multisig) / total
    add(
        "single_sig_share",
        100.0 * single,
        f"{_pct(single)} of the balance is in single-signature wallets.",
        "Move long-term savings to a multisig wallet (e.g. 2-of-3 with keys in separate places)."
        if single > 0
        else "All funds are protected by multisig: keep the cosigner keys in separate places.",
    )

    largest = max(wallets, key=lambda w: w.total_sats)
    share = largest.total_sats / total
    add(
        "concentration",
        100.0 * share,
        f"The largest wallet, {largest.name!r}, holds {_pct(share)} of the balance.",
        "Spread funds over several wallets or key sets so one lost key cannot risk all."
        if share > 0.5
        else "Funds are spread over several wallets.",
    )

    used = sum(w.used_addresses for w in wallets)
    reused = sum(w.reused_addresses for w in wallets)
    reuse = reused / used if used else 0.0
    add(
        "address_reuse",
        100.0 * reuse,
        f"{reused} of {used} used addresses received more than once.",
        "Use a fresh receive address for every payment (nextReceiveAddress) to protect privacy."
        if reused
        else "No address reuse found.",
    )

    vb = np.concatenate(
        [np.full(len(w.utxo_values), INPUT_VBYTES.get(w.script_type, DEFAULT_INPUT_VBYTES)) for w in wallets]
        or [np.zeros(0)]
    )
    values = np.concatenate([np.asarray(w.utxo_values, dtype=np.float64) for w in wallets] or [np.zeros(0)])
    spend_cost = vb * fee_rate_sat_vb
    n_utxo = len(values)
    dust = int(np.sum(spend_cost >= values)) if n_utxo else 0
    cost_all = float(spend_cost.sum()) if n_utxo else 0.0
    dust_share = dust / n_utxo if n_utxo else 0.0
    cost_share = cost_all / total
    add(
        "dust_fragmentation",
        50.0 * dust_share + 50.0 * min(1.0, cost_share / FULL_SPEND_COST_SHARE),
        f"{n_utxo} UTXOs, {dust} of them dust at {fee_rate_sat_vb:g} sat/vB; spending all costs "
        f"{cost_all:,.0f} sats ({_pct(cost_share)} of the balance).",
        "Consolidate small UTXOs when fees are low, and avoid receiving many tiny amounts."
        if dust or cost_share > FULL_SPEND_COST_SHARE / 4
        else "UTXOs are few and large enough to spend cheaply.",
    )

    unconf = sum(max(w.unconfirmed_sats, 0) for w in wallets) / total
    add(
        "unconfirmed_exposure",
        100.0 * unconf,
        f"{_pct(unconf)} of the balance is unconfirmed.",
        "Wait for confirmations before treating incoming payments as settled."
        if unconf > 0
        else "Everything is confirmed.",
    )

    if not market_data:
        factors.append(
            RiskFactor(
                "market",
                None,
                WEIGHTS["market"],
                "Not scored: the timeframe has days without a price, so drawdown and volatility are unknown.",
                "Add a price provider (or wait for the stored history to grow) to score market risk.",
            )
        )
        scored = [f for f in factors if f.score is not None]
        weight = sum(f.weight for f in scored)
        return RiskReport(round(sum((f.score or 0.0) * f.weight for f in scored) / weight, 1), factors)
    dd = abs(max_drawdown or 0.0)
    vol = volatility or 0.0
    add(
        "market",
        50.0 * min(1.0, dd / FULL_DRAWDOWN) + 50.0 * min(1.0, vol / FULL_VOLATILITY),
        f"Max drawdown {_pct(-dd)}, annualised volatility {_pct(vol)} in the timeframe.",
        "Size the bitcoin position so a fall like this one would not force a sale."
        if dd > 0.2 or vol > 0.5
        else "Price swings in the timeframe were moderate.",
    )

    score = round(sum((f.score or 0.0) * f.weight for f in factors), 1)
    return RiskReport(score, factors)
