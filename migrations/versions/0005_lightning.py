"""lightning nodes

Revision ID: 0005_lightning
Revises: 0001_foundation
Create Date: 2026-11-25 18:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_lightning"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lightning_nodes",
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("permissions", sa.Text(), server_default="", nullable=False),
        sa.Column("tls_cert_enc", sa.Text(), nullable=False),
        sa.Column("macaroon_enc", sa.Text(), nullable=False),
        sa.Column("invoice_add_index", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("invoice_settle_index", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("pubkey", sa.String(length=66), nullable=False),
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("capabilities", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "pubkey", name="uq_lightning_nodes_user_pubkey"),
    )
    with op.batch_alter_table("lightning_nodes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lightning_nodes_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lightning_nodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lightning_nodes_user_id"))
    op.drop_table("lightning_nodes")
