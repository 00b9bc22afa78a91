"""Accounts over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa

from app.store.models.accounts import AuthSession
from app.store.models.base import utcnow
from tests.support.server import GraphQLClient, LiveServer, error_codes

VIEWER = "{ viewer { id email role } }"
LOGIN = "mutation($i: LoginInput!) { login(input: $i) { token expiresAt user { email } } }"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"login_backoff_base_s": 600.0}  # a backoff no loaded machine outlasts between two requests


async def test_register_login_viewer_logout(any_engine: str, gql: GraphQLClient) -> None:
    token = await gql.register("Alice@Example.com")
    me = (await gql(VIEWER, token=token))["data"]["viewer"]
    assert me["email"] == "alice@example.com" and me["role"] == "ADMIN"  # first user is the admin

    login = (await gql(LOGIN, {"i": {"email": "alice@example.com", "password": PASSWORD}}))["data"]["login"]
    assert login["token"] != token and login["user"]["email"] == "alice@example.com"

    assert (await gql("mutation { logout }", token=token))["data"]["logout"] is True
    revoked = await gql.http.post("/graphql", json={"query": VIEWER}, headers={"authorization": f"Bearer {token}"})
    assert revoked.status_code == 401 and error_codes(revoked.json()) == ["UNAUTHENTICATED"]
    # The other session is unaffected.
    assert (await gql(VIEWER, token=login["token"]))["data"]["viewer"]["email"] == "alice@example.com"


async def test_second_user_is_not_admin_and_sees_only_self(gql: GraphQLClient) -> None:
    await gql.register("a@example.com")
    bob = await gql.register("b@example.com")
    me = (await gql(VIEWER, token=bob))["data"]["viewer"]
    assert me == {"id": me["id"], "email": "b@example.com", "role": "USER"}


async def test_anonymous_viewer_is_null(gql: GraphQLClient) -> None:
    assert (await gql(VIEWER))["data"]["viewer"] is None


async def test_bad_registrations_change_nothing(any_engine: str, gql: GraphQLClient, server: LiveServer) -> None:
    q = "mutation($i: RegisterInput!) { register(input: $i) { token } }"
    cases = [
        ({"email": "not-an-email", "password": PASSWORD}, "BAD_USER_INPUT", "email"),
        ({"email": "c@example.com", "password": "short"}, "BAD_USER_INPUT", "password"),
    ]
    for payload, code, field in cases:
        body = await gql(q, {"i": payload}, expect_errors=True)
        assert error_codes(body) == [code]
        assert body["errors"][0]["extensions"]["field"] == field
        assert body["errors"][0]["extensions"]["errorId"]
    await gql.register("c@example.com")
    dup = await gql(q, {"i": {"email": "C@example.com", "password": PASSWORD}}, expect_errors=True)
    assert error_codes(dup) == ["CONFLICT"] and dup["errors"][0]["extensions"]["field"] == "email"
    async with server.container.store.read() as s:
        count = (await s.exec(sa.text("SELECT count(*) FROM users"))).one()[0]  # type: ignore[call-overload]
    assert count == 1


async def test_wrong_password_and_unknown_email_look_the_same(gql: GraphQLClient) -> None:
    await gql.register("d@example.com")
    wrong = await gql(LOGIN, {"i": {"email": "d@example.com", "password": "x" * 12}}, expect_errors=True)
    unknown = await gql(LOGIN, {"i": {"email": "nobody@example.com", "password": "x" * 12}}, expect_errors=True)
    assert error_codes(wrong) == error_codes(unknown) == ["UNAUTHENTICATED"]
    assert wrong["errors"][0]["message"] == unknown["errors"][0]["message"]


async def test_login_is_rate_limited(gql: GraphQLClient, server: LiveServer) -> None:
    """After the free attempts the next one must wait (backoff): refused without checking the password."""
    await gql.register("e@example.com")
    free = server.settings.login_free_attempts
    codes = []
    for _ in range(free + 1):
        body = await gql(LOGIN, {"i": {"email": "e@example.com", "password": "y" * 12}}, expect_errors=True)
        codes.append(error_codes(body)[0])
    assert codes[:free] == ["UNAUTHENTICATED"] * free and codes[-1] == "RATE_LIMITED"


async def test_expired_token_is_refused(any_engine: str, gql: GraphQLClient, server: LiveServer) -> None:
    token = await gql.register("f@example.com")
    async with server.container.store.write() as s:
        await s.exec(sa.update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))  # type: ignore[call-overload]
    resp = await gql.http.post("/graphql", json={"query": VIEWER}, headers={"authorization": f"Bearer {token}"})
    assert resp.status_code == 401 and error_codes(resp.json()) == ["UNAUTHENTICATED"]


async def test_malformed_authorization_header(gql: GraphQLClient) -> None:
    resp = await gql.http.post("/graphql", json={"query": VIEWER}, headers={"authorization": "Basic Zm9vOmJhcg=="})
    assert resp.status_code == 401 and error_codes(resp.json()) == ["UNAUTHENTICATED"]


async def test_logout_needs_a_token(gql: GraphQLClient) -> None:
    assert error_codes(await gql("mutation { logout }", expect_errors=True)) == ["UNAUTHENTICATED"]


async def test_two_factor_login(gql: GraphQLClient) -> None:
    token = await gql.register("g@example.com")
    setup = (await gql("mutation { beginTwoFactorSetup { secret uri } }", token=token))["data"]["beginTwoFactorSetup"]
    assert setup["uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(setup["secret"])
    confirm = "mutation($o: String!, $p: String!) { confirmTwoFactor(otp: $o, password: $p) { recoveryCodes } }"
    if totp.now() != "000000":
        bad = await gql(confirm, {"o": "000000", "p": PASSWORD}, token=token, expect_errors=True)
        assert error_codes(bad) == ["BAD_USER_INPUT"] and bad["errors"][0]["extensions"]["field"] == "otp"
    ok = await gql(confirm, {"o": totp.now(), "p": PASSWORD}, token=token)
    assert len(ok["data"]["confirmTwoFactor"]["recoveryCodes"]) == 10

    creds = {"email": "g@example.com", "password": PASSWORD}
    missing = await gql(LOGIN, {"i": creds}, expect_errors=True)
    assert error_codes(missing) == ["UNAUTHENTICATED"] and missing["errors"][0]["extensions"]["field"] == "otp"
    code = ok["data"]["confirmTwoFactor"]["recoveryCodes"][0]  # the TOTP step of the confirmation is used up
    good = await gql(LOGIN, {"i": {**creds, "otp": code}})
    assert good["data"]["login"]["token"].startswith("mbf_")
