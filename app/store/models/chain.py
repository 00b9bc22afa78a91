"""Chain sync results per wallet: transactions, outputs (UTXOs), per-script stats, sync state, jobs.

A wallet's sync results are written in one transaction (see ``app/sync/persist.py``), so a
reader never sees a half-updated wallet. Amounts are ``BigInteger`` satoshis; ``net_amount``
is signed (the wallet's view).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.store.models.base import created_field, dt_column, id_field, owner_field

# Transaction statuses: only ``confirmed`` and ``mempool`` count in balances.
TX_CONFIRMED = "confirmed"
TX_MEMPOOL = "mempool"
TX_REPLACED = "replaced"  # a conflicting transaction (RBF or double spend) took its place
TX_EVICTED = "evicted"  # dropped from the mempool / reorged out, with no replacement seen
ACTIVE_TX_STATUSES = (TX_CONFIRMED, TX_MEMPOOL)

# Sync job statuses (GraphQL ``SyncJob.status``).
JOB_QUEUED = "QUEUED"
JOB_RUNNING = "RUNNING"
JOB_SUCCEEDED = "SUCCEEDED"
JOB_FAILED = "FAILED"
JOB_ACTIVE = (JOB_QUEUED, JOB_RUNNING)


def _wallet_fk(index: bool = True) -> object:
    return Field(
        sa_column=sa.Column(sa.String(26), sa.ForeignKey("wallets.id", ondelete="CASCADE"), nullable=False, index=index)
    )


def _sats(nullable: bool = False, default: int | None = 0) -> object:
    return Field(
        default=default,
        sa_column=sa.Column(sa.BigInteger(), nullable=nullable, server_default=None if nullable else "0"),
    )


class WalletTx(SQLModel, table=True):
    """A transaction as one wallet sees it."""

    __tablename__ = "wallet_txs"
    __table_args__ = (
        sa.UniqueConstraint("wallet_id", "txid", name="uq_wallet_txs_wallet_txid"),
        sa.Index("ix_wallet_txs_wallet_status", "wallet_id", "status"),
        sa.Index("ix_wallet_txs_user_txid", "user_id", "txid"),
    )

    id: str = id_field()
    user_id: str = owner_field()
    wallet_id: str = _wallet_fk(index=False)  # type: ignore[assignment]
    txid: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    height: int | None = Field(default=None, sa_column=sa.Column(sa.Integer(), nullable=True))
    block_hash: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    block_time: datetime | None = dt_column()
    first_seen: datetime = created_field()
    updated_at: datetime = created_field()
    fee: int | None = _sats(nullable=True, default=None)  # type: ignore[assignment]
    vsize: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    weight: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    received: int = _sats()  # type: ignore[assignment]
    sent: int = _sats()  # type: ignore[assignment]
    net_amount: int = _sats()  # type: ignore[assignment]
    direction: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))
    replaced_by: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    # Decoded inputs/outputs as compact JSON (see ``app.sync.codec``).
    io: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))


class WalletOutput(SQLModel, table=True):
    """An output paying one of the wallet's scripts, created by an active transaction."""

    __tablename__ = "wallet_outputs"
    __table_args__ = (sa.UniqueConstraint("wallet_id", "txid", "vout", name="uq_wallet_outputs_outpoint"),)

    id: str = id_field()
    user_id: str = owner_field()
    wallet_id: str = _wallet_fk()  # type: ignore[assignment]
    txid: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    vout: int = Field(sa_column=sa.Column(sa.Integer(), nullable=False))
    value: int = _sats()  # type: ignore[assignment]
    chain: int = Field(sa_column=sa.Column(sa.SmallInteger(), nullable=False))
    index: int = Field(sa_column=sa.Column(sa.Integer(), nullable=False))
    script_pubkey: str = Field(sa_column=sa.Column(sa.String(140), nullable=False))
    height: int | None = Field(default=None, sa_column=sa.Column(sa.Integer(), nullable=True))
    spent_by: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))


class WalletScript(SQLModel, table=True):
    """Per-script (address) sync state and stats: status hash, tx count, balance."""

    __tablename__ = "wallet_scripts"
    __table_args__ = (
        sa.UniqueConstraint("wallet_id", "chain", "index", name="uq_wallet_scripts_position"),
        sa.Index("ix_wallet_scripts_scripthash", "scripthash"),
    )

    id: str = id_field()
    user_id: str = owner_field()
    wallet_id: str = _wallet_fk(index=False)  # type: ignore[assignment]
    chain: int = Field(sa_column=sa.Column(sa.SmallInteger(), nullable=False))
    index: int = Field(sa_column=sa.Column(sa.Integer(), nullable=False))
    scripthash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    script_pubkey: str = Field(sa_column=sa.Column(sa.String(140), nullable=False))
    status: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    tx_count: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    received: int = _sats()  # type: ignore[assignment]
    balance: int = _sats()  # type: ignore[assignment]
    used: bool = Field(default=False, sa_column=sa.Column(sa.Boolean(), nullable=False))


class WalletSyncState(SQLModel, table=True):
    """One row per wallet: the outcome of its last sync and its cached balance."""

    __tablename__ = "wallet_sync_state"

    wallet_id: str = Field(
        sa_column=sa.Column(sa.String(26), sa.ForeignKey("wallets.id", ondelete="CASCADE"), primary_key=True)
    )
    user_id: str = owner_field()
    status: str = Field(default="NEVER", sa_column=sa.Column(sa.String(16), nullable=False))
    phase: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))
    addresses_scanned: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    txs_found: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    last_synced_at: datetime | None = dt_column()
    tip_height: int | None = Field(default=None, sa_column=sa.Column(sa.Integer(), nullable=True))
    tip_hash: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    backend: str | None = Field(default=None, sa_column=sa.Column(sa.String(16), nullable=True))
    confirmed: int = _sats()  # type: ignore[assignment]
    unconfirmed: int = _sats()  # type: ignore[assignment]
    tx_count: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    utxo_count: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    updated_at: datetime = created_field()


class SyncJob(SQLModel, table=True):
    """A sync request. Active jobs (QUEUED/RUNNING) found at start-up are resumed."""

    __tablename__ = "sync_jobs"
    __table_args__ = (sa.Index("ix_sync_jobs_wallet_status", "wallet_id", "status"),)

    id: str = id_field()
    user_id: str = owner_field()
    wallet_id: str = _wallet_fk(index=False)  # type: ignore[assignment]
    kind: str = Field(default="incremental", sa_column=sa.Column(sa.String(16), nullable=False))
    status: str = Field(default=JOB_QUEUED, sa_column=sa.Column(sa.String(16), nullable=False))
    phase: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))
    addresses_scanned: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    txs_found: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    created_at: datetime = created_field()
    started_at: datetime | None = dt_column()
    finished_at: datetime | None = dt_column()


__all__ = [
    "ACTIVE_TX_STATUSES",
    "JOB_ACTIVE",
    "JOB_FAILED",
    "JOB_QUEUED",
    "JOB_RUNNING",
    "JOB_SUCCEEDED",
    "TX_CONFIRMED",
    "TX_EVICTED",
    "TX_MEMPOOL",
    "TX_REPLACED",
    "SyncJob",
    "WalletOutput",
    "WalletScript",
    "WalletSyncState",
    "WalletTx",
]
