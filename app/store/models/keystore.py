"""The database's own key material, each value encrypted with the current secret key.

- ``canary``: a known value; decrypting it at start-up proves the configured key is the one the
  data was written with (a wrong key stops start-up instead of failing request by request).
- ``index-key``: the root of the blind indexes (duplicate-wallet fingerprints, xpub label refs).
  It is independent of the secret key, so rotating the key re-encrypts it but leaves every index
  value unchanged.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.store.models.base import created_field


class KeyStoreEntry(SQLModel, table=True):
    __tablename__ = "key_store"

    name: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    value_enc: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    updated_at: datetime = created_field()


__all__ = ["KeyStoreEntry"]
