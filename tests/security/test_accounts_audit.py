"""The audit log: entries at the security-relevant service points, owner-scoped reads, admin reads of all,
append-only in the database, and no secrets in it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tests.security.accounts_helpers import PASSWORD, enable_2fa, login
from tests.support.server import GraphQLClient, LiveServer, error_codes

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
AUDIT = """query($first: Int, $after: String, $all: Boolean) {
  auditLog(first: $first, after: $after, allUsers: $all) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { userId action subject ip detail createdAt } }
  }
}"""


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"esplora_url": "http://127.0.0.1:9", "sync_interval_s": 3600, "chain_retries": 0}


async def actions(gql: GraphQLClient, token: str, all_users: bool = False) -> list[str]:
    body = await gql(AUDIT, {"first": 100, "all": all_users}, token=token)
    return [e["node"]["action"] for e in body["data"]["auditLog"]["edges"]]


async def test_entries_for_the_security_relevant_changes(any_engine: str, gql: GraphQLClient) -> None:
    token = await gql.register("a1@example.com")
    assert error_codes(await login(gql, "a1@example.com", "not my password!")) == ["UNAUTHENTICATED"]
    assert (await login(gql, "a1@example.com"))["data"]["login"]["token"]
    imported = await gql(
        "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }",
        {"i": {"name": "w", "source": ZPUB, "network": "MAINNET"}},
        token=token,
    )
    wallet_id = imported["data"]["importWallet"]["id"]
    await gql("mutation($w: ID!) { exportLabels(walletId: $w) }", {"w": wallet_id}, token=token)
    await gql("mutation($id: ID!) { deleteWallet(id: $id) }", {"id": wallet_id}, token=token)
    key = await gql(
        "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key { id } } }",
        {"i": {"name": "k", "scopes": ["REPORTS"], "password": PASSWORD}},
        token=token,
    )
    key_id = key["data"]["createApiKey"]["key"]["id"]
    await gql("mutation($id: ID!) { revokeApiKey(id: $id) }", {"id": key_id}, token=token)
    await gql("mutation { revokeOtherSessions }", token=token)
    _, codes = await enable_2fa(gql, token)
    await gql(
        "mutation($i: ChangePasswordInput!) { changePassword(input: $i) }",
        {"i": {"currentPassword": PASSWORD, "newPassword": "another long passphrase", "otp": codes[0]}},
        token=token,
    )
    await gql(
        "mutation($o: String!, $p: String!) { disableTwoFactor(otp: $o, password: $p) }",
        {"o": codes[1], "p": "another long passphrase"},
        token=token,
    )
    assert list(reversed(await actions(gql, token))) == [
        "user.created",
        "register",
        "login.failed",
        "login",
        "wallet.added",
        "labels.exported",
        "wallet.removed",
        "api_key.created",
        "api_key.revoked",
        "session.revoked_others",
        "2fa.enabled",
        "password.changed",
        "2fa.disabled",
    ]
    await gql("mutation { logout }", token=token)
    fresh = (await login(gql, "a1@example.com", "another long passphrase"))["data"]["login"]["token"]
    assert (await actions(gql, fresh))[:2] == ["login", "logout"]


async def test_own_entries_admin_reads_all_and_pages(any_engine: str, gql: GraphQLClient) -> None:
    admin = await gql.register("root@example.com")
    alice = await gql.register("alice@example.com")
    assert error_codes(await login(gql, "alice@example.com", "not my password!")) == ["UNAUTHENTICATED"]
    assert error_codes(await login(gql, "nobody@example.com", "not my password!")) == ["UNAUTHENTICATED"]

    mine = (await gql(AUDIT, {"first": 100}, token=alice))["data"]["auditLog"]
    assert [e["node"]["action"] for e in mine["edges"]] == ["login.failed", "register", "user.created"]
    failed = mine["edges"][0]["node"]
    assert failed["ip"] == "127.0.0.1" and failed["detail"] == "password"
    assert {e["node"]["userId"] for e in mine["edges"]} == {failed["userId"]}

    everyone = (await gql(AUDIT, {"first": 100, "all": True}, token=admin))["data"]["auditLog"]
    assert everyone["totalCount"] == 6  # both users' entries and the unknown email's failed login
    assert everyone["edges"][0]["node"]["userId"] is None and everyone["edges"][0]["node"]["action"] == "login.failed"

    page1 = (await gql(AUDIT, {"first": 4, "all": True}, token=admin))["data"]["auditLog"]
    page2 = await gql(AUDIT, {"first": 4, "all": True, "after": page1["pageInfo"]["endCursor"]}, token=admin)
    rest = page2["data"]["auditLog"]
    assert page1["pageInfo"]["hasNextPage"] and not rest["pageInfo"]["hasNextPage"]
    assert len(page1["edges"]) + len(rest["edges"]) == 6
    assert [e["node"] for e in page1["edges"] + rest["edges"]] == [e["node"] for e in everyone["edges"]]


async def test_the_log_is_append_only_and_holds_no_secrets(
    any_engine: str, gql: GraphQLClient, server: LiveServer
) -> None:
    token = await gql.register("a2@example.com")
    totp, codes = await enable_2fa(gql, token)
    key = (
        await gql(
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { token } }",
            {"i": {"name": "k", "scopes": ["REPORTS"], "password": PASSWORD, "otp": codes[0]}},
            token=token,
        )
    )["data"]["createApiKey"]["token"]
    await gql(
        "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }",
        {"i": {"name": "w", "source": ZPUB, "network": "MAINNET"}},
        token=token,
    )
    async with server.container.store.read() as s:
        rows = (await s.exec(sa.text("SELECT * FROM audit_log"))).all()  # type: ignore[call-overload]
    text = repr(rows)
    for secret in (PASSWORD, token, key, totp.secret, codes[0], ZPUB):
        assert secret not in text
    assert "api_key.created" in text and "2fa.enabled" in text and "wallet.added" in text

    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with server.container.store.write() as s:
                await s.exec(sa.text(statement))  # type: ignore[call-overload]
    async with server.container.store.read() as s:
        assert (await s.exec(sa.text("SELECT count(*) FROM audit_log"))).one()[0] == len(rows)  # type: ignore[call-overload]


async def test_report_generation_and_download_with_a_reports_key_are_audited(gql: GraphQLClient) -> None:
    token = await gql.register("a3@example.com")
    wallet = await gql(
        "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }",
        {"i": {"name": "w", "source": ZPUB, "network": "MAINNET"}},
        token=token,
    )
    portfolio = await gql(
        "mutation($i: CreatePortfolioInput!) { createPortfolio(input: $i) { id } }",
        {"i": {"name": "p", "walletIds": [wallet["data"]["importWallet"]["id"]], "baseCurrency": "USD"}},
        token=token,
    )
    key = await gql(
        "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { token } }",
        {"i": {"name": "reports", "scopes": ["REPORTS"], "password": PASSWORD}},
        token=token,
    )
    reports_key = key["data"]["createApiKey"]["token"]
    started = await gql(
        "mutation($i: GenerateReportInput!) { generateReport(input: $i) { id } }",
        {"i": {"portfolioId": portfolio["data"]["createPortfolio"]["id"], "timeframe": "Y1", "format": "JSON"}},
        token=reports_key,
    )
    report_id = started["data"]["generateReport"]["id"]
    query = "query($id: ID!) { report(id: $id) { status downloadUrl } }"
    for _ in range(600):  # a bound on polling the report's own status, not a sleep standing in for a signal
        report = (await gql(query, {"id": report_id}, token=reports_key))["data"]["report"]
        if report["status"] in ("SUCCEEDED", "FAILED"):
            break
        await asyncio.sleep(0.05)
    assert report["status"] == "SUCCEEDED"
    resp = await gql.http.get(report["downloadUrl"], headers={"authorization": f"Bearer {reports_key}"})
    assert resp.status_code == 200
    assert (await actions(gql, token))[:2] == ["report.downloaded", "report.generated"]
