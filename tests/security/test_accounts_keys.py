"""Scoped API keys over real HTTP and WebSocket: shown once, stored hashed, scopes enforced per operation,
no account management, revocation and expiry, and never created without the password."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.store.models.accounts import ApiKey
from app.store.models.base import utcnow
from tests.security.accounts_helpers import PASSWORD
from tests.subscriptions.wsclient import WS, refused
from tests.support.server import GraphQLClient, LiveServer, error_codes

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
CREATE = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { token key { id prefix scopes expiresAt } } }"
IMPORT = "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }"
WALLETS = "{ wallets { totalCount } }"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"esplora_url": "http://127.0.0.1:9", "sync_interval_s": 3600, "chain_retries": 0}


async def create_key(gql: GraphQLClient, token: str, scopes: list[str], **extra: Any) -> dict[str, Any]:
    body = await gql(CREATE, {"i": {"name": "script", "scopes": scopes, "password": PASSWORD, **extra}}, token=token)
    created: dict[str, Any] = body["data"]["createApiKey"]
    return created


async def wallet_count(server: LiveServer) -> int:
    async with server.container.store.read() as s:
        return int((await s.exec(sa.text("SELECT count(*) FROM wallets"))).one()[0])  # type: ignore[call-overload]


async def test_a_key_is_shown_once_stored_hashed_and_needs_the_password(
    any_engine: str, gql: GraphQLClient, server: LiveServer
) -> None:
    token = await gql.register("k1@example.com")
    refused_ = await gql(
        CREATE,
        {"i": {"name": "x", "scopes": ["WALLETS_READ"], "password": "not my password!"}},
        token=token,
        expect_errors=True,
    )
    assert error_codes(refused_) == ["BAD_USER_INPUT"] and refused_["errors"][0]["extensions"]["field"] == "password"
    no_scope = await gql(
        CREATE, {"i": {"name": "x", "scopes": [], "password": PASSWORD}}, token=token, expect_errors=True
    )
    assert error_codes(no_scope) == ["BAD_USER_INPUT"] and no_scope["errors"][0]["extensions"]["field"] == "scopes"

    created = await create_key(gql, token, ["WALLETS_READ", "REPORTS"], expiresInDays=30)
    assert created["token"].startswith("mbfk_") and created["token"].startswith(created["key"]["prefix"])
    assert sorted(created["key"]["scopes"]) == ["REPORTS", "WALLETS_READ"] and created["key"]["expiresAt"]
    listed = (await gql("{ apiKeys { id prefix scopes lastUsedAt } }", token=token))["data"]["apiKeys"]
    assert [k["id"] for k in listed] == [created["key"]["id"]] and "token" not in listed[0]
    async with server.container.store.read() as s:
        stored = (await s.exec(sa.select(ApiKey.token_hash))).all()  # type: ignore[call-overload]
    assert len(stored) == 1 and created["token"] not in stored[0][0]


async def test_scopes_are_enforced_per_operation(any_engine: str, gql: GraphQLClient, server: LiveServer) -> None:
    token = await gql.register("k2@example.com")
    reader = (await create_key(gql, token, ["WALLETS_READ"]))["token"]
    writer = (await create_key(gql, token, ["WALLETS_WRITE", "WALLETS_READ"]))["token"]
    lightning = (await create_key(gql, token, ["LIGHTNING_READ"]))["token"]

    assert (await gql(WALLETS, token=reader))["data"]["wallets"]["totalCount"] == 0
    denied = await gql(
        IMPORT, {"i": {"name": "w", "source": ZPUB, "network": "MAINNET"}}, token=reader, expect_errors=True
    )
    assert error_codes(denied) == ["FORBIDDEN"] and "wallets:write" in denied["errors"][0]["message"]
    assert await wallet_count(server) == 0
    assert error_codes(await gql(WALLETS, token=lightning, expect_errors=True)) == ["FORBIDDEN"]
    # One refused root field refuses the whole operation, even behind a fragment.
    mixed = await gql(
        "query { viewer { id } ...F } fragment F on Query { wallets { totalCount } }",
        token=lightning,
        expect_errors=True,
    )
    assert error_codes(mixed) == ["FORBIDDEN"] and mixed["data"] is None

    ok = await gql(IMPORT, {"i": {"name": "w", "source": ZPUB, "network": "MAINNET"}}, token=writer)
    assert ok["data"]["importWallet"]["id"] and await wallet_count(server) == 1
    assert (await gql(WALLETS, token=reader))["data"]["wallets"]["totalCount"] == 1


async def test_a_key_cannot_manage_the_account(gql: GraphQLClient) -> None:
    token = await gql.register("k3@example.com")
    key = (
        await create_key(gql, token, ["WALLETS_READ", "WALLETS_WRITE", "LIGHTNING_READ", "LIGHTNING_WRITE", "REPORTS"])
    )["token"]
    for query, variables in [
        (CREATE, {"i": {"name": "y", "scopes": ["REPORTS"], "password": PASSWORD}}),
        ("{ sessions { id } }", {}),
        ("{ apiKeys { id } }", {}),
        ("mutation { revokeOtherSessions }", {}),
        ("mutation { beginTwoFactorSetup { secret } }", {}),
        (
            "mutation($i: ChangePasswordInput!) { changePassword(input: $i) }",
            {"i": {"currentPassword": PASSWORD, "newPassword": "another long passphrase"}},
        ),
        ("{ auditLog { totalCount } }", {}),
    ]:
        body = await gql(query, variables, token=key, expect_errors=True)
        assert error_codes(body) == ["FORBIDDEN"], query
    assert (await gql("{ viewer { email } }", token=key))["data"]["viewer"]["email"] == "k3@example.com"


async def test_revoked_and_expired_keys_stop_working(any_engine: str, gql: GraphQLClient, server: LiveServer) -> None:
    token = await gql.register("k4@example.com")
    first = await create_key(gql, token, ["WALLETS_READ"])
    second = await create_key(gql, token, ["WALLETS_READ"])
    revoked = await gql("mutation($id: ID!) { revokeApiKey(id: $id) }", {"id": first["key"]["id"]}, token=token)
    assert revoked["data"]["revokeApiKey"] is True
    resp = await gql.http.post(
        "/graphql", json={"query": WALLETS}, headers={"authorization": f"Bearer {first['token']}"}
    )
    assert resp.status_code == 401
    again = await gql(
        "mutation($id: ID!) { revokeApiKey(id: $id) }", {"id": first["key"]["id"]}, token=token, expect_errors=True
    )
    assert error_codes(again) == ["NOT_FOUND"]

    async with server.container.store.write() as s:
        await s.exec(
            sa.update(ApiKey)
            .where(ApiKey.id == second["key"]["id"])
            .values(  # type: ignore[call-overload,arg-type]
                expires_at=utcnow() - timedelta(seconds=1)
            )
        )
    resp = await gql.http.post(
        "/graphql", json={"query": WALLETS}, headers={"authorization": f"Bearer {second['token']}"}
    )
    assert resp.status_code == 401


async def test_another_users_key_is_not_found(any_engine: str, gql: GraphQLClient) -> None:
    alice = await gql.register("k5@example.com")
    bob = await gql.register("k6@example.com")
    bobs = await create_key(gql, bob, ["WALLETS_READ"])
    body = await gql(
        "mutation($id: ID!) { revokeApiKey(id: $id) }", {"id": bobs["key"]["id"]}, token=alice, expect_errors=True
    )
    assert error_codes(body) == ["NOT_FOUND"]
    assert (await gql(WALLETS, token=bobs["token"]))["data"]["wallets"]["totalCount"] == 0


async def test_keys_work_over_websocket_with_their_scopes(gql: GraphQLClient, server: LiveServer) -> None:
    token = await gql.register("k7@example.com")
    wallet_id = (await gql(IMPORT, {"i": {"name": "w", "source": ZPUB, "network": "MAINNET"}}, token=token))["data"][
        "importWallet"
    ]["id"]
    reader = (await create_key(gql, token, ["WALLETS_READ"]))["token"]
    lightning = (await create_key(gql, token, ["LIGHTNING_READ"]))["token"]
    query = "subscription($w: ID!) { walletUpdated(walletId: $w) { change } }"

    ws = await WS.open(server.ws_url)
    try:
        assert (await ws.init(lightning))["type"] == "connection_ack"
        await ws.subscribe("1", query, {"w": wallet_id})
        error = await refused(ws, "1")
        assert error["extensions"]["code"] == "FORBIDDEN"
    finally:
        await ws.close()

    ws = await WS.open(server.ws_url)
    try:
        assert (await ws.init(reader))["type"] == "connection_ack"
        await ws.subscribe("1", query, {"w": wallet_id})
        await gql(
            "mutation($id: ID!, $n: String!) { renameWallet(id: $id, name: $n) { id } }",
            {"id": wallet_id, "n": "renamed"},
            token=token,
        )
        msg = await ws.recv()
        assert msg["type"] == "next" and msg["payload"]["data"]["walletUpdated"]["change"]
    finally:
        await ws.close()


async def test_report_download_needs_the_reports_scope(gql: GraphQLClient) -> None:
    token = await gql.register("k8@example.com")
    without = (await create_key(gql, token, ["WALLETS_READ"]))["token"]
    with_scope = (await create_key(gql, token, ["REPORTS"]))["token"]
    resp = await gql.http.get(
        "/reports/01ARZ3NDEKTSV4RRFFQ69G5FAV/download", headers={"authorization": f"Bearer {without}"}
    )
    assert resp.status_code == 403 and resp.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    resp = await gql.http.get(
        "/reports/01ARZ3NDEKTSV4RRFFQ69G5FAV/download", headers={"authorization": f"Bearer {with_scope}"}
    )
    assert resp.status_code == 404  # allowed; there is simply no such report


async def test_bad_key_requests_store_nothing_and_an_account_holds_at_most_50_live_keys(
    gql: GraphQLClient, server: LiveServer
) -> None:
    token = await gql.register("k9@example.com")

    async def attempt(**fields: Any) -> dict[str, Any]:
        i = {"name": "script", "scopes": ["WALLETS_READ"], "password": PASSWORD, **fields}
        return await gql(CREATE, {"i": i}, token=token, expect_errors=True)

    for fields, field in [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "n" * 101}, "name"),
        ({"expiresInDays": 0}, "expiresInDays"),
        ({"expiresInDays": 3651}, "expiresInDays"),
    ]:
        bad = await attempt(**fields)
        assert error_codes(bad) == ["BAD_USER_INPUT"] and bad["errors"][0]["extensions"]["field"] == field, fields
    async with server.container.store.read() as s:
        assert (await s.exec(sa.select(sa.func.count()).select_from(ApiKey))).one()[0] == 0  # type: ignore[call-overload]

    first = (await attempt(name="n" * 100, expiresInDays=1))["data"]["createApiKey"]
    assert first["key"]["expiresAt"]
    assert (await attempt(expiresInDays=3650))["data"]["createApiKey"]["token"]
    user_id = (await gql("{ viewer { id } }", token=token))["data"]["viewer"]["id"]
    async with server.container.store.write() as s:  # 48 more live keys (through the API: 48 password checks)
        s.add_all(
            ApiKey(user_id=user_id, name=f"k{i}", prefix=f"mbfk_{i:06d}", token_hash=f"{i:064x}", scopes="reports")
            for i in range(48)
        )
    over = await attempt()  # the 51st live key
    assert error_codes(over) == ["BAD_USER_INPUT"] and over["errors"][0]["extensions"]["field"] == "name"
    assert "50" in over["errors"][0]["message"]
    await gql("mutation($id: ID!) { revokeApiKey(id: $id) }", {"id": first["key"]["id"]}, token=token)
    assert (await attempt())["data"]["createApiKey"]["token"]  # a revoked key does not count
    async with server.container.store.read() as s:
        assert (await s.exec(sa.select(sa.func.count()).select_from(ApiKey))).one()[0] == 51  # type: ignore[call-overload]
