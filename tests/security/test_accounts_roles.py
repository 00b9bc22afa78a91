"""Roles over real HTTP: the read-only viewer, admin-only operations, the last admin, invitations."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import make_settings
from tests.security.accounts_helpers import PASSWORD, client_from
from tests.support.server import GraphQLClient, LiveServer, error_codes, live_server

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
IMPORT = "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }"
SET_ROLE = "mutation($u: ID!, $r: Role!) { setUserRole(userId: $u, role: $r) { role } }"
REGISTER = "mutation($i: RegisterInput!) { register(input: $i) { token user { role } } }"
INVITE = "mutation($r: Role!) { createInvitation(role: $r) { code role expiresAt } }"
ME = "{ viewer { id role } }"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"esplora_url": "http://127.0.0.1:9", "sync_interval_s": 3600, "chain_retries": 0}


async def test_a_viewer_reads_but_cannot_change_anything(
    any_engine: str, gql: GraphQLClient, server: LiveServer
) -> None:
    admin = await gql.register("admin@example.com")
    token = await gql.register("reader@example.com")
    await gql(IMPORT, {"i": {"name": "w", "source": ZPUB, "network": "MAINNET"}}, token=token)
    reader_id = (await gql(ME, token=token))["data"]["viewer"]["id"]
    assert (await gql(SET_ROLE, {"u": reader_id, "r": "VIEWER"}, token=admin))["data"]["setUserRole"][
        "role"
    ] == "VIEWER"

    assert (await gql("{ wallets { totalCount } }", token=token))["data"]["wallets"]["totalCount"] == 1
    for query, variables in [
        (IMPORT, {"i": {"name": "w2", "source": ZPUB, "network": "TESTNET"}}),
        (
            "mutation($i: CreatePortfolioInput!) { createPortfolio(input: $i) { id } }",
            {"i": {"name": "p", "walletIds": [], "baseCurrency": "USD"}},
        ),
    ]:
        body = await gql(query, variables, token=token, expect_errors=True)
        assert error_codes(body) == ["FORBIDDEN"] and "read-only" in body["errors"][0]["message"]
    async with server.container.store.read() as s:
        assert (await s.exec(sa.text("SELECT count(*) FROM wallets"))).one()[0] == 1  # type: ignore[call-overload]
        assert (await s.exec(sa.text("SELECT count(*) FROM portfolios"))).one()[0] == 0  # type: ignore[call-overload]
    # Its own account stays the viewer's to manage.
    change = await gql(
        "mutation($i: ChangePasswordInput!) { changePassword(input: $i) }",
        {"i": {"currentPassword": PASSWORD, "newPassword": "another long passphrase"}},
        token=token,
    )
    assert change["data"]["changePassword"] is True
    # An API key of a viewer is read-only too, whatever its scopes.
    key = await gql(
        "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { token } }",
        {"i": {"name": "k", "scopes": ["WALLETS_WRITE"], "password": "another long passphrase"}},
        token=token,
    )
    body = await gql(
        IMPORT,
        {"i": {"name": "w3", "source": ZPUB, "network": "SIGNET"}},
        token=key["data"]["createApiKey"]["token"],
        expect_errors=True,
    )
    assert error_codes(body) == ["FORBIDDEN"]


async def test_admin_only_operations(any_engine: str, gql: GraphQLClient) -> None:
    admin = await gql.register("admin@example.com")
    user = await gql.register("user@example.com")
    admin_id = (await gql(ME, token=admin))["data"]["viewer"]["id"]
    for query, variables in [
        (SET_ROLE, {"u": admin_id, "r": "VIEWER"}),
        (INVITE, {"r": "USER"}),
        ("{ users { email } }", {}),
        ("{ auditLog(allUsers: true) { totalCount } }", {}),
    ]:
        assert error_codes(await gql(query, variables, token=user, expect_errors=True)) == ["FORBIDDEN"], query
    assert (await gql(ME, token=admin))["data"]["viewer"]["role"] == "ADMIN"
    emails = [u["email"] for u in (await gql("{ users { email } }", token=admin))["data"]["users"]]
    assert emails == ["admin@example.com", "user@example.com"]

    last = await gql(SET_ROLE, {"u": admin_id, "r": "USER"}, token=admin, expect_errors=True)
    assert error_codes(last) == ["CONFLICT"]  # the server always keeps an admin
    unknown = await gql(SET_ROLE, {"u": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "r": "USER"}, token=admin, expect_errors=True)
    assert error_codes(unknown) == ["NOT_FOUND"]


async def test_registration_by_invitation(tmp_path: Any, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, registration="invitation")
    async with live_server(settings) as server:
        gql = GraphQLClient(server.url)
        try:
            admin = await gql.register("first@example.com")  # the first account needs no invitation
            creds = {"email": "second@example.com", "password": PASSWORD}
            no_code = await gql(REGISTER, {"i": creds}, token="", expect_errors=True)
            assert error_codes(no_code) == ["FORBIDDEN"]
            bad = await gql(REGISTER, {"i": {**creds, "invitationCode": "mbfi_nope"}}, token="", expect_errors=True)
            assert (
                error_codes(bad) == ["BAD_USER_INPUT"] and bad["errors"][0]["extensions"]["field"] == "invitationCode"
            )

            code = (await gql(INVITE, {"r": "VIEWER"}, token=admin))["data"]["createInvitation"]["code"]
            ok = await gql(REGISTER, {"i": {**creds, "invitationCode": code}}, token="")
            assert ok["data"]["register"]["user"]["role"] == "VIEWER"  # the invitation's role
            other = client_from(server.url, "127.0.0.5")
            try:
                reuse = await other(
                    REGISTER,
                    {"i": {"email": "third@example.com", "password": PASSWORD, "invitationCode": code}},
                    token="",
                    expect_errors=True,
                )
            finally:
                await other.aclose()
            assert error_codes(reuse) == ["BAD_USER_INPUT"]  # single use
        finally:
            await gql.aclose()


async def test_closed_registration(tmp_path: Any, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, registration="closed")
    async with live_server(settings) as server:
        gql = GraphQLClient(server.url)
        try:
            body = await gql(
                REGISTER, {"i": {"email": "x@example.com", "password": PASSWORD}}, token="", expect_errors=True
            )
            assert error_codes(body) == ["FORBIDDEN"]
        finally:
            await gql.aclose()
