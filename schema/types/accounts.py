"""Account types: User, AuthPayload, sessions, API keys, invitations, the audit log and their inputs."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from app.security.totp import TotpSetupData
from app.services.accounts import InvitationView, IssuedInvitation, IssuedToken, SessionView, UserView
from app.services.api_keys import ApiKeyView, IssuedApiKey
from app.services.audit import AuditView


@strawberry.enum
class Role(Enum):
    ADMIN = "admin"
    USER = "user"
    VIEWER = "viewer"


@strawberry.enum(description="What an API key may do; each operation needs one scope (see docs/security.md).")
class ApiScope(Enum):
    WALLETS_READ = "wallets:read"
    WALLETS_WRITE = "wallets:write"
    LIGHTNING_READ = "lightning:read"
    LIGHTNING_WRITE = "lightning:write"
    REPORTS = "reports"


@strawberry.type
class User:
    id: strawberry.ID
    email: str
    role: Role
    created_at: datetime
    totp_enabled: bool

    @strawberry.field(description="Unused two-factor recovery codes left (0 when 2FA is off).")
    async def recovery_codes_left(self, info: Info) -> int:
        return await info.context.container.accounts.recovery_codes_left(str(self.id))

    @classmethod
    def of(cls, v: UserView) -> User:
        return cls(
            id=strawberry.ID(v.id),
            email=v.email,
            role=Role(v.role),
            created_at=v.created_at,
            totp_enabled=v.totp_enabled,
        )


@strawberry.type
class AuthPayload:
    token: str = strawberry.field(description="Bearer token; shown once, send as `Authorization: Bearer <token>`.")
    expires_at: datetime
    user: User

    @classmethod
    def from_issued(cls, issued: IssuedToken) -> AuthPayload:
        return cls(token=issued.token, expires_at=issued.expires_at, user=User.of(issued.user))


@strawberry.type
class TotpSetupPayload:
    secret: str
    uri: str = strawberry.field(description="otpauth:// URI to show as a QR code.")

    @classmethod
    def from_setup(cls, setup: TotpSetupData) -> TotpSetupPayload:
        return cls(secret=setup.secret, uri=setup.uri)


@strawberry.type(description="Single-use codes that stand in for a TOTP code; shown once, store them offline.")
class RecoveryCodesPayload:
    recovery_codes: list[str]


@strawberry.type(description="A signed-in session (bearer token) of the viewer.")
class Session:
    id: strawberry.ID
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool = strawberry.field(description="The session of this request.")

    @classmethod
    def of(cls, v: SessionView) -> Session:
        return cls(
            id=strawberry.ID(v.id),
            created_at=v.created_at,
            last_used_at=v.last_used_at,
            expires_at=v.expires_at,
            ip=v.ip,
            user_agent=v.user_agent,
            current=v.current,
        )


@strawberry.type
class ApiKey:
    id: strawberry.ID
    name: str
    prefix: str = strawberry.field(description="The first characters of the key, to recognise it.")
    scopes: list[ApiScope]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, v: ApiKeyView) -> ApiKey:
        return cls(
            id=strawberry.ID(v.id),
            name=v.name,
            prefix=v.prefix,
            scopes=[ApiScope(s) for s in v.scopes],
            created_at=v.created_at,
            expires_at=v.expires_at,
            last_used_at=v.last_used_at,
            revoked_at=v.revoked_at,
        )


@strawberry.type
class CreatedApiKey:
    token: str = strawberry.field(description="The key; shown once. Send as `Authorization: Bearer <token>`.")
    key: ApiKey

    @classmethod
    def of(cls, issued: IssuedApiKey) -> CreatedApiKey:
        return cls(token=issued.token, key=ApiKey.of(issued.key))


@strawberry.type
class CreatedInvitation:
    id: strawberry.ID
    code: str = strawberry.field(description="Shown once; the invitee passes it to `register`.")
    role: Role
    expires_at: datetime

    @classmethod
    def of(cls, v: IssuedInvitation) -> CreatedInvitation:
        return cls(id=strawberry.ID(v.id), code=v.code, role=Role(v.role), expires_at=v.expires_at)


@strawberry.enum(description="Where an invitation stands.")
class InvitationStatus(Enum):
    OPEN = strawberry.enum_value("open", description="Unused and still valid: its code registers one account.")
    USED = strawberry.enum_value("used", description="An account was registered with it.")
    EXPIRED = strawberry.enum_value("expired", description="Past its validity, or revoked (which ends it at once).")


@strawberry.type(description="A registration invitation as an admin sees it; its code was shown once, at creation.")
class Invitation:
    id: strawberry.ID = strawberry.field(description="The invitation's id (for `revokeInvitation`).")
    role: Role = strawberry.field(description="The role the invited account gets.")
    status: InvitationStatus = strawberry.field(description="Open, used or expired.")
    created_by: strawberry.ID = strawberry.field(description="The admin who created it.")
    created_at: datetime = strawberry.field(description="When it was created.")
    expires_at: datetime = strawberry.field(description="When it stops (or stopped) being valid.")
    used_at: datetime | None = strawberry.field(description="When it was used; null while unused.")
    used_by: strawberry.ID | None = strawberry.field(description="The account registered with it; null while unused.")

    @classmethod
    def of(cls, v: InvitationView) -> Invitation:
        return cls(
            id=strawberry.ID(v.id),
            role=Role(v.role),
            status=InvitationStatus(v.status),
            created_by=strawberry.ID(v.created_by),
            created_at=v.created_at,
            expires_at=v.expires_at,
            used_at=v.used_at,
            used_by=strawberry.ID(v.used_by) if v.used_by else None,
        )


@strawberry.type(description="One entry of the append-only audit log (never holds secrets).")
class AuditEntry:
    id: strawberry.ID
    user_id: strawberry.ID | None
    action: str
    subject: str | None
    ip: str | None
    detail: str | None
    created_at: datetime

    @classmethod
    def of(cls, v: AuditView) -> AuditEntry:
        return cls(
            id=strawberry.ID(v.id),
            user_id=strawberry.ID(v.user_id) if v.user_id else None,
            action=v.action,
            subject=v.subject,
            ip=v.ip,
            detail=v.detail,
            created_at=v.created_at,
        )


@strawberry.input
class RegisterInput:
    email: str
    password: str
    invitation_code: str | None = strawberry.field(
        default=None, description="Needed when registration is by invitation."
    )


@strawberry.input
class LoginInput:
    email: str
    password: str
    otp: str | None = strawberry.field(default=None, description="A TOTP code, or one unused recovery code.")


@strawberry.input
class ChangePasswordInput:
    current_password: str
    new_password: str
    otp: str | None = strawberry.field(default=None, description="Needed when two-factor authentication is on.")


@strawberry.input
class CreateApiKeyInput:
    name: str
    scopes: list[ApiScope]
    password: str = strawberry.field(description="Your password again: creating a key is a sensitive change.")
    otp: str | None = strawberry.field(default=None, description="A current code when two-factor authentication is on.")
    expires_in_days: int | None = None
