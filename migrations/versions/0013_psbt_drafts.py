"""spend: PSBT drafts (psbt_drafts)

Revision ID: 0013_psbt_drafts
Revises: 0012_tax_settings_report_periods
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_psbt_drafts"
down_revision: str | Sequence[str] | None = "0012_tax_settings_report_periods"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "psbt_drafts",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("wallet_id", sa.String(length=26), nullable=False),
        sa.Column("txid", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("psbt", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_psbt_drafts_user_wallet", "psbt_drafts", ["user_id", "wallet_id"])
    op.create_index("ix_psbt_drafts_user_id", "psbt_drafts", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_psbt_drafts_user_id", table_name="psbt_drafts")
    op.drop_index("ix_psbt_drafts_user_wallet", table_name="psbt_drafts")
    op.drop_table("psbt_drafts")
