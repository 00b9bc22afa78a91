"""wallets, addresses, labels

Revision ID: 0002_wallets
Revises: 0001_foundation
Create Date: 2026-11-25 18:05:55.020791
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_wallets"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wallets",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("script_type", sa.String(length=16), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=True),
        sa.Column("key_count", sa.Integer(), nullable=False),
        sa.Column("gap_limit", sa.Integer(), nullable=False),
        sa.Column("descriptor_enc", sa.Text(), nullable=False),
        sa.Column("cosigners_enc", sa.Text(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sync_status", sa.String(length=16), nullable=False),
        sa.Column("sync_error", sa.Text(), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_receive_index", sa.Integer(), nullable=False),
        sa.Column("next_change_index", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "fingerprint", name="uq_wallets_user_fingerprint"),
    )
    with op.batch_alter_table("wallets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wallets_user_id"), ["user_id"], unique=False)

    op.create_table(
        "wallet_addresses",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("wallet_id", sa.String(length=26), nullable=False),
        sa.Column("chain", sa.SmallInteger(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("script_pubkey", sa.String(length=140), nullable=False),
        sa.Column("scripthash", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=100), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.Column("reserved", sa.Boolean(), nullable=False),
        sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("balance", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("tx_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("wallet_id", "chain", "index", name="uq_wallet_addresses_position"),
    )
    with op.batch_alter_table("wallet_addresses", schema=None) as batch_op:
        batch_op.create_index("ix_wallet_addresses_scripthash", ["scripthash"], unique=False)
        batch_op.create_index("ix_wallet_addresses_user_address", ["user_id", "address"], unique=False)
        batch_op.create_index(batch_op.f("ix_wallet_addresses_user_id"), ["user_id"], unique=False)

    op.create_table(
        "wallet_labels",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("wallet_id", sa.String(length=26), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("spendable", sa.Boolean(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("wallet_id", "type", "ref", name="uq_wallet_labels_ref"),
    )
    with op.batch_alter_table("wallet_labels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wallet_labels_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("wallet_labels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wallet_labels_user_id"))

    op.drop_table("wallet_labels")
    with op.batch_alter_table("wallet_addresses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wallet_addresses_user_id"))
        batch_op.drop_index("ix_wallet_addresses_user_address")
        batch_op.drop_index("ix_wallet_addresses_scripthash")

    op.drop_table("wallet_addresses")
    with op.batch_alter_table("wallets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wallets_user_id"))

    op.drop_table("wallets")
