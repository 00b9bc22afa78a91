"""Account root fields: register, login, logout, viewer, two-factor, password, sessions, API keys,
invitations, roles and the audit log. Thin: every rule lives in the account services."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from schema.context import Context
from schema.pagination import Connection, PageArgs, paged, to_connection
from schema.types.accounts import (
    ApiKey,
    AuditEntry,
    AuthPayload,
    ChangePasswordInput,
    CreateApiKeyInput,
    CreatedApiKey,
    CreatedInvitation,
    Invitation,
    LoginInput,
    RecoveryCodesPayload,
    RegisterInput,
    Role,
    Session,
    TotpSetupPayload,
    User,
)


@strawberry.type
class AccountQuery:
    @strawberry.field(description="The signed-in user, or null.")
    async def viewer(self, info: Info[Context, None]) -> User | None:
        ctx = info.context
        if ctx.viewer is None:
            return None
        return User.of(await ctx.container.accounts.account(ctx.viewer))

    @strawberry.field(description="The viewer's signed-in sessions, newest first.")
    async def sessions(self, info: Info[Context, None]) -> list[Session]:
        ctx = info.context
        return [Session.of(v) for v in await ctx.container.accounts.sessions(ctx.require_viewer())]

    @strawberry.field(description="The viewer's API keys (revoked ones too), newest first.")
    async def api_keys(self, info: Info[Context, None]) -> list[ApiKey]:
        ctx = info.context
        return [ApiKey.of(v) for v in await ctx.container.api_keys.list(ctx.require_viewer())]

    @strawberry.field(description="Audit entries, newest first: the viewer's own, or everyone's (`allUsers`, admins).")
    @paged
    async def audit_log(
        self,
        info: Info[Context, None],
        page: PageArgs,
        all_users: bool = False,
        action: str | None = None,
    ) -> Connection[AuditEntry]:
        ctx = info.context
        viewer = ctx.require_viewer()
        entries = await ctx.container.audit.entries(
            viewer.user_id,
            is_admin=viewer.is_admin,
            all_users=all_users,
            action=action,
            first=page.first,
            after=page.after,
            last=page.last,
            before=page.before,
        )
        return to_connection(entries, AuditEntry.of)

    @strawberry.field(description="Every registration invitation, newest first (admins only; codes are not shown).")
    async def invitations(self, info: Info[Context, None]) -> list[Invitation]:
        ctx = info.context
        return [Invitation.of(v) for v in await ctx.container.accounts.invitations(ctx.require_viewer())]

    @strawberry.field(description="Every account (admins only).")
    async def users(self, info: Info[Context, None]) -> list[User]:
        ctx = info.context
        return [User.of(u) for u in await ctx.container.accounts.list_users(ctx.require_viewer())]


@strawberry.type
class AccountMutation:
    @strawberry.mutation(description="Create an account and sign in. The first account is the admin.")
    async def register(self, info: Info[Context, None], input: RegisterInput) -> AuthPayload:
        ctx = info.context
        issued = await ctx.container.accounts.register(input.email, input.password, ctx.client, input.invitation_code)
        return AuthPayload.from_issued(issued)

    @strawberry.mutation(description="Sign in; `otp` (a TOTP or a recovery code) is required when 2FA is on.")
    async def login(self, info: Info[Context, None], input: LoginInput) -> AuthPayload:
        ctx = info.context
        issued = await ctx.container.accounts.login(input.email, input.password, input.otp, ctx.client)
        return AuthPayload.from_issued(issued)

    @strawberry.mutation(description="Revoke the token of this request.")
    async def logout(self, info: Info[Context, None]) -> bool:
        ctx = info.context
        return await ctx.container.accounts.logout(ctx.require_viewer())

    @strawberry.mutation(description="Start two-factor set-up: returns a secret to add to an authenticator app.")
    async def begin_two_factor_setup(self, info: Info[Context, None]) -> TotpSetupPayload:
        ctx = info.context
        return TotpSetupPayload.from_setup(await ctx.container.accounts.begin_totp(ctx.require_viewer()))

    @strawberry.mutation(
        description="Turn two-factor on with your password and a current code; other sessions are signed out. "
        "Returns recovery codes, shown once."
    )
    async def confirm_two_factor(self, info: Info[Context, None], otp: str, password: str) -> RecoveryCodesPayload:
        ctx = info.context
        codes = await ctx.container.accounts.confirm_totp(ctx.require_viewer(), otp, password)
        return RecoveryCodesPayload(recovery_codes=codes)

    @strawberry.mutation(description="Turn two-factor off (password and a current or recovery code).")
    async def disable_two_factor(self, info: Info[Context, None], otp: str, password: str) -> bool:
        ctx = info.context
        return await ctx.container.accounts.disable_totp(ctx.require_viewer(), otp, password)

    @strawberry.mutation(description="Replace the recovery codes (password and a current code); shown once.")
    async def regenerate_recovery_codes(
        self, info: Info[Context, None], password: str, otp: str
    ) -> RecoveryCodesPayload:
        ctx = info.context
        codes = await ctx.container.accounts.regenerate_recovery_codes(ctx.require_viewer(), password, otp)
        return RecoveryCodesPayload(recovery_codes=codes)

    @strawberry.mutation(description="Change the password; every other session is signed out.")
    async def change_password(self, info: Info[Context, None], input: ChangePasswordInput) -> bool:
        ctx = info.context
        await ctx.container.accounts.change_password(
            ctx.require_viewer(), input.current_password, input.new_password, input.otp
        )
        return True

    @strawberry.mutation(description="Sign out one of your sessions (NOT_FOUND for any other id).")
    async def revoke_session(self, info: Info[Context, None], id: strawberry.ID) -> bool:
        ctx = info.context
        return await ctx.container.accounts.revoke_session(ctx.require_viewer(), str(id))

    @strawberry.mutation(description="Sign out every session but this one; returns how many were revoked.")
    async def revoke_other_sessions(self, info: Info[Context, None]) -> int:
        ctx = info.context
        return await ctx.container.accounts.revoke_other_sessions(ctx.require_viewer())

    @strawberry.mutation(description="Create a scoped API key (password, and a code when 2FA is on); shown once.")
    async def create_api_key(self, info: Info[Context, None], input: CreateApiKeyInput) -> CreatedApiKey:
        ctx = info.context
        issued = await ctx.container.api_keys.create(
            ctx.require_viewer(),
            input.name,
            [s.value for s in input.scopes],
            input.password,
            input.otp,
            input.expires_in_days,
        )
        return CreatedApiKey.of(issued)

    @strawberry.mutation(description="Revoke one of your API keys (NOT_FOUND for any other id).")
    async def revoke_api_key(self, info: Info[Context, None], id: strawberry.ID) -> bool:
        ctx = info.context
        return await ctx.container.api_keys.revoke(ctx.require_viewer(), str(id))

    @strawberry.mutation(description="Create a single-use registration code (admins only).")
    async def create_invitation(
        self, info: Info[Context, None], role: Role = Role.USER, valid_hours: int = 72
    ) -> CreatedInvitation:
        ctx = info.context
        issued = await ctx.container.accounts.create_invitation(ctx.require_viewer(), role.value, valid_hours)
        return CreatedInvitation.of(issued)

    @strawberry.mutation(description="End an unused invitation's validity now (admins only).")
    async def revoke_invitation(
        self, info: Info[Context, None], id: Annotated[strawberry.ID, strawberry.argument(description="Its id.")]
    ) -> bool:
        ctx = info.context
        return await ctx.container.accounts.revoke_invitation(ctx.require_viewer(), str(id))

    @strawberry.mutation(description="Change a user's role (admins only; the last admin stays admin).")
    async def set_user_role(self, info: Info[Context, None], user_id: strawberry.ID, role: Role) -> User:
        ctx = info.context
        return User.of(await ctx.container.accounts.set_role(ctx.require_viewer(), str(user_id), role.value))
