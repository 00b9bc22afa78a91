"""Portfolios, stored price history, user-set costs and generated reports.

- ``portfolios``: a named group of the user's wallets with a base currency.
- ``portfolio_wallets``: membership (a wallet may be in several portfolios).
- ``prices``: public daily closes per currency (no owner), one row per (currency, day).
- ``cost_overrides``: the user's own cost for an incoming transaction (cost basis input).
- ``reports``: generated report files (status, progress, path under ``data_dir/reports/<user>/``).
- ``tax_settings``: the user's fiscal-year start, long-term threshold and fee treatment.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.store.models.base import created_field, dt_column, id_field, owner_field

REPORT_QUEUED = "QUEUED"
REPORT_RUNNING = "RUNNING"
REPORT_SUCCEEDED = "SUCCEEDED"
REPORT_FAILED = "FAILED"


class Portfolio(SQLModel, table=True):
    __tablename__ = "portfolios"

    id: str = id_field()
    user_id: str = owner_field()
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    base_currency: str = Field(sa_column=sa.Column(sa.String(3), nullable=False))
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class PortfolioWallet(SQLModel, table=True):
    __tablename__ = "portfolio_wallets"

    portfolio_id: str = Field(
        sa_column=sa.Column(sa.String(26), sa.ForeignKey("portfolios.id", ondelete="CASCADE"), primary_key=True)
    )
    wallet_id: str = Field(
        sa_column=sa.Column(
            sa.String(26), sa.ForeignKey("wallets.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )
    user_id: str = owner_field()


class PriceRow(SQLModel, table=True):
    __tablename__ = "prices"

    currency: str = Field(sa_column=sa.Column(sa.String(3), primary_key=True))
    day: date = Field(sa_column=sa.Column(sa.Date(), primary_key=True))
    close: Decimal = Field(sa_column=sa.Column(sa.Numeric(28, 8), nullable=False))
    source: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    fetched_at: datetime = created_field()


class CostOverride(SQLModel, table=True):
    __tablename__ = "cost_overrides"
    __table_args__ = (sa.UniqueConstraint("user_id", "txid", name="uq_cost_overrides_user_txid"),)

    id: str = id_field()
    user_id: str = owner_field()
    txid: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    cost: Decimal = Field(sa_column=sa.Column(sa.Numeric(28, 8), nullable=False))
    currency: str = Field(sa_column=sa.Column(sa.String(3), nullable=False))
    created_at: datetime = created_field()


class Report(SQLModel, table=True):
    __tablename__ = "reports"

    id: str = id_field()
    user_id: str = owner_field()
    portfolio_id: str | None = Field(
        default=None,
        sa_column=sa.Column(sa.String(26), sa.ForeignKey("portfolios.id", ondelete="SET NULL"), nullable=True),
    )
    timeframe: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))
    format: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))
    status: str = Field(default=REPORT_QUEUED, sa_column=sa.Column(sa.String(16), nullable=False))
    progress: float = Field(default=0.0, sa_column=sa.Column(sa.Float(), nullable=False))
    path: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    created_at: datetime = created_field()
    finished_at: datetime | None = dt_column()
    period_label: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    period_from: date | None = Field(default=None, sa_column=sa.Column(sa.Date(), nullable=True))
    period_to: date | None = Field(default=None, sa_column=sa.Column(sa.Date(), nullable=True))


class TaxSettingsRow(SQLModel, table=True):
    __tablename__ = "tax_settings"

    user_id: str = Field(
        sa_column=sa.Column(sa.String(26), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    fiscal_year_start: str = Field(sa_column=sa.Column(sa.String(5), nullable=False))  # MM-DD
    long_term_months: int = Field(sa_column=sa.Column(sa.Integer(), nullable=False))
    fee_treatment: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    updated_at: datetime = created_field()


__all__ = [
    "REPORT_FAILED",
    "REPORT_QUEUED",
    "REPORT_RUNNING",
    "REPORT_SUCCEEDED",
    "CostOverride",
    "Portfolio",
    "PortfolioWallet",
    "PriceRow",
    "Report",
    "TaxSettingsRow",
]
