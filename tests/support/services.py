"""Real local services (PostgreSQL, Redis) for tests: detect, or skip — but never skip in CI."""

from __future__ import annotations

import os
import socket

import pytest

PG_HOST, PG_PORT, PG_DB = "127.0.0.1", 5432, "test"
REDIS_URL = "redis://127.0.0.1:6379/0"


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(service: str) -> None:
    """Skip the test when ``service`` is not running here; fail instead under CI=true."""
    available = {"postgres": _port_open(PG_HOST, PG_PORT), "redis": _port_open("127.0.0.1", 6379)}[service]
    if available:
        return
    reason = f"{service} is not running on this machine (needed for this test)"
    if in_ci():
        pytest.fail(f"{reason}; CI must provide it")
    pytest.skip(reason)


def pg_admin_dsn(db: str = PG_DB) -> str:
    return f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{db}"


def pg_url(db: str) -> str:
    return f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{db}"
