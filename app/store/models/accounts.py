"""Users and their bearer-token sessions."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.store.models.base import UTCDateTime, created_field, dt_column, id_field


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = id_field()
    email: str = Field(sa_column=sa.Column(sa.String(320), nullable=False, unique=True))
    password_hash: str = Field(max_length=255)
    role: str = Field(default="user", max_length=16)
    totp_secret_enc: str | None = Field(default=None, max_length=512)
    totp_enabled: bool = Field(default=False)
    created_at: datetime = created_field()


class AuthSession(SQLModel, table=True):
    """An issued bearer token. Only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "auth_sessions"

    id: str = id_field()
    user_id: str = Field(
        sa_column=sa.Column(sa.String(26), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    token_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    created_at: datetime = created_field()
    expires_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = dt_column()
