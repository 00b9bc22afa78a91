"""Account types: User, AuthPayload and their inputs."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from app.services.accounts import IssuedToken, TotpSetup
from app.store.models.accounts import User as UserRow


@strawberry.enum
class Role(Enum):
    ADMIN = "admin"
    USER = "user"


@strawberry.type
class User:
    id: strawberry.ID
    email: str
    role: Role
    created_at: datetime
    totp_enabled: bool

    @classmethod
    def from_row(cls, row: UserRow) -> User:
        return cls(
            id=strawberry.ID(row.id),
            email=row.email,
            role=Role(row.role),
            created_at=row.created_at,
            totp_enabled=row.totp_enabled,
        )


@strawberry.type
class AuthPayload:
    token: str = strawberry.field(description="Bearer token; shown once, send as `Authorization: Bearer <token>`.")
    expires_at: datetime
    user: User

    @classmethod
    def from_issued(cls, issued: IssuedToken) -> AuthPayload:
        return cls(token=issued.token, expires_at=issued.expires_at, user=User.from_row(issued.user))


@strawberry.type
class TotpSetupPayload:
    secret: str
    uri: str = strawberry.field(description="otpauth:// URI to show as a QR code.")

    @classmethod
    def from_setup(cls, setup: TotpSetup) -> TotpSetupPayload:
        return cls(secret=setup.secret, uri=setup.uri)


@strawberry.input
class RegisterInput:
    email: str
    password: str


@strawberry.input
class LoginInput:
    email: str
    password: str
    otp: str | None = None
