"""wallets: BIP-329 label origin (wallet_labels.origin)

Revision ID: 0011_wallet_label_origin
Revises: 0010_lightning_channel_backup
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_wallet_label_origin"
down_revision: str | Sequence[str] | None = "0010_lightning_channel_backup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("wallet_labels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("wallet_labels", schema=None) as batch_op:
        batch_op.drop_column("origin")
