"""Helpers for the account security tests: clients from distinct loopback addresses, 2FA set-up."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pyotp

from tests.support.server import GraphQLClient

PASSWORD = "correct horse battery staple"
LOGIN = "mutation($i: LoginInput!) { login(input: $i) { token } }"
CONFIRM = "mutation($o: String!, $p: String!) { confirmTwoFactor(otp: $o, password: $p) { recoveryCodes } }"
DISABLE = "mutation($o: String!, $p: String!) { disableTwoFactor(otp: $o, password: $p) }"
VIEWER = "{ viewer { email totpEnabled recoveryCodesLeft } }"


def client_from(base_url: str, ip: str) -> GraphQLClient:
    """A GraphQL client whose requests come from ``ip`` (any 127.x.y.z is a real local source address)."""
    client = GraphQLClient(base_url)
    client.http = httpx.AsyncClient(base_url=base_url, timeout=30, transport=httpx.AsyncHTTPTransport(local_address=ip))
    return client


def code_at(totp: pyotp.TOTP, steps_from_now: int) -> str:
    """The code of the time step ``steps_from_now`` away (within ±1 it is accepted once)."""
    return totp.at(time.time() + steps_from_now * totp.interval)


async def login(gql: GraphQLClient, email: str, password: str = PASSWORD, otp: str | None = None) -> dict[str, Any]:
    creds: dict[str, Any] = {"email": email, "password": password}
    if otp is not None:
        creds["otp"] = otp
    return await gql(LOGIN, {"i": creds}, token="", expect_errors=True)


async def enable_2fa(gql: GraphQLClient, token: str) -> tuple[pyotp.TOTP, list[str]]:
    """Turn 2FA on with the current code; that step is then used up (the next login needs the next step)."""
    setup = (await gql("mutation { beginTwoFactorSetup { secret } }", token=token))["data"]["beginTwoFactorSetup"]
    totp = pyotp.TOTP(setup["secret"])
    body = await gql(CONFIRM, {"o": totp.now(), "p": PASSWORD}, token=token)
    return totp, body["data"]["confirmTwoFactor"]["recoveryCodes"]
