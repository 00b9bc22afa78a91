"""`mbf devlnd` as a user runs it: one JSON object on stdout, then a working LND endpoint."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from app.lightning.client import LndClient

ROOT = Path(__file__).resolve().parents[2]
MBF = [sys.executable, "-c", "from app.cli.main import main; main()"]


async def test_mbf_devlnd_prints_json_and_serves() -> None:
    proc = await asyncio.create_subprocess_exec(
        *MBF,
        "devlnd",
        "--port",
        "0",
        "--seed",
        "5",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        info = json.loads(line)
        assert set(info) >= {"host", "port", "tlsCert", "macaroons"}
        assert set(info["macaroons"]) >= {"readonly", "admin"}
        assert info["tlsCert"].startswith("-----BEGIN CERTIFICATE-----")
        async with LndClient(info["host"], info["port"], info["tlsCert"], info["macaroons"]["readonly"]) as c:
            got = await c.get_info()
            assert got.pubkey == info["pubkey"] and got.network == "regtest"
            assert c.capabilities.read_only
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_mbf_devlnd_rejects_bad_network() -> None:
    proc = await asyncio.create_subprocess_exec(
        *MBF,
        "devlnd",
        "--network",
        "moon",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2 and b"--network" in err
