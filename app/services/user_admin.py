"""Operator actions on accounts, for the CLI (``mbf user list/passwd/delete``): no viewer, no GraphQL.

Kept apart from :class:`AccountService` (the users' own API): these act on any account by email.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa
import structlog
from sqlmodel import col, func, select

from app.errors import Conflict, NotFound
from app.security.passwords import hash_password
from app.services.accounts import AccountService, UserView
from app.store.db import Store
from app.store.models.accounts import AuthSession, User
from app.store.models.base import utcnow

log = structlog.get_logger(__name__)


class UserAdmin:
    def __init__(self, store: Store, accounts: AccountService, reports_root: Path | None = None) -> None:
        self.store = store
        self.accounts = accounts  # email normalisation and the password policy
        self.reports_root = reports_root  # the user's report files go with the account

    async def list_users(self) -> list[UserView]:
        async with self.store.read() as s:
            users = (await s.exec(select(User).order_by(col(User.created_at), col(User.email)))).all()
        return [UserView.of(u) for u in users]

    async def find(self, email: str) -> UserView | None:
        """The account with this email (case and spaces ignored), or None: how the CLI names a user
        (anything that is not a stored email is simply no user)."""
        async with self.store.read() as s:
            user = (await s.exec(select(User).where(User.email == email.strip().lower()))).first()
        return None if user is None else UserView.of(user)

    async def _by_email(self, s: object, email: str) -> User:
        user = (await s.exec(select(User).where(User.email == self.accounts.normalize_email(email)))).first()  # type: ignore[attr-defined]
        if user is None:
            raise NotFound(f"No user {email!r}.", field="email", hint="mbf user list shows the accounts")
        return user

    async def set_password(self, email: str, password: str) -> int:
        """Set a new password and revoke every session of the user; returns how many were revoked."""
        self.accounts._check_password(password)
        pw_hash = hash_password(password)  # outside the transaction: slow on purpose
        async with self.store.write() as s:
            user = await self._by_email(s, email)
            user.password_hash = pw_hash
            s.add(user)
            result = await s.exec(
                sa.update(AuthSession)
                .where(col(AuthSession.user_id) == user.id, col(AuthSession.revoked_at).is_(None))
                .values(revoked_at=utcnow())
            )
            self.accounts.publish_account_changed(s, user.id)  # every cached session of the user
        log.info("user_password_set", user_id=user.id, sessions_revoked=result.rowcount)
        return int(result.rowcount or 0)

    async def delete_user(self, email: str) -> str:
        """Delete the user and (by cascade) everything they own. The last admin cannot be deleted."""
        async with self.store.write() as s:
            user = await self._by_email(s, email)
            if user.role == "admin":
                admins = (await s.exec(select(func.count()).select_from(User).where(User.role == "admin"))).one()
                if admins <= 1:
                    raise Conflict(
                        "This is the only admin account.",
                        field="email",
                        hint="create another admin first (mbf user create EMAIL --admin)",
                    )
            await s.delete(user)
            self.accounts.publish_account_changed(s, user.id)
        if self.reports_root is not None:
            shutil.rmtree(self.reports_root / user.id, ignore_errors=True)
        log.info("user_deleted", user_id=user.id)
        return user.id
