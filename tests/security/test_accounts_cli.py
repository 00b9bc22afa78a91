"""``mbf user reset-2fa EMAIL`` as an operator runs it: a real process against the live server's database."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from tests.conftest import TEST_SECRET
from tests.security.accounts_helpers import VIEWER, enable_2fa, login
from tests.support.server import GraphQLClient, LiveServer, error_codes

MBF = [sys.executable, "-c", "from app.cli.main import main; main()"]


async def run_mbf(server: LiveServer, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBF_")}
    env.update(
        MBF_DATA_DIR=str(server.settings.data_dir),
        MBF_DATABASE_URL=server.settings.effective_database_url,
        MBF_SECRET_KEY=TEST_SECRET,
        MBF_LOG_LEVEL="warning",
    )
    proc = await asyncio.create_subprocess_exec(
        *MBF, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_reset_2fa_for_a_lost_device(any_engine: str, gql: GraphQLClient, server: LiveServer) -> None:
    token = await gql.register("lost@example.com")
    await enable_2fa(gql, token)
    assert error_codes(await login(gql, "lost@example.com")) == ["UNAUTHENTICATED"]

    code, out, err = await run_mbf(server, "user", "reset-2fa", "Lost@Example.com")
    assert code == 0, err
    assert json.loads(out)["email"] == "lost@example.com" and json.loads(out)["totpEnabled"] is False

    fresh = (await login(gql, "lost@example.com"))["data"]["login"]["token"]  # password alone works again
    assert (await gql(VIEWER, token=fresh))["data"]["viewer"]["totpEnabled"] is False
    old = await gql.http.post("/graphql", json={"query": VIEWER}, headers={"authorization": f"Bearer {token}"})
    assert old.status_code == 401  # every earlier session was signed out
    audit = await gql('{ auditLog(action: "2fa.reset_by_operator") { totalCount } }', token=fresh)
    assert audit["data"]["auditLog"]["totalCount"] == 1


async def test_reset_2fa_of_an_unknown_email_fails_clearly(gql: GraphQLClient, server: LiveServer) -> None:
    await gql.register("someone@example.com")
    code, out, err = await run_mbf(server, "user", "reset-2fa", "nobody@example.com")
    assert code == 2 and out == "" and "No user with that email" in err
