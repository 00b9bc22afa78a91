"""Connected LND nodes. The TLS certificate and macaroon are stored only encrypted (aad = owner id)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.store.models.base import created_field, dt_column, id_field, owner_field


class LightningNode(SQLModel, table=True):
    __tablename__ = "lightning_nodes"
    __table_args__ = (sa.UniqueConstraint("user_id", "pubkey", name="uq_lightning_nodes_user_pubkey"),)

    id: str = id_field()
    user_id: str = owner_field()
    name: str = Field(max_length=100)
    host: str = Field(max_length=255)
    port: int
    network: str = Field(max_length=16)  # MAINNET | TESTNET | SIGNET | REGTEST
    pubkey: str = Field(max_length=66)
    alias: str = Field(default="", max_length=64)
    version: str = Field(default="", max_length=64)
    # LightningCapability names, comma-separated (derived from the macaroon at connect time).
    capabilities: str = Field(default="", max_length=512)
    # The macaroon's permissions (entity:action, comma-separated); not secret, shown to the user.
    permissions: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    tls_cert_enc: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    macaroon_enc: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # Where the invoice stream resumes (LND replays invoices added/settled after these indexes).
    invoice_add_index: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    invoice_settle_index: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    created_at: datetime = created_field()
    last_seen_at: datetime | None = dt_column()
    # The latest multi-channel static channel backup (SCB) and its channel points, JSON, encrypted
    # like the macaroon (aad = owner id); refreshed from SubscribeChannelBackups and on export.
    channel_backup_enc: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    channel_backup_at: datetime | None = dt_column()
