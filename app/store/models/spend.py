"""Spending: PSBT drafts the server built (``createPsbt``, ``bumpFee``, ``cpfp``), kept so a
frontend can download them as a ``.psbt`` file or QR parts for a hardware signer.

A draft holds no secret (a PSBT is public wallet data, like a descriptor it is still private to
its owner: only the owner can list or download it).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.store.models.base import created_field, id_field, owner_field


class PsbtDraft(SQLModel, table=True):
    __tablename__ = "psbt_drafts"
    __table_args__ = (sa.Index("ix_psbt_drafts_user_wallet", "user_id", "wallet_id"),)

    id: str = id_field()
    user_id: str = owner_field()
    wallet_id: str = Field(
        sa_column=sa.Column(sa.String(26), sa.ForeignKey("wallets.id", ondelete="CASCADE"), nullable=False)
    )
    txid: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))  # of the unsigned transaction
    kind: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))  # create | bump | cpfp
    psbt: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))  # base64
    created_at: datetime = created_field()
