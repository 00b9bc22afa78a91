"""Users, their bearer-token sessions, recovery codes, API keys, invitations and the audit log."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.store.models.base import UTCDateTime, created_field, dt_column, id_field, owner_field, utcnow


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = id_field()
    email: str = Field(sa_column=sa.Column(sa.String(320), nullable=False, unique=True))
    password_hash: str = Field(max_length=255)
    role: str = Field(default="user", max_length=16)
    totp_secret_enc: str | None = Field(default=None, max_length=512)
    totp_enabled: bool = Field(default=False)
    # The last accepted TOTP time step: a code of this step or an earlier one is refused (RFC 6238 §5.2).
    totp_last_step: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True))
    created_at: datetime = created_field()


class AuthSession(SQLModel, table=True):
    """An issued bearer token. Only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "auth_sessions"

    id: str = id_field()
    user_id: str = owner_field()
    token_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    created_at: datetime = created_field()
    expires_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = dt_column()
    last_used_at: datetime | None = dt_column()
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=256)


class RecoveryCode(SQLModel, table=True):
    """A single-use two-factor recovery code, stored as a keyed hash (the code is shown once)."""

    __tablename__ = "recovery_codes"

    id: str = id_field()
    user_id: str = owner_field()
    code_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    created_at: datetime = created_field()
    used_at: datetime | None = dt_column()


class ApiKey(SQLModel, table=True):
    """A scoped bearer key for scripts. Only its SHA-256 is stored; ``prefix`` identifies it in lists."""

    __tablename__ = "api_keys"

    id: str = id_field()
    user_id: str = owner_field()
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    token_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    scopes: str = Field(max_length=200)  # space-separated
    created_at: datetime = created_field()
    expires_at: datetime | None = dt_column()
    last_used_at: datetime | None = dt_column()
    revoked_at: datetime | None = dt_column()


class Invitation(SQLModel, table=True):
    """A single-use registration code created by an admin (``MBF_REGISTRATION=invitation``)."""

    __tablename__ = "invitations"

    id: str = id_field()
    created_by: str = owner_field()
    code_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    role: str = Field(default="user", max_length=16)
    created_at: datetime = created_field()
    expires_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = dt_column()
    used_by: str | None = Field(default=None, max_length=26)


class AuditEntry(SQLModel, table=True):
    """One security-relevant event. Append-only (triggers refuse UPDATE/DELETE); never holds secrets.

    ``user_id`` is the account concerned (null for a failed login of an unknown email); there is no
    foreign key so the trail outlives the rows it talks about.
    """

    __tablename__ = "audit_log"

    id: str = id_field()
    user_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(26), nullable=True, index=True))
    action: str = Field(max_length=64)
    subject: str | None = Field(default=None, max_length=128)
    ip: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime(), nullable=False, index=True))
