"""Scoped API keys for scripts: shown once, stored as SHA-256, optional expiry, revocable.

Creating a key is a sensitive change: it needs a signed-in session (never another key) and
the password again, plus a current second factor when 2FA is on, so a key is never a way
around two-factor authentication. What a key may do is decided per operation by
:mod:`app.security.policy` from its scopes (and its owner's role).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from app.errors import BadInput, NotFound
from app.security.policy import normalize_scopes
from app.security.tokens import new_token, token_hash
from app.services import audit
from app.services.accounts import NEVER, AccountService, UserView, Viewer
from app.services.session_touches import SessionTouches
from app.store.db import Store
from app.store.models.accounts import ApiKey, User
from app.store.models.base import utcnow

API_KEY_PREFIX = "mbfk_"
MAX_KEYS_PER_USER = 50


@dataclass(frozen=True, slots=True)
class ApiKeyView:
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    key: ApiKeyView
    token: str


def _view(row: ApiKey, last_used_at: datetime | None = None) -> ApiKeyView:
    return ApiKeyView(
        row.id,
        row.name,
        row.prefix,
        sorted(row.scopes.split()),
        row.created_at,
        row.expires_at,
        last_used_at or row.last_used_at,
        row.revoked_at,
    )


async def authenticate_key(store: Store, token: str, touches: SessionTouches) -> Viewer | None:
    """The viewer for an API key (scopes set), or None when unknown, expired or revoked."""
    now = utcnow()
    async with store.read() as s:
        row = (
            await s.exec(
                select(ApiKey, User)
                .join(User, User.id == ApiKey.user_id)  # type: ignore[arg-type]
                .where(ApiKey.token_hash == token_hash(token))
            )
        ).first()
    if row is None:
        return None
    key, user = row
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        return None
    touches.note("key", key.id, now, key.last_used_at)  # stamped in the background, never here
    scopes = frozenset(key.scopes.split())
    expires = key.expires_at or NEVER
    account = UserView.of(user)
    return Viewer(user.id, user.email, user.role, key.id, expires, scopes=scopes, api_key_id=key.id, account=account)


class ApiKeyService:
    def __init__(self, store: Store, accounts: AccountService) -> None:
        self.store = store
        self.accounts = accounts

    async def create(
        self,
        viewer: Viewer,
        name: str,
        scopes: list[str],
        password: str,
        otp: str | None = None,
        expires_in_days: int | None = None,
    ) -> IssuedApiKey:
        name = (name or "").strip()
        if not 1 <= len(name) <= 100:
            raise BadInput("Give the key a name of 1 to 100 characters.", field="name")
        try:
            chosen = normalize_scopes(scopes)
        except ValueError as exc:
            raise BadInput(
                f"Unknown scope {str(exc)[:40]!r}.",
                field="scopes",
                hint="wallets:read, wallets:write, lightning:read, lightning:write, reports",
            ) from None
        if not chosen:
            raise BadInput("Choose at least one scope.", field="scopes")
        if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
            raise BadInput("A key expires after 1 to 3650 days (or never).", field="expiresInDays")
        await self.accounts.step_up(viewer, password, otp)
        token = API_KEY_PREFIX + new_token()[4:]
        row = ApiKey(
            user_id=viewer.user_id,
            name=name,
            prefix=token[: len(API_KEY_PREFIX) + 6],
            token_hash=token_hash(token),
            scopes=" ".join(sorted(chosen)),
            expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
        )
        async with self.store.write() as s:
            live = select(ApiKey.id).where(ApiKey.user_id == viewer.user_id, col(ApiKey.revoked_at).is_(None))
            if len((await s.exec(live)).all()) >= MAX_KEYS_PER_USER:
                raise BadInput(f"At most {MAX_KEYS_PER_USER} keys per account: revoke one first.", field="name")
            s.add(row)
            audit.record(s, "api_key.created", viewer.user_id, row.id, detail=f"scopes={row.scopes}")
        return IssuedApiKey(_view(row), token)

    async def list(self, viewer: Viewer) -> list[ApiKeyView]:
        async with self.store.read() as s:
            rows = (
                await s.exec(select(ApiKey).where(ApiKey.user_id == viewer.user_id).order_by(col(ApiKey.id).desc()))
            ).all()
        return [_view(r, self.accounts.touches.last_used(r.id, r.last_used_at)) for r in rows]

    async def revoke(self, viewer: Viewer, key_id: str) -> bool:
        async with self.store.write() as s:
            result = await s.exec(
                sa.update(ApiKey)
                .where(
                    col(ApiKey.id) == key_id, col(ApiKey.user_id) == viewer.user_id, col(ApiKey.revoked_at).is_(None)
                )
                .values(revoked_at=utcnow())
            )
            if result.rowcount != 1:
                raise NotFound("No such API key.", field="id")
            audit.record(s, "api_key.revoked", viewer.user_id, key_id)
            self.accounts.publish_revoked(s, viewer.user_id, [key_id])
        return True
