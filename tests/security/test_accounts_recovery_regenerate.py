"""``regenerateRecoveryCodes`` over real HTTP: only with 2FA on, the password and a current code;
a refused request changes nothing; the new codes replace the old ones (which stop working)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.accounts_helpers import PASSWORD, VIEWER, code_at, enable_2fa, login
from tests.support.server import GraphQLClient, error_codes

REGENERATE = "mutation($p: String!, $o: String!) { regenerateRecoveryCodes(password: $p, otp: $o) { recoveryCodes } }"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"login_backoff_base_s": 600.0}  # a backoff that no loaded machine outlasts between two requests


async def test_regenerating_recovery_codes_needs_2fa_password_and_code_and_replaces_the_old_ones(
    any_engine: str, gql: GraphQLClient
) -> None:
    token = await gql.register("r1@example.com")
    off = await gql(REGENERATE, {"p": PASSWORD, "o": "123456"}, token=token, expect_errors=True)
    assert error_codes(off) == ["CONFLICT"] and off["data"] is None

    totp, old = await enable_2fa(gql, token)
    refused = [
        ({"p": "not the password at all", "o": code_at(totp, 1)}, "password"),
        ({"p": PASSWORD, "o": f"{(int(code_at(totp, 1)) + 1) % 1_000_000:06d}"}, "otp"),  # a wrong code
        ({"p": PASSWORD, "o": ""}, "otp"),
    ]
    for variables, field in refused:
        bad = await gql(REGENERATE, variables, token=token, expect_errors=True)
        assert error_codes(bad) == ["BAD_USER_INPUT"] and bad["errors"][0]["extensions"]["field"] == field, bad
        assert bad["data"] is None
    assert (await gql(VIEWER, token=token))["data"]["viewer"]["recoveryCodesLeft"] == 10  # nothing changed

    body = await gql(REGENERATE, {"p": PASSWORD, "o": code_at(totp, 1)}, token=token)
    new = body["data"]["regenerateRecoveryCodes"]["recoveryCodes"]
    assert len(new) == 10 == len(set(new)) and not set(new) & set(old)
    assert (await gql(VIEWER, token=token))["data"]["viewer"]["recoveryCodesLeft"] == 10

    stale = await login(gql, "r1@example.com", otp=old[0])  # the old codes stopped working
    assert error_codes(stale) == ["UNAUTHENTICATED"] and stale["errors"][0]["extensions"]["field"] == "otp"
    fresh = await login(gql, "r1@example.com", otp=new[0])
    new_token = fresh["data"]["login"]["token"]
    assert (await gql(VIEWER, token=new_token))["data"]["viewer"]["recoveryCodesLeft"] == 9
