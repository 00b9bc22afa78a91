"""Sessions are answered from each process's memory, and a revocation on one ``mbf serve``
reaches the other at once through Redis (two real server processes sharing a database)."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest

from tests.performance.procs import mbf_serve, serve_env
from tests.support.server import GraphQLClient
from tests.support.services import REDIS_URL, require

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"
VIEWER = "{ viewer { id email role } }"


async def _status(gql: GraphQLClient, token: str) -> int:
    r = await gql.http.post("/graphql", json={"query": VIEWER}, headers={"authorization": f"Bearer {token}"})
    return r.status_code


async def test_logout_on_one_process_is_refused_on_the_other_at_once(tmp_path: Path) -> None:
    require("redis")
    env = serve_env(tmp_path, MBF_REDIS_URL=REDIS_URL)
    async with mbf_serve(tmp_path, env, name="a") as url_a, mbf_serve(tmp_path, env, name="b") as url_b:
        a, b = GraphQLClient(url_a), GraphQLClient(url_b)
        try:
            token = await a.register("root@example.com", PASSWORD)
            other = await a.register("user@example.com", PASSWORD)
            login = "mutation($i: LoginInput!) { login(input: $i) { token } }"
            second = (await b(login, {"i": {"email": "user@example.com", "password": PASSWORD}}, token=""))["data"][
                "login"
            ]["token"]
            # B now holds the tokens in memory (several reads, same answer).
            for _ in range(3):
                assert (await b(VIEWER, token=token))["data"]["viewer"]["email"] == "root@example.com"
                assert (await b(VIEWER, token=other))["data"]["viewer"]["role"] == "USER"

            # Logout on A: B refuses the token on the very next request.
            assert (await a("mutation { logout }", token=token))["data"]["logout"] is True
            assert await _status(b, token) == 401
            assert await _status(a, token) == 401

            # A role change made on A is seen by B's next request (the cached viewer is dropped).
            admin = (await a(login, {"i": {"email": "root@example.com", "password": PASSWORD}}, token=""))["data"][
                "login"
            ]["token"]
            user_id = (await b(VIEWER, token=other))["data"]["viewer"]["id"]
            set_role = "mutation($u: ID!) { setUserRole(userId: $u, role: ADMIN) { role } }"
            assert (await a(set_role, {"u": user_id}, token=admin))["data"]["setUserRole"]["role"] == "ADMIN"
            assert (await b(VIEWER, token=other))["data"]["viewer"]["role"] == "ADMIN"

            # A password change on B signs out the other sessions everywhere, A included.
            assert (await a(VIEWER, token=second))["data"]["viewer"]["email"] == "user@example.com"
            change = "mutation($i: ChangePasswordInput!) { changePassword(input: $i) }"
            await b(change, {"i": {"currentPassword": PASSWORD, "newPassword": "a different passphrase!"}}, token=other)
            assert await _status(a, second) == 401
            assert await _status(b, second) == 401
            assert await _status(a, other) == 200  # the session that changed it stays signed in

            # The viewer's own fields are answered from each process's cached session; a change of
            # them on A (the second factor turned on, the session kept) is seen by B's next read.
            me = "{ viewer { email totpEnabled } }"
            for _ in range(2):
                assert (await b(me, token=other))["data"]["viewer"] == {
                    "email": "user@example.com",
                    "totpEnabled": False,
                }
            setup = (await a("mutation { beginTwoFactorSetup { secret } }", token=other))["data"]
            confirm = "mutation($o: String!, $p: String!) { confirmTwoFactor(otp: $o, password: $p) { recoveryCodes } }"
            code = pyotp.TOTP(setup["beginTwoFactorSetup"]["secret"]).now()
            await a(confirm, {"o": code, "p": "a different passphrase!"}, token=other)
            assert (await b(me, token=other))["data"]["viewer"]["totpEnabled"] is True
        finally:
            await a.aclose()
            await b.aclose()
