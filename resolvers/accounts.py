"""Account root fields: register, login, logout, viewer, two-factor set-up."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from schema.context import Context
from schema.types.accounts import AuthPayload, LoginInput, RegisterInput, TotpSetupPayload, User


@strawberry.type
class AccountQuery:
    @strawberry.field(description="The signed-in user, or null.")
    async def viewer(self, info: Info[Context, None]) -> User | None:
        ctx = info.context
        if ctx.viewer is None:
            return None
        return User.from_row(await ctx.container.accounts.get_user(ctx.viewer.user_id))


@strawberry.type
class AccountMutation:
    @strawberry.mutation(description="Create an account and sign in. The first account is the admin.")
    async def register(self, info: Info[Context, None], input: RegisterInput) -> AuthPayload:
        issued = await info.context.container.accounts.register(input.email, input.password)
        return AuthPayload.from_issued(issued)

    @strawberry.mutation(description="Sign in; `otp` is required when two-factor authentication is on.")
    async def login(self, info: Info[Context, None], input: LoginInput) -> AuthPayload:
        ctx = info.context
        issued = await ctx.container.accounts.login(input.email, input.password, input.otp, ctx.client_address)
        return AuthPayload.from_issued(issued)

    @strawberry.mutation(description="Revoke the token of this request.")
    async def logout(self, info: Info[Context, None]) -> bool:
        ctx = info.context
        return await ctx.container.accounts.logout(ctx.require_viewer())

    @strawberry.mutation(description="Start two-factor set-up: returns a secret to add to an authenticator app.")
    async def begin_two_factor_setup(self, info: Info[Context, None]) -> TotpSetupPayload:
        ctx = info.context
        return TotpSetupPayload.from_setup(await ctx.container.accounts.begin_totp(ctx.require_viewer()))

    @strawberry.mutation(description="Confirm two-factor set-up with a current code; logins then need codes.")
    async def confirm_two_factor(self, info: Info[Context, None], otp: str) -> bool:
        ctx = info.context
        return await ctx.container.accounts.confirm_totp(ctx.require_viewer(), otp, enable=True)

    @strawberry.mutation(description="Turn two-factor authentication off (needs a current code).")
    async def disable_two_factor(self, info: Info[Context, None], otp: str) -> bool:
        ctx = info.context
        return not await ctx.container.accounts.confirm_totp(ctx.require_viewer(), otp, enable=False)
