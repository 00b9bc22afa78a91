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
INVITATIONS = "{ invitations { id role status createdAt expiresAt usedAt usedBy } }"
REVOKE_INVITATION = "mutation($id: ID!) { revokeInvitation(id: $id) }"


async def other_client_register(url: str, code: str) -> dict[str, Any]:
    """Register from another client address (registration is throttled per client)."""
    other = client_from(url, "127.0.0.6")
    try:
        return await other(
            REGISTER, {"i": {"email": "late@example.com", "password": PASSWORD, "invitationCode": code}},
            token="", expect_errors=True,
        )
    finally:
        await other.aclose()


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

            # The admin lists invitations (never their codes) and revokes an unused one.
            spare = (await gql(INVITE, {"r": "USER"}, token=admin))["data"]["createInvitation"]
            listed = (await gql(INVITATIONS, token=admin))["data"]["invitations"]
            assert [(i["role"], i["status"], bool(i["usedBy"])) for i in listed] == [
                ("USER", "OPEN", False), ("VIEWER", "USED", True)
            ]
            assert spare["code"] not in str(listed)
            member = (await gql(REGISTER, {"i": {**creds, "email": "m@example.com", "invitationCode": spare["code"]}},
                                token="", expect_errors=True))  # still valid before the revocation
            assert member["data"]["register"]["user"]["role"] == "USER"
            third = (await gql(INVITE, {"r": "USER"}, token=admin))["data"]["createInvitation"]
            third_id = (await gql(INVITATIONS, token=admin))["data"]["invitations"][0]["id"]
            assert (await gql(REVOKE_INVITATION, {"id": third_id}, token=admin))["data"]["revokeInvitation"] is True
            assert (await gql(INVITATIONS, token=admin))["data"]["invitations"][0]["status"] == "EXPIRED"
            late = await other_client_register(server.url, third["code"])
            assert error_codes(late) == ["BAD_USER_INPUT"]  # revoked: refused like an expired code
            used_id = listed[1]["id"]
            again = await gql(REVOKE_INVITATION, {"id": used_id}, token=admin, expect_errors=True)
            assert error_codes(again) == ["BAD_USER_INPUT"] and again["errors"][0]["extensions"]["field"] == "id"
            gone = await gql(REVOKE_INVITATION, {"id": "01JNOSUCHINVITATION0000000"}, token=admin, expect_errors=True)
            assert error_codes(gone) == ["NOT_FOUND"]
            for query, variables in [(INVITATIONS, {}), (REVOKE_INVITATION, {"id": third_id})]:
                denied = await gql(query, variables, token=member["data"]["register"]["token"], expect_errors=True)
                assert error_codes(denied) == ["FORBIDDEN"]
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
