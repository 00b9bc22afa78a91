"""A portfolio whose data cannot be read is an error, never an empty portfolio with a zero balance.

Portfolios read the sync area's data through ``app.sync.queries``; when that storage fails (here:
the sync state table is gone from under the running server, a real database error on both
engines), the API answers ``INTERNAL`` and shows no figures."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.portfolios.test_api import GET, ZPUB, create
from tests.support.server import GraphQLClient, LiveServer, error_codes
from tests.wallets.helpers import import_wallet


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"price_providers": [], "mainnet_esplora_url": "http://127.0.0.1:9", "chain_retries": 0}  # offline


BALANCE = "query($id: ID!) { portfolio(id: $id) { balance { confirmed unconfirmed total } } }"


async def _rename(server: LiveServer, old: str, new: str) -> None:
    async with server.container.store.write() as s:
        await (await s.connection()).execute(sa.text(f"ALTER TABLE {old} RENAME TO {new}"))


async def test_a_failing_sync_store_is_an_error_not_a_zero_balance(
    any_engine: str, server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    wallet = await import_wallet(gql, name="Hot", source=ZPUB)
    portfolio = await create(gql, "Savings", [wallet["id"]])
    ok = await gql(GET, {"id": portfolio["id"]})
    assert ok["data"]["portfolio"]["balance"] == {"confirmed": 0, "unconfirmed": 0, "total": 0}

    await _rename(server, "wallet_sync_state", "wallet_sync_state_away")
    # The rename bypasses every service, so the user's data version does not move and the answer
    # kept from the read above would be served (rightly: nothing changed). What is under test is
    # what a read that reaches the failing store shows, so drop the kept answers.
    server.container.portfolios.memo.forget()
    try:
        # Only figures asked for: nothing else fails on the way to the balance.
        body = await gql(BALANCE, {"id": portfolio["id"]}, expect_errors=True)
        assert error_codes(body) and set(error_codes(body)) <= {"INTERNAL", "UPSTREAM_UNAVAILABLE"}, body
        assert (body.get("data") or {}).get("portfolio") is None, "no figures from a store that failed"
        listed = await gql("{ portfolios { id balance { total } } }", expect_errors=True)
        assert set(error_codes(listed)) <= {"INTERNAL", "UPSTREAM_UNAVAILABLE"} and error_codes(listed), listed
        assert not (listed.get("data") or {}).get("portfolios")
    finally:
        await _rename(server, "wallet_sync_state_away", "wallet_sync_state")

    again = await gql(GET, {"id": portfolio["id"]})
    assert again["data"]["portfolio"]["balance"]["total"] == 0 and "errors" not in again
