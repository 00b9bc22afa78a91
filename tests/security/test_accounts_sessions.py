"""Sessions: the list, revoking one or all others, and password changes that sign out every other session
(also on a second server sharing the database)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.conftest import make_settings
from tests.security.accounts_helpers import PASSWORD, client_from, login
from tests.subscriptions.wsclient import WS, nothing_pending
from tests.support.server import GraphQLClient, LiveServer, error_codes, live_server
from tests.support.services import REDIS_URL, require

SESSIONS = "{ sessions { id ip userAgent current createdAt lastUsedAt expiresAt } }"
CHANGE = "mutation($i: ChangePasswordInput!) { changePassword(input: $i) }"
NEW_PASSWORD = "a different long passphrase"


async def status(gql: GraphQLClient, token: str) -> int:
    resp = await gql.http.post(
        "/graphql", json={"query": "{ viewer { id } }"}, headers={"authorization": f"Bearer {token}"}
    )
    return resp.status_code


async def test_sessions_list_and_revocation(any_engine: str, gql: GraphQLClient, server: LiveServer) -> None:
    first = await gql.register("s1@example.com")
    phone = client_from(server.url, "127.0.0.7")
    try:
        phone.http.headers["user-agent"] = "PhoneApp/1.0"
        second = (await login(phone, "s1@example.com"))["data"]["login"]["token"]
    finally:
        await phone.aclose()
    third = (await login(gql, "s1@example.com"))["data"]["login"]["token"]

    listed = (await gql(SESSIONS, token=first))["data"]["sessions"]
    assert len(listed) == 3 and [s["current"] for s in listed].count(True) == 1
    mine = next(s for s in listed if s["current"])
    phone_session = next(s for s in listed if s["ip"] == "127.0.0.7")
    assert phone_session["userAgent"] == "PhoneApp/1.0" and mine["ip"] == "127.0.0.1"
    assert mine["lastUsedAt"] is not None

    revoked = await gql("mutation($id: ID!) { revokeSession(id: $id) }", {"id": phone_session["id"]}, token=first)
    assert revoked["data"]["revokeSession"] is True
    assert await status(gql, second) == 401 and await status(gql, third) == 200
    again = await gql(
        "mutation($id: ID!) { revokeSession(id: $id) }", {"id": phone_session["id"]}, token=first, expect_errors=True
    )
    assert error_codes(again) == ["NOT_FOUND"]

    assert (await gql("mutation { revokeOtherSessions }", token=first))["data"]["revokeOtherSessions"] == 1
    assert await status(gql, third) == 401 and await status(gql, first) == 200
    assert len((await gql(SESSIONS, token=first))["data"]["sessions"]) == 1


async def test_another_users_session_is_not_found(any_engine: str, gql: GraphQLClient) -> None:
    alice = await gql.register("s2@example.com")
    bob = await gql.register("s3@example.com")
    bob_session = (await gql(SESSIONS, token=bob))["data"]["sessions"][0]["id"]
    body = await gql(
        "mutation($id: ID!) { revokeSession(id: $id) }", {"id": bob_session}, token=alice, expect_errors=True
    )
    assert error_codes(body) == ["NOT_FOUND"]
    assert await status(gql, bob) == 200
    assert all(s["id"] != bob_session for s in (await gql(SESSIONS, token=alice))["data"]["sessions"])


async def test_change_password_signs_out_other_sessions(
    any_engine: str, gql: GraphQLClient, server: LiveServer
) -> None:
    current = await gql.register("s4@example.com")
    other = (await login(gql, "s4@example.com"))["data"]["login"]["token"]

    wrong = await gql(
        CHANGE,
        {"i": {"currentPassword": "not my password!", "newPassword": NEW_PASSWORD}},
        token=current,
        expect_errors=True,
    )
    assert error_codes(wrong) == ["BAD_USER_INPUT"] and wrong["errors"][0]["extensions"]["field"] == "password"
    short = await gql(
        CHANGE, {"i": {"currentPassword": PASSWORD, "newPassword": "short"}}, token=current, expect_errors=True
    )
    assert error_codes(short) == ["BAD_USER_INPUT"] and short["errors"][0]["extensions"]["field"] == "newPassword"
    assert await status(gql, other) == 200  # failed attempts change nothing

    ok = await gql(CHANGE, {"i": {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}}, token=current)
    assert ok["data"]["changePassword"] is True
    assert await status(gql, other) == 401 and await status(gql, current) == 200
    assert error_codes(await login(gql, "s4@example.com", PASSWORD)) == ["UNAUTHENTICATED"]
    assert (await login(gql, "s4@example.com", NEW_PASSWORD))["data"]["login"]["token"]
    async with server.container.store.read() as s:
        hashes = [r[0] for r in (await s.exec(sa.text("SELECT password_hash FROM users"))).all()]  # type: ignore[call-overload]
    assert hashes[0].startswith("$argon2id$") and NEW_PASSWORD not in hashes[0]


async def test_password_change_revokes_sessions_on_another_server(tmp_path: Path, database_url: str) -> None:
    """Two servers on one database: a password changed on A signs out the session used on B."""
    settings = make_settings(tmp_path, database_url)
    async with live_server(settings) as a, live_server(settings) as b:
        ga, gb = GraphQLClient(a.url), GraphQLClient(b.url)
        try:
            token_a = await ga.register("s5@example.com")
            token_b = (await login(gb, "s5@example.com"))["data"]["login"]["token"]
            assert await status(gb, token_b) == 200
            await ga(CHANGE, {"i": {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}}, token=token_a)
            assert await status(gb, token_b) == 401
            assert await status(gb, token_a) == 200
        finally:
            await ga.aclose()
            await gb.aclose()


async def test_password_change_closes_live_sockets_on_another_server_through_redis(
    tmp_path: Path, database_url: str
) -> None:
    """Two servers sharing the database and Redis: a WebSocket signed in on B closes with 4403 when the
    password is changed on A (the revocation event crosses through Redis; B's periodic session re-check
    against the database is the fallback)."""
    require("redis")
    settings = make_settings(tmp_path, database_url, redis_url=REDIS_URL)
    async with live_server(settings) as a, live_server(settings) as b:
        ga, gb = GraphQLClient(a.url), GraphQLClient(b.url)
        try:
            token_a = await ga.register("s6@example.com")
            token_b = (await login(gb, "s6@example.com"))["data"]["login"]["token"]
            ws = await WS.open(b.ws_url)
            try:
                assert (await ws.init(token_b))["type"] == "connection_ack"
                await nothing_pending(ws)
                await ga(CHANGE, {"i": {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}}, token=token_a)
                code, _reason = await ws.closed(wait_s=20)
                assert code == 4403
            finally:
                await ws.close()
        finally:
            await ga.aclose()
            await gb.aclose()
