"""Accounts: registration, login (password, then a TOTP or recovery code), bearer sessions, logout.

Tokens are opaque and stored only as hashes; sessions expire and can be revoked.
The first user to register becomes the admin.

Every password and second-factor check is throttled with exponential backoff
(:mod:`app.security.throttle`): at login per client, per account and per account-and-client, where
the per-account key is skipped for a client that has signed in to that account before (the owner
on a known client is never kept out by someone else's failures); for the step-up checks of
sensitive changes (two-factor, password, API keys) per user. argon2 runs on a worker thread.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlmodel import col, func, select

from app.config import Settings
from app.errors import BadInput, Conflict, Forbidden, NotFound, RateLimited, Unauthenticated
from app.events.envelope import Event
from app.events.hub import EventHub
from app.security.crypto import Keyring
from app.security.passwords import hash_password_async, needs_rehash, verify_password_async
from app.security.throttle import BackoffPolicy, MemoryThrottle, Throttle
from app.security.tokens import new_token, token_hash
from app.security.totp import TotpSetupData
from app.services import audit
from app.services.second_factor import SecondFactor
from app.services.session_cache import ACCOUNT_CHANGED, REVOKED, SessionCache
from app.services.session_touches import SessionTouches
from app.store.db import Store, Tx
from app.store.models.accounts import AuthSession, Invitation, User
from app.store.models.base import utcnow

log = structlog.get_logger(__name__)

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MAX_PASSWORD_LENGTH = 1024
ROLES = ("admin", "user", "viewer")
KNOWN_CLIENT_DAYS = 30  # a client that signed in to an account within this many days skips its account-wide limit
NEVER = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Client:
    """Where a request comes from (kept on the session so the owner can recognise it)."""

    ip: str = ""
    user_agent: str = ""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The authenticated principal of a request or WebSocket connection.

    ``scopes`` is None for a signed-in session and the key's scopes for an API key (whose id is
    then ``session_id`` too, so a revoked key closes live sockets like a revoked session).
    """

    user_id: str
    email: str
    role: str
    session_id: str
    expires_at: datetime  # :data:`NEVER` for an API key without expiry
    scopes: frozenset[str] | None = None
    api_key_id: str | None = None
    # The user's own fields as read at sign-in, cached with the viewer: ``{ viewer { ... } }`` is
    # answered from it while ``account_stamp`` is the session cache's current one for the user.
    # Every change of them publishes ``accountChanged``, which moves that stamp and drops the cached
    # viewer in every process (a WebSocket's viewer, kept for the connection, then reads them again).
    account: UserView | None = field(default=None, compare=False)  # the principal is the same without it
    account_stamp: int | None = field(default=None, compare=False)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def via_api_key(self) -> bool:
        return self.api_key_id is not None


@dataclass(frozen=True, slots=True)
class UserView:
    """An account as the service hands it out (never its password hash or TOTP secret)."""

    id: str
    email: str
    role: str
    created_at: datetime
    totp_enabled: bool

    @classmethod
    def of(cls, row: User) -> UserView:
        return cls(row.id, row.email, row.role, row.created_at, row.totp_enabled)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    user: UserView
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SessionView:
    id: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool


@dataclass(frozen=True, slots=True)
class IssuedInvitation:
    id: str
    code: str
    role: str
    expires_at: datetime


@dataclass(frozen=True)
class InvitationView:
    """An invitation as an admin sees it (never its code: only the hash is stored)."""

    id: str
    role: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    used_by: str | None

    @property
    def status(self) -> str:
        """``used``, ``expired`` (revoked ones too: a revocation ends the validity) or ``open``."""
        if self.used_at is not None:
            return "used"
        return "expired" if self.expires_at <= utcnow() else "open"


@dataclass
class _Policies:
    login: BackoffPolicy
    register: BackoffPolicy
    step_up: BackoffPolicy = field(default_factory=BackoffPolicy)


