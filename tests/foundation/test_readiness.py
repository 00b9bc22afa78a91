"""/readyz turns unready when the database is gone or behind the migration head."""

from __future__ import annotations

from app.store import migrate
from tests.support.databases import PostgresTemplates
from tests.support.server import GraphQLClient, LiveServer


async def test_unready_when_migrations_pending(gql: GraphQLClient, server: LiveServer) -> None:
    assert (await gql.http.get("/readyz")).status_code == 200
    await migrate.downgrade(server.container.store, "base")
    resp = await gql.http.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["components"]["database"]["status"] == "migrations_pending"


async def test_unready_when_database_is_gone(
    gql: GraphQLClient, server: LiveServer, postgres_templates: PostgresTemplates
) -> None:
    pg = await postgres_templates.fresh()
    server.container.store.__init__(pg)  # point the running server at a PostgreSQL database...
    assert (await gql.http.get("/readyz")).status_code == 200
    await server.container.store.dispose()
    await postgres_templates.drop(pg)  # ...then drop it under its feet
    resp = await gql.http.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["components"]["database"]["status"] == "unavailable"
    assert (await gql.http.get("/healthz")).status_code == 200  # still alive
