"""Watch-only wallets, their derived addresses and BIP-329 labels.

- ``wallets``: one row per imported wallet. Key material (the descriptor and the cosigner list)
  is stored only encrypted with the keyring, bound to the owner (``aad=user_id``).
  ``fingerprint`` is an HMAC of the canonical descriptor under a key derived from the keyring:
  it detects a duplicate import per user without being a hash anyone could match to an xpub.
- ``wallet_addresses``: every derived script of both chains (``chain`` 0 receive, 1 change),
  with ``scripthash`` (Electrum/Esplora) indexed for lookups; ``used``/``balance``/``tx_count``
  are caches refreshed after each sync; ``reserved`` marks receive addresses handed out.
- ``wallet_labels``: BIP-329 labels (``type`` tx/addr/pubkey/input/output/xpub, ``ref``); an ``xpub``
  record's key is encrypted in ``ref_enc`` and ``ref`` holds only its blind index.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.store.models.base import created_field, dt_column, id_field, owner_field

KIND_SINGLE = "SINGLE"
KIND_MULTISIG = "MULTISIG"
SYNC_PENDING = "PENDING"


def _wallet_fk() -> object:
    return Field(sa_column=sa.Column(sa.String(26), sa.ForeignKey("wallets.id", ondelete="CASCADE"), nullable=False))


class Wallet(SQLModel, table=True):
    __tablename__ = "wallets"
    __table_args__ = (sa.UniqueConstraint("user_id", "fingerprint", name="uq_wallets_user_fingerprint"),)

    id: str = id_field()
    user_id: str = owner_field()
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    network: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # Network value
    kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # SINGLE | MULTISIG
    script_type: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    threshold: int | None = Field(default=None, sa_column=sa.Column(sa.Integer(), nullable=True))
    key_count: int = Field(default=1, sa_column=sa.Column(sa.Integer(), nullable=False))
    gap_limit: int = Field(default=20, sa_column=sa.Column(sa.Integer(), nullable=False))
    descriptor_enc: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    cosigners_enc: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    fingerprint: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    created_at: datetime = created_field()
    # The wallet's first use as the user gave it (UTC midnight): a node-side rescan (Bitcoin Core)
    # starts there instead of at the first block. Null: unknown.
    birthday: datetime | None = dt_column()
    # Sync bookkeeping owned by this area (the chain area keeps its detailed state in
    # ``wallet_sync_state``): PENDING until the first sync ran.
    sync_status: str = Field(default=SYNC_PENDING, sa_column=sa.Column(sa.String(16), nullable=False))
    sync_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    last_synced_at: datetime | None = dt_column()
    # Number of addresses derived and stored per chain (the next index to derive).
    next_receive_index: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    next_change_index: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))


class WalletAddress(SQLModel, table=True):
    __tablename__ = "wallet_addresses"
    __table_args__ = (
        sa.UniqueConstraint("wallet_id", "chain", "index", name="uq_wallet_addresses_position"),
        sa.Index("ix_wallet_addresses_scripthash", "scripthash"),
        sa.Index("ix_wallet_addresses_user_address", "user_id", "address"),
    )

    id: str = id_field()
    user_id: str = owner_field()
    wallet_id: str = _wallet_fk()  # type: ignore[assignment]
    chain: int = Field(sa_column=sa.Column(sa.SmallInteger(), nullable=False))
    index: int = Field(sa_column=sa.Column(sa.Integer(), nullable=False))
    script_pubkey: str = Field(sa_column=sa.Column(sa.String(140), nullable=False))  # hex
    scripthash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    address: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    used: bool = Field(default=False, sa_column=sa.Column(sa.Boolean(), nullable=False))
    reserved: bool = Field(default=False, sa_column=sa.Column(sa.Boolean(), nullable=False))
    reserved_at: datetime | None = dt_column()
    balance: int = Field(default=0, sa_column=sa.Column(sa.BigInteger(), nullable=False, server_default="0"))
    tx_count: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))


class WalletLabel(SQLModel, table=True):
    __tablename__ = "wallet_labels"
    __table_args__ = (sa.UniqueConstraint("wallet_id", "type", "ref", name="uq_wallet_labels_ref"),)

    id: str = id_field()
    user_id: str = owner_field()
    wallet_id: str = _wallet_fk()  # type: ignore[assignment]
    type: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))
    ref: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    label: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    # Key material never sits in clear in a label: for ``xpub`` records ``ref`` is a blind index
    # (app/security/label_keys.py) and the key itself is here, encrypted (aad = owner id).
    ref_enc: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    spendable: bool | None = Field(default=None, sa_column=sa.Column(sa.Boolean(), nullable=True))
    # BIP-329 ``origin``: the abbreviated descriptor of the wallet the label came from (no keys).
    origin: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


__all__ = [
    "KIND_MULTISIG",
    "KIND_SINGLE",
    "SYNC_PENDING",
    "Wallet",
    "WalletAddress",
    "WalletLabel",
]
