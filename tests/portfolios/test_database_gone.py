"""The database going away during a portfolio query is an error, never a zero balance.

The server loses its database (every new connection fails: PostgreSQL's port is closed, SQLite's
file cannot be opened; the pool's open connections are dropped first): asking for a portfolio's
balance then answers an error and no figures, and once the database is back the same query
answers the balance again. Complements ``test_store_failure.py`` (one table gone, the connection
fine)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from app.store.db import Store
from tests.portfolios.test_api import ZPUB, create
from tests.support.server import GraphQLClient, LiveServer, error_codes
from tests.wallets.helpers import import_wallet

BALANCE = "query($id: ID!) { portfolio(id: $id) { balance { confirmed unconfirmed total } } }"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"price_providers": [], "mainnet_esplora_url": "http://127.0.0.1:9", "chain_retries": 0}  # offline


@contextmanager
def database_unreachable(store: Store) -> Iterator[None]:
    """Every new connection of the store's engine goes to a database that is not there."""

    def elsewhere(dialect: Any, conn_rec: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        if store.is_sqlite:
            cargs[:] = ["/nonexistent-mbf-dir/gone.db", *cargs[1:]]
            cparams.pop("database", None)
        else:
            cparams.update(host="127.0.0.1", port=9)  # nothing listens on the discard port

    sa.event.listen(store.engine.sync_engine, "do_connect", elsewhere)
    try:
        yield
    finally:
        sa.event.remove(store.engine.sync_engine, "do_connect", elsewhere)


async def test_the_database_going_away_is_an_error_not_a_zero_balance(
    any_engine: str, server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    wallet = await import_wallet(gql, name="Hot", source=ZPUB)
    portfolio = await create(gql, "Savings", [wallet["id"]])
    ok = await gql(BALANCE, {"id": portfolio["id"]})
    assert ok["data"]["portfolio"]["balance"] == {"confirmed": 0, "unconfirmed": 0, "total": 0}

    store = server.container.store
    with database_unreachable(store):
        await store.engine.dispose()  # the pool's open connections go with the database
        response = await gql.http.post(
            "/graphql",
            json={"query": BALANCE, "variables": {"id": portfolio["id"]}},
            headers={"authorization": f"Bearer {user_token}"},
        )
        body = response.json()
        assert "balance" not in response.text, "no figures from a database that is gone"
        if response.status_code == 200:
            assert error_codes(body) and set(error_codes(body)) <= {"INTERNAL", "UPSTREAM_UNAVAILABLE"}, body
            assert (body.get("data") or {}).get("portfolio") is None
        else:  # the token could not be checked either: the HTTP layer's error, in the contract's shape
            assert response.status_code == 500, response.text
            ext = body["errors"][0]["extensions"]
            assert ext["code"] == "INTERNAL" and ext["errorId"], body

    again = await gql(BALANCE, {"id": portfolio["id"]})
    assert again["data"]["portfolio"]["balance"]["total"] == 0 and "errors" not in again
