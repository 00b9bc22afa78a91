"""wallets: birthday (where a node-side rescan starts; Bitcoin Core backend)

Revision ID: 0014_wallet_birthday
Revises: 0013_psbt_drafts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_wallet_birthday"
down_revision: str | Sequence[str] | None = "0013_psbt_drafts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("wallets", sa.Column("birthday", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite >= 3.35): a batch copy of ``wallets`` would drop and recreate the
    # table, and with foreign keys on, the cascade would delete every wallet's addresses and labels.
    op.drop_column("wallets", "birthday")
