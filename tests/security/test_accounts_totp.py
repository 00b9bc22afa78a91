"""Two-factor authentication over real HTTP: wrong codes refused on every way in, codes work once,
recovery codes work once, enabling/disabling really switches it, step-up needs the password."""

from __future__ import annotations

import asyncio
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa

from tests.security.accounts_helpers import (
    CONFIRM,
    DISABLE,
    PASSWORD,
    VIEWER,
    code_at,
    enable_2fa,
    login,
)
from tests.support.server import GraphQLClient, LiveServer, error_codes

CHANGE = "mutation($i: ChangePasswordInput!) { changePassword(input: $i) }"
CREATE_KEY = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { token } }"
NEW_PASSWORD = "a different long passphrase"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"login_backoff_base_s": 600.0}  # a backoff that no loaded machine outlasts between two requests


def wrong(code: str) -> str:
    """A six-digit code that is certainly not ``code``."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def count(server: LiveServer, table: str) -> int:
    async with server.container.store.read() as s:
        return int((await s.exec(sa.text(f"SELECT count(*) FROM {table}"))).one()[0])  # type: ignore[call-overload]


async def test_wrong_totp_at_login_is_refused_and_issues_nothing(
    any_engine: str, gql: GraphQLClient, server: LiveServer
) -> None:
    token = await gql.register("t1@example.com")
    totp, _ = await enable_2fa(gql, token)
    sessions = await count(server, "auth_sessions")
    bad = await login(gql, "t1@example.com", otp=wrong(code_at(totp, 1)))
    assert error_codes(bad) == ["UNAUTHENTICATED"] and bad["errors"][0]["extensions"]["field"] == "otp"
    assert bad["data"] is None
    missing = await login(gql, "t1@example.com")
    assert error_codes(missing) == ["UNAUTHENTICATED"]
    assert await count(server, "auth_sessions") == sessions
    good = await login(gql, "t1@example.com", otp=code_at(totp, 1))
    assert good["data"]["login"]["token"].startswith("mbf_")


async def test_a_totp_code_works_once_and_only_within_one_step(any_engine: str, gql: GraphQLClient) -> None:
    token = await gql.register("t2@example.com")
    totp, _ = await enable_2fa(gql, token)
    code = code_at(totp, 1)
    assert (await login(gql, "t2@example.com", otp=code))["data"]["login"]["token"]
    replay = await login(gql, "t2@example.com", otp=code)
    assert error_codes(replay) == ["UNAUTHENTICATED"] and replay["errors"][0]["extensions"]["field"] == "otp"
    # Two steps ahead is outside the ±1 window, even though it was never used.
    ahead = await login(gql, "t2@example.com", otp=code_at(totp, 3))
    assert error_codes(ahead) == ["UNAUTHENTICATED"]
    # The confirmation's own code (an earlier step) cannot be reused either.
    assert error_codes(await login(gql, "t2@example.com", otp=totp.now())) == ["UNAUTHENTICATED"]


async def test_recovery_codes_are_single_use_and_replace_a_totp_code(any_engine: str, gql: GraphQLClient) -> None:
    token = await gql.register("t3@example.com")
    _, codes = await enable_2fa(gql, token)
    assert len(set(codes)) == 10
    assert (await gql(VIEWER, token=token))["data"]["viewer"]["recoveryCodesLeft"] == 10
    first = await login(gql, "t3@example.com", otp=codes[0].upper())  # case and dashes do not matter
    new_token = first["data"]["login"]["token"]
    again = await login(gql, "t3@example.com", otp=codes[0])
    assert error_codes(again) == ["UNAUTHENTICATED"]
    assert (await gql(VIEWER, token=new_token))["data"]["viewer"]["recoveryCodesLeft"] == 9
    assert error_codes(await login(gql, "t3@example.com", otp="aaaa-bbbb-cccc-dddd")) == ["UNAUTHENTICATED"]


async def test_recovery_codes_are_stored_hashed(gql: GraphQLClient, server: LiveServer) -> None:
    token = await gql.register("t4@example.com")
    _, codes = await enable_2fa(gql, token)
    async with server.container.store.read() as s:
        stored = [r[0] for r in (await s.exec(sa.text("SELECT code_hash FROM recovery_codes"))).all()]  # type: ignore[call-overload]
    assert len(stored) == 10
    plain = {c.replace("-", "") for c in codes} | set(codes)
    assert not plain & set(stored)


async def test_enable_then_disable_really_turns_two_factor_off(any_engine: str, gql: GraphQLClient) -> None:
    token = await gql.register("t5@example.com")
    totp, _ = await enable_2fa(gql, token)
    assert (await gql(VIEWER, token=token))["data"]["viewer"]["totpEnabled"] is True
    assert error_codes(await login(gql, "t5@example.com")) == ["UNAUTHENTICATED"]

    code = code_at(totp, 1)
    refused = await gql(DISABLE, {"o": wrong(code), "p": PASSWORD}, token=token, expect_errors=True)
    assert error_codes(refused) == ["BAD_USER_INPUT"] and refused["errors"][0]["extensions"]["field"] == "otp"
    no_password = await gql(DISABLE, {"o": code, "p": "not my password!"}, token=token, expect_errors=True)
    assert error_codes(no_password) == ["BAD_USER_INPUT"]
    assert no_password["errors"][0]["extensions"]["field"] == "password"
    assert error_codes(await login(gql, "t5@example.com")) == ["UNAUTHENTICATED"]  # still on

    assert (await gql(DISABLE, {"o": code, "p": PASSWORD}, token=token))["data"]["disableTwoFactor"] is True
    me = (await gql(VIEWER, token=token))["data"]["viewer"]
    assert me["totpEnabled"] is False and me["recoveryCodesLeft"] == 0
    assert (await login(gql, "t5@example.com"))["data"]["login"]["token"]  # no code needed any more


async def test_wrong_second_factor_is_refused_on_every_other_way_in(
    any_engine: str, gql: GraphQLClient, server: LiveServer
) -> None:
    token = await gql.register("t6@example.com")
    totp, _ = await enable_2fa(gql, token)
    bad = wrong(code_at(totp, 1))

    key = await gql(
        CREATE_KEY,
        {"i": {"name": "script", "scopes": ["WALLETS_READ"], "password": PASSWORD, "otp": bad}},
        token=token,
        expect_errors=True,
    )
    assert error_codes(key) == ["BAD_USER_INPUT"] and key["errors"][0]["extensions"]["field"] == "otp"
    no_code = await gql(
        CREATE_KEY,
        {"i": {"name": "script", "scopes": ["WALLETS_READ"], "password": PASSWORD}},
        token=token,
        expect_errors=True,
    )
    assert error_codes(no_code) == ["BAD_USER_INPUT"]
    assert await count(server, "api_keys") == 0

    change = await gql(
        CHANGE,
        {"i": {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "otp": bad}},
        token=token,
        expect_errors=True,
    )
    assert error_codes(change) == ["BAD_USER_INPUT"]
    assert (await login(gql, "t6@example.com", PASSWORD, otp=code_at(totp, 1)))["data"]["login"]  # unchanged

    disable = await gql(DISABLE, {"o": bad, "p": PASSWORD}, token=token, expect_errors=True)
    assert error_codes(disable) == ["BAD_USER_INPUT"]
    assert (await gql(VIEWER, token=token))["data"]["viewer"]["totpEnabled"] is True


async def test_confirming_two_factor_needs_the_password(gql: GraphQLClient) -> None:
    token = await gql.register("t7@example.com")
    setup = (await gql("mutation { beginTwoFactorSetup { secret } }", token=token))["data"]["beginTwoFactorSetup"]
    code = pyotp.TOTP(setup["secret"]).now()
    refused = await gql(CONFIRM, {"o": code, "p": "not my password!"}, token=token, expect_errors=True)
    assert error_codes(refused) == ["BAD_USER_INPUT"] and refused["errors"][0]["extensions"]["field"] == "password"
    assert (await gql(VIEWER, token=token))["data"]["viewer"]["totpEnabled"] is False


async def test_two_factor_checks_have_an_attempt_limit(gql: GraphQLClient, server: LiveServer) -> None:
    token = await gql.register("t8@example.com")
    totp, _ = await enable_2fa(gql, token)
    bad = wrong(code_at(totp, 1))
    codes = []
    for _ in range(server.settings.login_free_attempts + 1):
        body = await gql(DISABLE, {"o": bad, "p": PASSWORD}, token=token, expect_errors=True)
        codes.append(error_codes(body)[0])
    assert codes[-1] == "RATE_LIMITED" and set(codes[:-1]) == {"BAD_USER_INPUT"}
    # The limit is per user and covers every step-up check: the right code is refused too for now.
    right = await gql(DISABLE, {"o": code_at(totp, 1), "p": PASSWORD}, token=token, expect_errors=True)
    assert error_codes(right) == ["RATE_LIMITED"]
    assert (await gql(VIEWER, token=token))["data"]["viewer"]["totpEnabled"] is True


async def test_turning_two_factor_on_and_off_signs_out_other_sessions(gql: GraphQLClient) -> None:
    token = await gql.register("t9@example.com")
    other = (await login(gql, "t9@example.com"))["data"]["login"]["token"]
    totp, recovery = await enable_2fa(gql, token)
    gone = await gql.http.post("/graphql", json={"query": VIEWER}, headers={"authorization": f"Bearer {other}"})
    assert gone.status_code == 401
    assert (await gql(VIEWER, token=token))["data"]["viewer"]["totpEnabled"] is True  # this one stays

    other = (await login(gql, "t9@example.com", otp=code_at(totp, 1)))["data"]["login"]["token"]
    # The next TOTP step may not have come yet: a recovery code also disables 2FA.
    assert (await gql(DISABLE, {"o": recovery[0], "p": PASSWORD}, token=token))["data"]["disableTwoFactor"]
    gone = await gql.http.post("/graphql", json={"query": VIEWER}, headers={"authorization": f"Bearer {other}"})
    assert gone.status_code == 401


async def test_concurrent_logins_with_one_code_let_exactly_one_in(any_engine: str, gql: GraphQLClient) -> None:
    """The accepted step is stored with a conditional UPDATE: racing requests that all read the old step
    before any of them wrote cannot all win with the same code."""
    token = await gql.register("t10@example.com")
    totp, _ = await enable_2fa(gql, token)
    code = code_at(totp, 1)
    results = await asyncio.gather(*(login(gql, "t10@example.com", otp=code) for _ in range(4)))
    assert sorted(error_codes(r)[0] if r.get("errors") else "OK" for r in results) == ["OK"] + ["UNAUTHENTICATED"] * 3
