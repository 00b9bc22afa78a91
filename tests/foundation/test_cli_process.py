"""The ``mbf`` command as a user runs it: a real process on a fresh data directory."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.support.signals import until

ROOT = Path(__file__).resolve().parents[2]
MBF = [sys.executable, "-c", "from app.cli.main import main; main()"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBF_")}
    env.update({"MBF_DATA_DIR": str(tmp_path / "data"), "MBF_LOG_LEVEL": "warning"}, **extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_user_create_and_migrate_current(tmp_path: Path) -> None:
    env = _env(tmp_path)
    created = subprocess.run(
        [*MBF, "user", "create", "root@example.com", "--admin", "--password-stdin"],
        input="a long enough password\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    assert json.loads(created.stdout.strip().splitlines()[-1])["role"] == "admin"
    current = subprocess.run(
        [*MBF, "migrate", "current"], capture_output=True, text=True, env=env, cwd=ROOT, check=True
    )
    assert json.loads(current.stdout.strip().splitlines()[-1])["atHead"] is True
    short = subprocess.run(
        [*MBF, "user", "create", "x@example.com", "--password-stdin"],
        input="short\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert short.returncode == 2 and "12 characters" in short.stderr


def test_bad_config_stops_startup_with_every_field(tmp_path: Path) -> None:
    env = _env(tmp_path, MBF_PORT="x", MBF_REDIS_URL="http://nope")
    proc = subprocess.run([*MBF, "serve"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert proc.returncode == 2
    assert "MBF_PORT" in proc.stderr and "MBF_REDIS_URL" in proc.stderr


def test_schema_file_matches_code(tmp_path: Path) -> None:
    """``schema.graphql`` is what the frontend reads: it must be the exported SDL of the code."""
    out = subprocess.run([*MBF, "schema", "export", "-o", "-"], capture_output=True, text=True, cwd=ROOT, check=True)
    committed = (ROOT / "schema.graphql").read_text()
    assert out.stdout == committed, "schema.graphql is stale: run `mbf schema export`"


@pytest.mark.slow
async def test_serve_fresh_then_graceful_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        *MBF,
        "serve",
        "--port",
        str(port),
        env=_env(tmp_path),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:

            async def ready() -> bool:
                try:
                    return (await http.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            # a failure bound only: a fresh start (migrations, key) took over 20 s at load 20
            await until(ready, "mbf serve answered /readyz", 120)
            assert (tmp_path / "data" / "mbf.sqlite3").exists()  # created the data dir and database
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-transport-ws"])
            await ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            # An in-flight request (argon2 hashing) must still complete after SIGTERM.
            query = 'mutation { register(input: {email: "t@example.com", password: "abcdefghijklmnop"}) { token } }'
            pending = asyncio.create_task(http.post("/graphql", json={"query": query}))
            await asyncio.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            resp = await pending
            assert resp.status_code == 200 and resp.json()["data"]["register"]["token"]
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 20)
            assert closed.value.rcvd is not None and closed.value.rcvd.code in (1001, 1012)
        # uvicorn re-raises SIGTERM after its graceful shutdown, so the exit status is the signal's.
        assert await asyncio.wait_for(proc.wait(), 30) in (0, -signal.SIGTERM)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
