"""Account requests at their limits, over real HTTP: an over-long password, an invitation's validity
bounds, 2FA set-up steps out of order, and a password hash of older parameters upgraded at sign-in.
Each refusal is a GraphQL error naming the field and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from tests.security.accounts_helpers import CONFIRM, PASSWORD, enable_2fa, login
from tests.support.server import GraphQLClient, LiveServer, error_codes

REGISTER = "mutation($i: RegisterInput!) { register(input: $i) { token } }"
INVITE = "mutation($h: Int!) { createInvitation(validHours: $h) { code expiresAt } }"
INVITATIONS = "{ invitations { id } }"
BEGIN = "mutation { beginTwoFactorSetup { secret } }"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"login_backoff_base_s": 600.0}  # a backoff that no loaded machine outlasts between two requests


async def users(server: LiveServer) -> int:
    async with server.container.store.read() as s:
        return int((await s.exec(sa.text("SELECT count(*) FROM users"))).one()[0])  # type: ignore[call-overload]


async def test_a_password_over_1024_characters_is_refused_and_1024_are_accepted(
    gql: GraphQLClient, server: LiveServer
) -> None:
    long = await gql(REGISTER, {"i": {"email": "l@example.com", "password": "x" * 1025}}, token="", expect_errors=True)
    assert error_codes(long) == ["BAD_USER_INPUT"] and long["errors"][0]["extensions"]["field"] == "password"
    assert "1024" in long["errors"][0]["message"] and await users(server) == 0
    ok = await gql(REGISTER, {"i": {"email": "l@example.com", "password": "x" * 1024}}, token="")
    assert ok["data"]["register"]["token"].startswith("mbf_") and await users(server) == 1
    assert (await login(gql, "l@example.com", "x" * 1024))["data"]["login"]["token"]


async def test_an_invitation_is_valid_for_one_hour_to_ninety_days(gql: GraphQLClient) -> None:
    admin = await gql.register("admin@example.com")  # the first account is the admin
    for hours in (0, -1, 24 * 90 + 1):
        bad = await gql(INVITE, {"h": hours}, token=admin, expect_errors=True)
        assert error_codes(bad) == ["BAD_USER_INPUT"] and bad["errors"][0]["extensions"]["field"] == "validHours"
    assert (await gql(INVITATIONS, token=admin))["data"]["invitations"] == []  # nothing stored
    for hours in (1, 24 * 90):
        assert (await gql(INVITE, {"h": hours}, token=admin))["data"]["createInvitation"]["code"].startswith("mbfi_")
    assert len((await gql(INVITATIONS, token=admin))["data"]["invitations"]) == 2


async def test_two_factor_setup_steps_out_of_order_are_conflicts(gql: GraphQLClient) -> None:
    token = await gql.register("o@example.com")
    early = await gql(CONFIRM, {"o": "123456", "p": PASSWORD}, token=token, expect_errors=True)
    assert error_codes(early) == ["CONFLICT"] and "beginTwoFactorSetup" in early["errors"][0]["extensions"]["hint"]
    totp, _ = await enable_2fa(gql, token)
    again = await gql(BEGIN, token=token, expect_errors=True)
    assert error_codes(again) == ["CONFLICT"] and again["data"] is None
    twice = await gql(CONFIRM, {"o": totp.now(), "p": PASSWORD}, token=token, expect_errors=True)
    assert error_codes(twice) == ["CONFLICT"]


async def test_a_hash_of_older_parameters_is_upgraded_at_sign_in(gql: GraphQLClient, server: LiveServer) -> None:
    await gql.register("h@example.com")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    async with server.container.store.write() as s:
        await s.exec(sa.text("UPDATE users SET password_hash = :h WHERE email = 'h@example.com'").bindparams(h=weak))  # type: ignore[call-overload]
    assert (await login(gql, "h@example.com"))["data"]["login"]["token"]
    async with server.container.store.read() as s:
        stored = (await s.exec(sa.text("SELECT password_hash FROM users WHERE email = 'h@example.com'"))).one()[0]  # type: ignore[call-overload]
    assert stored != weak and "m=65536,t=3,p=2" in stored
    assert (await login(gql, "h@example.com"))["data"]["login"]["token"]  # the new hash checks the same password
    wrong = await login(gql, "h@example.com", "not the password at all")
    assert error_codes(wrong) == ["UNAUTHENTICATED"]