class AccountService:
    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        settings: Settings,
        hub: EventHub,
        throttle: Throttle | None = None,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.settings = settings
        self.hub = hub  # revocations publish ``sessionRevoked`` (live sockets close with 4403)
        # Token → viewer without a database read per request; the hub's revocations drop entries.
        self.session_cache = SessionCache(settings.effective_session_cache_ttl_s, linked=hub.fanout.linked)
        hub.fanout.watch(self.session_cache.on_event)
        # ``last_used_at`` written in the background, never on the sign-in path (the container stops it).
        self.touches = SessionTouches(store)
        self._signing_in: dict[str, asyncio.Future[Viewer | None]] = {}
        self.throttle: Throttle = throttle or MemoryThrottle()
        self.second_factor = SecondFactor(store, keyring)
        login = BackoffPolicy(
            free=settings.login_free_attempts,
            base_s=settings.login_backoff_base_s,
            cap_s=settings.login_backoff_cap_s,
            forget_s=settings.login_backoff_forget_s,
        )
        self.policies = _Policies(
            login=login,
            register=BackoffPolicy(
                free=settings.registrations_per_client, base_s=60.0, cap_s=24 * 3600.0, forget_s=24 * 3600.0
            ),
            step_up=login,
        )

    # -- validation -------------------------------------------------------------------

    @staticmethod
    def normalize_email(email: str) -> str:
        value = (email or "").strip().lower()
        if len(value) > 320 or not _EMAIL.match(value):
            raise BadInput("That is not a valid email address.", field="email", hint="use the form name@example.com")
        return value

    def _check_password(self, password: str, field: str = "password") -> None:
        if len(password or "") < self.settings.password_min_length:
            raise BadInput(
                f"The password must have at least {self.settings.password_min_length} characters.",
                field=field,
                hint="use a passphrase of several words",
            )
        if len(password) > MAX_PASSWORD_LENGTH:
            raise BadInput(f"The password may have at most {MAX_PASSWORD_LENGTH} characters.", field=field)

    async def _throttle(self, keys: Sequence[str], policy: BackoffPolicy) -> None:
        wait = await self.throttle.acquire(keys, policy)
        if wait > 0:
            retry = int(wait) + 1
            raise RateLimited(f"Too many attempts; try again in {retry} s.", hint=f"retry after {retry} seconds")

    # -- registration and users ------------------------------------------------------------

    @property
    def registration_mode(self) -> str:
        return "closed" if not self.settings.allow_registration else self.settings.registration

    async def register(
        self, email: str, password: str, client: Client | None = None, invitation_code: str | None = None
    ) -> IssuedToken:
        """Self-service sign-up, throttled per client (each attempt counts, successful or not).

        Whether an email is taken shows only at this rate, the same cost as guessing it at login.
        In ``invitation`` mode a valid code is needed, except for the very first account (the admin).
        """
        client = client or Client()
        mode = self.registration_mode
        if mode == "closed":
            raise Forbidden("Registration is closed on this server.", hint="ask the admin for an account")
        email = self.normalize_email(email)
        self._check_password(password)
        await self._throttle([f"register:{client.ip}"], self.policies.register)
        role: str | None = None
        invitation_id: str | None = None
        if mode == "invitation" and await self._has_users():
            invitation_id, role = await self._valid_invitation(invitation_code)
        user = await self.create_user(email, password, role=role, invitation_id=invitation_id)
        return await self._issue(user, client)

    async def _has_users(self) -> bool:
        async with self.store.read() as s:
            return (await s.exec(select(User.id).limit(1))).first() is not None

    async def create_user(
        self,
        email: str,
        password: str,
        *,
        admin: bool = False,
        role: str | None = None,
        invitation_id: str | None = None,
    ) -> UserView:
        """Create a user; the very first user of a server is always an admin."""
        email = self.normalize_email(email)
        self._check_password(password)
        if role is not None and role not in ROLES:
            raise BadInput(f"Unknown role {role!r}.", field="role", hint="one of " + ", ".join(ROLES))
        pw_hash = await hash_password_async(password)  # outside the transaction: it is slow on purpose
        async with self.store.write() as s:
            if not self.store.is_sqlite:
                # Serialise concurrent first registrations (SQLite already holds the write lock).
                await s.exec(sa.text("SELECT pg_advisory_xact_lock(7400001)"))  # type: ignore[call-overload]
            if (await s.exec(select(User.id).where(User.email == email))).first():
                raise Conflict("An account with this email already exists.", field="email", hint="sign in instead")
            count = (await s.exec(select(func.count()).select_from(User))).one()
            user = User(email=email, password_hash=pw_hash, role="admin" if admin or count == 0 else role or "user")
            s.add(user)
            if invitation_id is not None:
                used = await s.exec(
                    sa.update(Invitation)
                    .where(col(Invitation.id) == invitation_id, col(Invitation.used_at).is_(None))
                    .values(used_at=utcnow(), used_by=user.id)
                )
                if used.rowcount != 1:
                    raise BadInput("That invitation code was just used.", field="invitationCode")
            audit.record(s, "user.created", user.id, user.email, detail=f"role={user.role}")
        log.info("user_created", user_id=user.id, role=user.role)
        return UserView.of(user)

    async def get_user(self, user_id: str) -> UserView:
        return UserView.of(await self._row(user_id))

    async def account(self, viewer: Viewer) -> UserView:
        """The viewer's own account: the copy read at sign-in while no change of it was announced
        since (no database read), else read again."""
        cache = self.session_cache
        current = viewer.account_stamp == cache.account_stamp(viewer.user_id)
        if viewer.account is not None and current and cache.linked():  # bus down: changes may be unannounced
            return viewer.account
        return await self.get_user(viewer.user_id)

    async def _row(self, user_id: str) -> User:
        """The stored account, secrets included (for the checks of this service only)."""
        async with self.store.read() as s:
            user = await s.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        return user

    async def set_role(self, viewer: Viewer, user_id: str, role: str) -> UserView:
        """Admins change roles; the last admin cannot be demoted (the server always has one)."""
        if not viewer.is_admin:
            raise Forbidden("Only an admin can change roles.")
        if role not in ROLES:
            raise BadInput(f"Unknown role {role!r}.", field="role", hint="one of " + ", ".join(ROLES))
        async with self.store.write() as s:
            user = await s.get(User, user_id)
            if user is None:
                raise NotFound("No such user.", field="userId")
            if user.role == "admin" and role != "admin":
                admins = (await s.exec(select(func.count()).select_from(User).where(User.role == "admin"))).one()
                if admins <= 1:
                    raise Conflict("This is the only admin: make another user admin first.", field="role")
            user.role = role
            s.add(user)
            self.publish_account_changed(s, user.id)
            audit.record(s, "user.role_changed", user.id, role, detail=f"by={viewer.user_id}")
        return UserView.of(user)

    async def list_users(self, viewer: Viewer) -> list[UserView]:
        if not viewer.is_admin:
            raise Forbidden("Only an admin can list users.")
        async with self.store.read() as s:
            rows = (await s.exec(select(User).order_by(col(User.created_at), col(User.id)))).all()
        return [UserView.of(u) for u in rows]

    # -- invitations -----------------------------------------------------------------------

    async def create_invitation(self, viewer: Viewer, role: str = "user", valid_hours: int = 72) -> IssuedInvitation:
        if not viewer.is_admin:
            raise Forbidden("Only an admin can invite.")
        if role not in ROLES:
            raise BadInput(f"Unknown role {role!r}.", field="role", hint="one of " + ", ".join(ROLES))
        if not 1 <= valid_hours <= 24 * 90:
            raise BadInput("An invitation is valid for 1 hour to 90 days.", field="validHours")
        code = "mbfi_" + new_token()[4:]
        row = Invitation(
            created_by=viewer.user_id,
            code_hash=token_hash(code),
            role=role,
            expires_at=utcnow() + timedelta(hours=valid_hours),
        )
        async with self.store.write() as s:
            s.add(row)
            audit.record(s, "invitation.created", viewer.user_id, row.id, detail=f"role={role}")
        return IssuedInvitation(row.id, code, role, row.expires_at)

    async def invitations(self, viewer: Viewer) -> list[InvitationView]:
        """Every invitation of the server, newest first (admins only)."""
        if not viewer.is_admin:
            raise Forbidden("Only an admin can list invitations.")
        async with self.store.read() as s:
            q = select(Invitation).order_by(col(Invitation.created_at).desc(), col(Invitation.id).desc())
            rows = (await s.exec(q)).all()
        return [
            InvitationView(r.id, r.role, r.created_by, r.created_at, r.expires_at, r.used_at, r.used_by) for r in rows
        ]

    async def revoke_invitation(self, viewer: Viewer, invitation_id: str) -> bool:
        """End an unused invitation's validity now (admins only); a used one cannot be revoked."""
        if not viewer.is_admin:
            raise Forbidden("Only an admin can revoke invitations.")
        async with self.store.write() as s:
            row = await s.get(Invitation, invitation_id)
            if row is None:
                raise NotFound("No such invitation.", field="id")
            if row.used_at is not None:
                raise BadInput("That invitation was already used.", field="id", hint="change the user's role instead")
            if row.expires_at > utcnow():
                row.expires_at = utcnow()
                s.add(row)
                audit.record(s, "invitation.revoked", viewer.user_id, row.id)
        return True

    async def _valid_invitation(self, code: str | None) -> tuple[str, str]:
        if not code:
            raise Forbidden("Registration needs an invitation code.", hint="ask the admin for one")
        async with self.store.read() as s:
            row = (await s.exec(select(Invitation).where(Invitation.code_hash == token_hash(code.strip())))).first()
        if row is None or row.used_at is not None or row.expires_at <= utcnow():
            raise BadInput("That invitation code is unknown, used or expired.", field="invitationCode")
        return row.id, row.role

    # -- login and sessions ------------------------------------------------------------------

    async def _known_client(self, user_id: str, ip: str) -> bool:
        if not ip:
            return False
        since = utcnow() - timedelta(days=KNOWN_CLIENT_DAYS)
        async with self.store.read() as s:
            q = select(AuthSession.id).where(
                AuthSession.user_id == user_id, AuthSession.ip == ip, col(AuthSession.created_at) > since
            )
            return (await s.exec(q.limit(1))).first() is not None

    async def login(self, email: str, password: str, otp: str | None, client: Client | str = "") -> IssuedToken:
        """Password, then (when 2FA is on) a TOTP code or one recovery code in ``otp``."""
        client = Client(ip=client) if isinstance(client, str) else client
        email = self.normalize_email(email)
        async with self.store.read() as s:
            user = (await s.exec(select(User).where(User.email == email))).first()
        known = user is not None and await self._known_client(user.id, client.ip)
        shared = [f"login-ip:{client.ip}"] + ([] if known else [f"login-account:{email}"])
        pair = f"login-pair:{email}|{client.ip}"
        await self._throttle([*shared, pair], self.policies.login)
        if not await verify_password_async(user.password_hash if user else None, password or "") or user is None:
            await self._audit_failure(user, client, "password")
            raise Unauthenticated("Wrong email or password.", field="password")
        if user.totp_enabled:
            if not otp:
                raise Unauthenticated("This account has two-factor authentication: enter the code.", field="otp")
            if not await self.second_factor.verify(user, otp):
                await self._audit_failure(user, client, "second factor")
                raise Unauthenticated("The one-time code is wrong, expired or already used.", field="otp")
        await self.throttle.succeed(shared)
        await self.throttle.clear([pair])
        if needs_rehash(user.password_hash):
            new_hash = await hash_password_async(password)
            async with self.store.write() as s:
                await s.exec(sa.update(User).where(col(User.id) == user.id).values(password_hash=new_hash))
        return await self._issue(UserView.of(user), client, action="login")

    async def _audit_failure(self, user: User | None, client: Client, reason: str) -> None:
        await audit.AuditLog(self.store).add("login.failed", user.id if user else None, ip=client.ip, detail=reason)

    async def _issue(self, user: UserView, client: Client | None = None, *, action: str = "register") -> IssuedToken:
        client = client or Client()
        token = new_token()
        expires = utcnow() + timedelta(hours=self.settings.token_ttl_hours)
        session = AuthSession(
            user_id=user.id,
            token_hash=token_hash(token),
            expires_at=expires,
            ip=client.ip[:64] or None,
            user_agent=client.user_agent[:256] or None,
        )
        async with self.store.write() as s:
            s.add(session)
            audit.record(s, action, user.id, session.id, ip=client.ip)
        return IssuedToken(user=user, token=token, expires_at=expires)

    async def authenticate(self, token: str | None) -> Viewer | None:
        """The viewer for a bearer token (session or API key), or None when unknown, expired or revoked.

        Answered from :attr:`session_cache` when it can (revocations reach it through the hub).
        Concurrent sign-ins with one token share one read. Nothing here writes: the use is noted
        in :attr:`touches` and stamped in the background."""
        if not token:
            return None
        key = token_hash(token)
        now = utcnow()
        cached = self.session_cache.get(key, now)
        if cached is not None:
            self.touches.note("key" if cached.via_api_key else "session", cached.session_id, now)
            return cached
        running = self._signing_in.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Viewer | None] = asyncio.get_running_loop().create_future()
        self._signing_in[key] = future
        try:
            cache = self.session_cache
            generation = cache.generation
            viewer = await self._authenticate_stored(token, now)
            if viewer is not None and generation == cache.generation:  # nothing dropped during the read
                viewer = replace(viewer, account_stamp=cache.account_stamp(viewer.user_id))
                cache.put(key, viewer, generation)
            future.set_result(viewer)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            del self._signing_in[key]
        return viewer

    async def _authenticate_stored(self, token: str, now: datetime) -> Viewer | None:
        from app.services.api_keys import API_KEY_PREFIX, authenticate_key  # the key format lives there

        if token.startswith(API_KEY_PREFIX):
            return await authenticate_key(self.store, token, self.touches)
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
        self.touches.note("session", session.id, now, session.last_used_at)
        return Viewer(user.id, user.email, user.role, session.id, session.expires_at, account=UserView.of(user))

    async def session_active(self, session_id: str) -> bool:
        """Used by long-lived WebSockets to notice a logout, revocation or expiry after connect."""
        from app.store.models.accounts import ApiKey

        now = utcnow()
        async with self.store.read() as s:
            session = await s.get(AuthSession, session_id)
            if session is None:
                key = await s.get(ApiKey, session_id)
                return bool(key and key.revoked_at is None and (key.expires_at is None or key.expires_at > now))
        return bool(session.revoked_at is None and session.expires_at > now)

    def publish_revoked(self, s: Tx, user_id: str, session_ids: Sequence[str]) -> None:
        hub = self.hub
        events = [Event(type=REVOKED, user_id=user_id, subject=sid, payload={}) for sid in session_ids]

        async def publish() -> None:
            for event in events:
                await hub.publish(event)
            await hub.flush()  # other processes' session caches drop it before we answer

        s.on_commit(publish)

    def publish_account_changed(self, s: Tx, user_id: str) -> None:
        """After commit: a field of the user's own account changed (role, second factor, password)
        or the account is gone: every process drops the user's cached viewers (and their answers)."""
        hub = self.hub
        event = Event(type=ACCOUNT_CHANGED, user_id=user_id, subject=user_id, payload={})

        async def publish() -> None:
            await hub.publish(event)
            await hub.flush()

        s.on_commit(publish)

    async def _revoke(self, s: Tx, user_id: str, *, only: str | None = None, keep: str | None = None) -> list[str]:
        """Revoke the user's live sessions (one, or all but ``keep``) inside ``s``; returns their ids."""
        q = select(AuthSession.id).where(AuthSession.user_id == user_id, col(AuthSession.revoked_at).is_(None))
        if only is not None:
            q = q.where(AuthSession.id == only)
        if keep is not None:
            q = q.where(AuthSession.id != keep)
        ids = list((await s.exec(q)).all())
        if ids:
            await s.exec(
                sa.update(AuthSession).where(col(AuthSession.id).in_(ids)).values(revoked_at=utcnow())
            )
            self.publish_revoked(s, user_id, ids)
        return ids

    async def logout(self, viewer: Viewer) -> bool:
        async with self.store.write() as s:
            ids = await self._revoke(s, viewer.user_id, only=viewer.session_id)
            if ids:
                audit.record(s, "logout", viewer.user_id, viewer.session_id)
        return bool(ids)

    async def sessions(self, viewer: Viewer) -> list[SessionView]:
        """The user's live sessions, newest first."""
        now = utcnow()
        async with self.store.read() as s:
            rows = (
                await s.exec(
                    select(AuthSession)
                    .where(
                        AuthSession.user_id == viewer.user_id,
                        col(AuthSession.revoked_at).is_(None),
                        col(AuthSession.expires_at) > now,
                    )
                    .order_by(col(AuthSession.id).desc())
                )
            ).all()
        return [
            SessionView(
                r.id,
                r.created_at,
                self.touches.last_used(r.id, r.last_used_at),
                r.expires_at,
                r.ip,
                r.user_agent,
                r.id == viewer.session_id,
            )
            for r in rows
        ]

    async def revoke_session(self, viewer: Viewer, session_id: str) -> bool:
        async with self.store.write() as s:
            ids = await self._revoke(s, viewer.user_id, only=session_id)
            if not ids:
                raise NotFound("No such session.", field="id")
            audit.record(s, "session.revoked", viewer.user_id, session_id)
        return True

    async def revoke_other_sessions(self, viewer: Viewer) -> int:
        async with self.store.write() as s:
            ids = await self._revoke(s, viewer.user_id, keep=viewer.session_id)
            audit.record(s, "session.revoked_others", viewer.user_id, detail=f"count={len(ids)}")
        return len(ids)

    # -- step-up: password (and second factor) re-entry for sensitive changes ------------------

    async def step_up(self, viewer: Viewer, password: str, otp: str | None, *, second_factor: bool = True) -> None:
        """Check the password again (and the second factor when 2FA is on), throttled per user.

        API keys never pass: sensitive changes need a signed-in session.
        """
        if viewer.via_api_key:
            raise Forbidden("This needs a signed-in session, not an API key.")
        await self._throttle([f"step-up:{viewer.user_id}"], self.policies.step_up)
        user = await self._row(viewer.user_id)
        if not await verify_password_async(user.password_hash, password or ""):
            raise BadInput("The password is wrong.", field="password")
        if second_factor and user.totp_enabled:
            if not otp:
                raise BadInput("Enter a current one-time code (or a recovery code).", field="otp")
            if not await self.second_factor.verify(user, otp):
                raise BadInput("The one-time code is wrong, expired or already used.", field="otp")
        await self.throttle.clear([f"step-up:{viewer.user_id}"])

    async def change_password(self, viewer: Viewer, current: str, new: str, otp: str | None = None) -> int:
        """Set a new password; every other session is signed out. Returns how many were revoked."""
        self._check_password(new, field="newPassword")
        await self.step_up(viewer, current, otp)
        new_hash = await hash_password_async(new)
        async with self.store.write() as s:
            await s.exec(sa.update(User).where(col(User.id) == viewer.user_id).values(password_hash=new_hash))
            revoked = await self._revoke(s, viewer.user_id, keep=viewer.session_id)
            self.publish_account_changed(s, viewer.user_id)
            audit.record(s, "password.changed", viewer.user_id, detail=f"sessions_revoked={len(revoked)}")
        return len(revoked)

    # -- two-factor --------------------------------------------------------------------------

    async def begin_totp(self, viewer: Viewer) -> TotpSetupData:
        """Store a new (not yet active) TOTP secret; :meth:`confirm_totp` activates it."""
        user = await self._row(viewer.user_id)
        if user.totp_enabled:
            raise Conflict("Two-factor authentication is already on.", hint="disable it first to change the device")
        return await self.second_factor.begin(user)

    async def confirm_totp(self, viewer: Viewer, otp: str, password: str) -> list[str]:
        """Turn 2FA on with the password and a current code; returns the recovery codes (shown once)."""
        await self.step_up(viewer, password, None, second_factor=False)
        user = await self._row(viewer.user_id)
        if user.totp_enabled or user.totp_secret_enc is None:
            raise Conflict("No two-factor set-up is waiting for this step.", hint="call beginTwoFactorSetup first")
        await self._throttle([f"step-up:{viewer.user_id}"], self.policies.step_up)
        step = self.second_factor.pending_step(user, otp)
        if step is None:
            raise BadInput("The one-time code is wrong or expired.", field="otp")
        await self.throttle.clear([f"step-up:{viewer.user_id}"])
        async with self.store.write() as s:
            await s.exec(
                sa.update(User).where(col(User.id) == user.id).values(totp_enabled=True, totp_last_step=step)
            )
            codes = await self.second_factor.replace_recovery_codes(s, user.id)
            revoked = await self._revoke(s, user.id, keep=viewer.session_id)
            self.publish_account_changed(s, user.id)  # totpEnabled: the signed-in session's cached view
            audit.record(s, "2fa.enabled", user.id, detail=f"sessions_revoked={len(revoked)}")
        return codes

    async def disable_totp(self, viewer: Viewer, otp: str, password: str) -> bool:
        """Turn 2FA off (password and a current code or a recovery code); other sessions are signed out."""
        user = await self.get_user(viewer.user_id)
        if not user.totp_enabled:
            raise Conflict("Two-factor authentication is not on.")
        await self.step_up(viewer, password, otp or "")
        async with self.store.write() as s:
            await self.second_factor.remove(s, user.id)
            revoked = await self._revoke(s, user.id, keep=viewer.session_id)
            self.publish_account_changed(s, user.id)
            audit.record(s, "2fa.disabled", user.id, detail=f"sessions_revoked={len(revoked)}")
        return True

    async def regenerate_recovery_codes(self, viewer: Viewer, password: str, otp: str) -> list[str]:
        user = await self.get_user(viewer.user_id)
        if not user.totp_enabled:
            raise Conflict("Two-factor authentication is not on.")
        await self.step_up(viewer, password, otp or "")
        async with self.store.write() as s:
            codes = await self.second_factor.replace_recovery_codes(s, user.id)
            audit.record(s, "2fa.recovery_codes_regenerated", user.id)
        return codes

    async def recovery_codes_left(self, user_id: str) -> int:
        return await self.second_factor.remaining(user_id)

    async def reset_two_factor(self, email: str) -> UserView:
        """Operator reset for a lost device (``mbf user reset-2fa``): 2FA off, every session signed out."""
        email = self.normalize_email(email)
        async with self.store.write() as s:
            user = (await s.exec(select(User).where(User.email == email))).first()
            if user is None:
                raise NotFound("No user with that email.", field="email")
            await self.second_factor.remove(s, user.id)
            revoked = await self._revoke(s, user.id)
            self.publish_account_changed(s, user.id)
            audit.record(s, "2fa.reset_by_operator", user.id, detail=f"sessions_revoked={len(revoked)}")
        return UserView.of(user)
