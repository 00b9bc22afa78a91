"""Shared fixtures: settings on a temp data dir, migrated stores (SQLite and PostgreSQL),
a started container, a live uvicorn server and a GraphQL client."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.container import Container
from app.store.db import Store
from tests.support.databases import PostgresTemplates, SqliteTemplates
from tests.support.server import GraphQLClient, LiveServer, live_server
from tests.support.services import require

# Tests must not depend on a developer's MBF_* environment or .env file.
for _key in [k for k in os.environ if k.startswith("MBF_")]:
    del os.environ[_key]

TEST_SECRET = "0" * 64


@pytest.fixture(scope="session")
def sqlite_templates(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplates:
    return SqliteTemplates(tmp_path_factory.mktemp("templates"))


_pg: PostgresTemplates | None = None


@pytest.fixture(scope="session")
def postgres_templates() -> Iterator[PostgresTemplates]:
    global _pg
    require("postgres")
    _pg = PostgresTemplates()
    yield _pg
    _pg.close()


@pytest.fixture(params=["sqlite", "postgres"])
def any_engine(request: pytest.FixtureRequest) -> str:
    """Ask for this fixture to run a test on both SQLite and PostgreSQL."""
    return str(request.param)


async def _database_url(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if engine == "postgres":
        templates: PostgresTemplates = request.getfixturevalue("postgres_templates")
        url = await templates.fresh()
        yield url
        await templates.drop(url)
    else:
        templates_sqlite: SqliteTemplates = request.getfixturevalue("sqlite_templates")
        yield templates_sqlite.fresh(tmp_path)


@pytest.fixture
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    engine = request.getfixturevalue("any_engine") if "any_engine" in request.fixturenames else "sqlite"
    async for url in _database_url(engine, request, tmp_path):
        yield url


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": database_url,
        "secret_key": TEST_SECRET,
        "price_poll_enabled": False,
        "log_level": "warning",
        "log_format": "console",
        "throttle_redis_prefix": f"test-{secrets.token_hex(6)}:throttle",  # no limits shared between tests
        "lightning_allowed_hosts": ["127.0.0.1", "::1"],  # devlnd listens on loopback (docs/security.md)
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for ``settings``/``server``."""
    return {}


@pytest.fixture
def settings(tmp_path: Path, database_url: str, settings_overrides: dict[str, Any]) -> Settings:
    return make_settings(tmp_path, database_url, **settings_overrides)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    s = Store(settings.effective_database_url)
    yield s
    await s.dispose()


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    c = Container(settings)
    await c.start()
    yield c
    await c.stop()


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[LiveServer]:
    async with live_server(settings) as srv:
        yield srv


@pytest.fixture
async def gql(server: LiveServer) -> AsyncIterator[GraphQLClient]:
    client = GraphQLClient(server.url)
    yield client
    await client.aclose()


@pytest.fixture
async def user_token(gql: GraphQLClient) -> str:
    """A registered user's bearer token (also set as ``gql.token``)."""
    gql.token = await gql.register("alice@example.com")
    return gql.token
