"""Accounts: registration, login (with optional TOTP), bearer sessions, logout.

Tokens are opaque and stored only as hashes; sessions expire and can be revoked.
The first user to register becomes the admin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import sqlalchemy as sa
import structlog
from sqlmodel import col, func, select

from app.config import Settings
from app.errors import BadInput, Conflict, Forbidden, NotFound, Unauthenticated
from app.events.envelope import Event
from app.events.hub import EventHub
from app.security.crypto import Keyring
from app.security.passwords import hash_password, needs_rehash, verify_password
from app.security.ratelimit import SlidingWindowLimiter
from app.security.tokens import new_token, token_hash
from app.store.db import Store
from app.store.models.accounts import AuthSession, User
from app.store.models.base import utcnow

log = structlog.get_logger(__name__)

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class Viewer:
    """The authenticated principal of a request or WebSocket connection."""

    user_id: str
    email: str
    role: str
    session_id: str
    expires_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    user: User
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TotpSetup:
    secret: str
    uri: str


class AccountService:
    def __init__(
        self, store: Store, keyring: Keyring, settings: Settings, hub: EventHub | None = None
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.settings = settings
        self.hub = hub  # logout publishes ``sessionRevoked`` (live sockets close with 4403)
        self._login_limiter = SlidingWindowLimiter(settings.login_attempts_per_minute, 60.0)

    # -- validation -------------------------------------------------------------------

    @staticmethod
    def normalize_email(email: str) -> str:
        value = (email or "").strip().lower()
        if len(value) > 320 or not _EMAIL.match(value):
            raise BadInput("That is not a valid email address.", field="email", hint="use the form name@example.com")
        return value

    def _check_password(self, password: str) -> None:
        if len(password or "") < self.settings.password_min_length:
            raise BadInput(
                f"The password must have at least {self.settings.password_min_length} characters.",
                field="password",
                hint="use a passphrase of several words",
            )
        if len(password) > MAX_PASSWORD_LENGTH:
            raise BadInput(f"The password may have at most {MAX_PASSWORD_LENGTH} characters.", field="password")

    # -- registration and users ------------------------------------------------------------

    async def register(self, email: str, password: str) -> IssuedToken:
        if not self.settings.allow_registration:
            raise Forbidden("Registration is closed on this server.", hint="ask the admin for an account")
        user = await self.create_user(email, password)
        return await self._issue(user)

    async def create_user(self, email: str, password: str, *, admin: bool = False) -> User:
        """Create a user; the very first user of a server is always an admin."""
        email = self.normalize_email(email)
        self._check_password(password)
        pw_hash = hash_password(password)  # outside the transaction: it is slow on purpose
        async with self.store.write() as s:
            if not self.store.is_sqlite:
                # Serialise concurrent first registrations (SQLite already holds the write lock).
                await s.exec(sa.text("SELECT pg_advisory_xact_lock(7400001)"))  # type: ignore[call-overload]
            if (await s.exec(select(User.id).where(User.email == email))).first():
                raise Conflict("An account with this email already exists.", field="email", hint="sign in instead")
            count = (await s.exec(select(func.count()).select_from(User))).one()
            user = User(email=email, password_hash=pw_hash, role="admin" if admin or count == 0 else "user")
            s.add(user)
        log.info("user_created", user_id=user.id, role=user.role)
        return user

    # -- sessions ----------------------------------------------------------------------------

    async def login(self, email: str, password: str, otp: str | None, client: str = "") -> IssuedToken:
        email = self.normalize_email(email)
        self._login_limiter.hit(f"email:{email}")
        if client:
            self._login_limiter.hit(f"client:{client}")
        async with self.store.read() as s:
            user = (await s.exec(select(User).where(User.email == email))).first()
        if not verify_password(user.password_hash if user else None, password or "") or user is None:
            raise Unauthenticated("Wrong email or password.", field="password")
        if user.totp_enabled:
            if not otp:
                raise Unauthenticated("This account has two-factor authentication: enter the code.", field="otp")
            if not self._totp(user).verify(otp.strip(), valid_window=1):
                raise Unauthenticated("The one-time code is wrong or expired.", field="otp")
        self._login_limiter.reset(f"email:{email}")
        if needs_rehash(user.password_hash):
            async with self.store.write() as s:
                new_hash = hash_password(password)
                await s.exec(sa.update(User).where(col(User.id) == user.id).values(password_hash=new_hash))  # type: ignore[call-overload]
        return await self._issue(user)

    async def _issue(self, user: User) -> IssuedToken:
        token = new_token()
        expires = utcnow() + timedelta(hours=self.settings.token_ttl_hours)
        async with self.store.write() as s:
            s.add(AuthSession(user_id=user.id, token_hash=token_hash(token), expires_at=expires))
        return IssuedToken(user=user, token=token, expires_at=expires)

    async def authenticate(self, token: str | None) -> Viewer | None:
        """The viewer for a bearer token, or None when it is unknown, expired or revoked."""
        if not token:
            return None
        now = utcnow()
        async with self.store.read() as s:
            row = (
                await s.exec(
                    select(AuthSession, User)
                    .join(User, User.id == AuthSession.user_id)  # type: ignore[arg-type]
                    .where(AuthSession.token_hash == token_hash(token))
                )
            ).first()
        if row is None:
            return None
        session, user = row
        if session.revoked_at is not None or session.expires_at <= now:
            return None
        return Viewer(user.id, user.email, user.role, session.id, session.expires_at)

    async def session_active(self, session_id: str) -> bool:
        """Used by long-lived WebSockets to notice a logout or expiry after connect."""
        async with self.store.read() as s:
            session = await s.get(AuthSession, session_id)
        return bool(session and session.revoked_at is None and session.expires_at > utcnow())

    async def logout(self, viewer: Viewer) -> bool:
        async with self.store.write() as s:
            result = await s.exec(
                sa.update(AuthSession)  # type: ignore[call-overload]
                .where(col(AuthSession.id) == viewer.session_id, col(AuthSession.revoked_at).is_(None))
                .values(revoked_at=utcnow())
            )
            if self.hub is not None:
                revoked = Event(
                    type="sessionRevoked", user_id=viewer.user_id, subject=viewer.session_id, payload={}
                )
                hub = self.hub
                s.on_commit(lambda: hub.publish(revoked))
        return bool(result.rowcount)

    async def get_user(self, user_id: str) -> User:
        async with self.store.read() as s:
            user = await s.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        return user

    # -- two-factor --------------------------------------------------------------------------

    def _totp(self, user: User) -> pyotp.TOTP:
        assert user.totp_secret_enc is not None
        return pyotp.TOTP(self.keyring.decrypt(user.totp_secret_enc, aad=user.id))

    async def begin_totp(self, viewer: Viewer) -> TotpSetup:
        """Store a new (not yet active) TOTP secret; :meth:`confirm_totp` activates it."""
        user = await self.get_user(viewer.user_id)
        if user.totp_enabled:
            raise Conflict("Two-factor authentication is already on.", hint="disable it first to change the device")
        secret = pyotp.random_base32()
        async with self.store.write() as s:
            await s.exec(
                sa.update(User)
                .where(col(User.id) == user.id)
                .values(totp_secret_enc=self.keyring.encrypt(secret, aad=user.id))  # type: ignore[call-overload]
            )
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name="MyBitcoinFuture")
        return TotpSetup(secret=secret, uri=uri)

    async def confirm_totp(self, viewer: Viewer, otp: str, *, enable: bool = True) -> bool:
        user = await self.get_user(viewer.user_id)
        if user.totp_secret_enc is None or (enable and user.totp_enabled) or (not enable and not user.totp_enabled):
            raise Conflict("No two-factor set-up is waiting for this step.")
        if not self._totp(user).verify((otp or "").strip(), valid_window=1):
            raise BadInput("The one-time code is wrong or expired.", field="otp")
        values: dict[str, object] = {"totp_enabled": enable}
        if not enable:
            values["totp_secret_enc"] = None
        async with self.store.write() as s:
            await s.exec(sa.update(User).where(col(User.id) == user.id).values(**values))  # type: ignore[call-overload]
        return enable
