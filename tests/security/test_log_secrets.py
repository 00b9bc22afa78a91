"""No secret reaches a log, in any mode (issue #10 High 3).

A real ``mbf serve`` process is given a password, a token, an xpub, a macaroon and a TOTP seed;
then its database is sabotaged under it (tables renamed) so that every request takes an
``INTERNAL`` path, with those secrets in the failing frames. Its stderr — the whole log, structlog
and uvicorn alike — must contain none of them. (Before the fix, development mode rendered frame
locals: ``password='…'`` from the login frame, ``token='mbf_…'``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import sqlite3
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
MBF = [sys.executable, "-c", "from app.cli.main import main; main()"]
PASSWORD = "correct horse battery staple " + secrets.token_hex(4)
XPUB = "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V"
MACAROON = "0201036c6e6402f801" + secrets.token_hex(120)
TLS_CERT = "-----BEGIN CERTIFICATE-----\nMIIB" + "A" * 60 + "\n-----END CERTIFICATE-----\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _serve(tmp_path: Path, env_name: str):  # type: ignore[no-untyped-def]
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBF_")}
    env.update(
        MBF_ENV=env_name,
        MBF_DATA_DIR=str(tmp_path / "data"),
        MBF_LOG_LEVEL="debug",
        MBF_PRICE_POLL_ENABLED="false",
        MBF_MAINNET_ESPLORA_URL="http://127.0.0.1:9",
        MBF_LIGHTNING_ALLOWED_HOSTS='["127.0.0.1"]',
    )
    log_path = tmp_path / "stderr.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *MBF, "serve", "--port", str(port), env=env, cwd=ROOT, stdout=log, stderr=log
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                for _ in range(300):
                    with contextlib.suppress(httpx.TransportError):
                        if (await http.get("/healthz")).status_code == 200:
                            break
                    await asyncio.sleep(0.1)
                yield http, tmp_path / "data" / "mbf.sqlite3", log_path
        finally:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _gql(http: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    resp = await http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    return resp.status_code, resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}


def _codes(body: Any) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in (body or {}).get("errors") or []]


def _rename(db: Path, *tables: str) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        for table in tables:
            conn.execute(f"ALTER TABLE {table} RENAME TO {table}_sabotaged")
        conn.commit()


@pytest.mark.parametrize("env_name", ["development", "production"])
async def test_internal_errors_never_log_secrets(tmp_path: Path, env_name: str) -> None:
    internal = 0
    async with _serve(tmp_path, env_name) as (http, db, log_path):
        _, body = await _gql(
            http,
            "mutation($i: RegisterInput!) { register(input: $i) { token } }",
            {"i": {"email": "victim@example.com", "password": PASSWORD}},
        )
        token = body["data"]["register"]["token"]
        _, body = await _gql(http, "mutation { beginTwoFactorSetup { secret uri } }", {}, token)
        seed = body["data"]["beginTwoFactorSetup"]["secret"]

        # Every INTERNAL path we can reach: the tables behind each secret-carrying operation vanish.
        _rename(db, "wallets", "lightning_nodes", "portfolios")
        attempts: list[tuple[str, dict[str, Any], str | None]] = [
            (
                "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }",
                {"i": {"name": "w", "source": XPUB}},
                token,
            ),
            ("{ wallets { totalCount } }", {}, token),
            (
                "mutation($i: ConnectLightningNodeInput!) { connectLightningNode(input: $i) { id } }",
                {
                    "i": {
                        "name": "n",
                        "host": "127.0.0.1",
                        "port": 9,
                        "tlsCert": TLS_CERT,
                        "macaroon": MACAROON,
                        "network": "MAINNET",
                    }
                },
                token,
            ),
            ("{ lightningNodes { id } }", {}, token),
            (
                "mutation($i: CreatePortfolioInput!) { createPortfolio(input: $i) { id } }",
                {"i": {"name": "p", "walletIds": []}},
                token,
            ),
        ]
        for query, variables, bearer in attempts:
            status, body = await _gql(http, query, variables, bearer)
            internal += _codes(body).count("INTERNAL")
        _rename(db, "users")  # login: the password is in the failing frame
        status, body = await _gql(
            http,
            "mutation($i: LoginInput!) { login(input: $i) { token } }",
            {"i": {"email": "victim@example.com", "password": PASSWORD}},
        )
        internal += _codes(body).count("INTERNAL") + (status >= 500)
        _rename(db, "auth_sessions")  # authentication itself fails: the token is in the failing frame
        status, body = await _gql(http, "{ viewer { id } }", {}, token)
        internal += _codes(body).count("INTERNAL") + (status >= 500)
    log = log_path.read_text(errors="replace")
    assert internal >= 4, "the sabotage must reach INTERNAL paths, or this test proves nothing"
    assert "Traceback" in log, "internal errors are logged with their stack"
    for name, secret in {
        "password": PASSWORD,
        "token": token,
        "token body": token.removeprefix("mbf_"),
        "xpub": XPUB,
        "xpub middle": XPUB[20:60],
        "macaroon": MACAROON,
        "macaroon middle": MACAROON[40:100],
        "TOTP seed": seed,
    }.items():
        assert secret not in log, f"the {name} reached the log ({env_name} mode)"


def test_cli_tracebacks_never_show_locals() -> None:
    """An unexpected CLI error prints a traceback; Typer must not render the frames' local variables."""
    from app.cli.main import app

    assert app.pretty_exceptions_show_locals is False
