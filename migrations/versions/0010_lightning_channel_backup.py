"""lightning: the latest static channel backup of each node, encrypted (channel_backup_enc, channel_backup_at)

Revision ID: 0010_lightning_channel_backup
Revises: 0009_security_keystore
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_lightning_channel_backup"
down_revision: str | Sequence[str] | None = "0009_security_keystore"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lightning_nodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel_backup_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("channel_backup_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lightning_nodes", schema=None) as batch_op:
        batch_op.drop_column("channel_backup_at")
        batch_op.drop_column("channel_backup_enc")
