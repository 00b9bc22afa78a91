"""The risk score against a hand calculation."""

from __future__ import annotations

import pytest

from app.analytics.risk import WEIGHTS, WalletRisk, assess_risk


def test_weights_sum_to_one() -> None:
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)


def test_risk_score_by_hand() -> None:
    wallets = [
        # single-sig P2WPKH: 0.6 BTC in two UTXOs, one of them 600 sats; 10 used addresses, 1 reused
        WalletRisk("w1", "Hot", False, "P2WPKH", 60_000_000, 0, [59_999_400, 600], 10, 1),
        # 2-of-3 P2WSH: 0.3 BTC confirmed + 0.1 BTC unconfirmed
        WalletRisk("w2", "Vault", True, "P2WSH", 30_000_000, 10_000_000, [30_000_000, 10_000_000], 10, 0),
    ]
    report = assess_risk(wallets, fee_rate_sat_vb=10, max_drawdown=-0.4, volatility=0.6)
    f = {x.name: x for x in report.factors}
    # total 100,000,000 sats
    assert f["single_sig_share"].score == 60.0  # 0.6 of the balance in w1
    assert f["concentration"].score == 60.0  # largest wallet w1: 60%
    assert f["address_reuse"].score == 5.0  # 1 reused of 20 used
    # spend cost per input at 10 sat/vB: P2WPKH 68 vB -> 680 sats, P2WSH 104.5 vB -> 1045 sats.
    # dust: the 600-sat UTXO (600 <= 680) -> 1 of 4 = 0.25 -> 50 x 0.25 = 12.5
    # cost to spend all: 2 x 680 + 2 x 1045 = 3450 sats = 0.00345% of the balance;
    #   / 1% = 0.00345 -> 50 x 0.00345 = 0.1725 -> 12.6725 -> 12.7
    assert f["dust_fragmentation"].score == 12.7
    assert "3,450 sats" in f["dust_fragmentation"].detail
    assert f["unconfirmed_exposure"].score == 10.0  # 0.1 of 1.0 BTC
    # market: 50 x 0.4/0.8 + 50 x 0.6/1.0 = 25 + 30 = 55
    assert f["market"].score == 55.0
    # 0.25 x 60 + 0.15 x 60 + 0.15 x 5 + 0.15 x 12.7 + 0.10 x 10 + 0.20 x 55
    # = 15 + 9 + 0.75 + 1.905 + 1 + 11 = 38.655
    assert report.score == pytest.approx(38.655, abs=0.051)
    # every factor has a recommendation; the listed ones are the factors scoring >= 20, worst first
    assert all(x.recommendation for x in report.factors)
    assert report.recommendations[0].startswith("Move long-term savings to a multisig")
    assert len(report.recommendations) == 3  # single-sig 15, market 11, concentration 9


def test_all_multisig_spread_confirmed_scores_low() -> None:
    wallets = [
        WalletRisk("a", "A", True, "P2WSH", 50_000_000, 0, [50_000_000], 3, 0),
        WalletRisk("b", "B", True, "P2WSH", 50_000_000, 0, [50_000_000], 3, 0),
    ]
    report = assess_risk(wallets, 5, -0.05, 0.1)
    # concentration 50 x 0.15 = 7.5; market (50 x 0.0625 + 50 x 0.1 = 8.1) x 0.2 = 1.6; rest ~0
    assert report.score < 10


def test_empty_portfolio_scores_zero() -> None:
    report = assess_risk([], 10, None, None)
    assert report.score == 0 and len(report.factors) == len(WEIGHTS)
    assert report.recommendations == []
