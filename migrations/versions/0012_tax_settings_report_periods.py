"""portfolios: per-user tax settings (fiscal-year start, long-term threshold, fee treatment) and the
period of a report (label, first and last day)

Revision ID: 0012_tax_settings_report_periods
Revises: 0011_wallet_label_origin
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_tax_settings_report_periods"
down_revision: str | Sequence[str] | None = "0011_wallet_label_origin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tax_settings",
        sa.Column("user_id", sa.String(26), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("fiscal_year_start", sa.String(5), nullable=False),
        sa.Column("long_term_months", sa.Integer(), nullable=False),
        sa.Column("fee_treatment", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("period_label", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("period_from", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("period_to", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_column("period_to")
        batch_op.drop_column("period_from")
        batch_op.drop_column("period_label")
    op.drop_table("tax_settings")
