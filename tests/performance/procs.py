"""Real ``mbf serve`` processes for the cross-process tests (sessions, response cache, workers)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.foundation.test_cli_process import MBF, ROOT, _env, _free_port


async def wait_up(url: str, proc: asyncio.subprocess.Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            assert proc.returncode is None, "mbf serve exited"
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{url} never answered"
            await asyncio.sleep(0.2)  # polling a port that is not open yet: nothing to wait on


def serve_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = _env(
        tmp_path,
        MBF_SECRET_KEY="1" * 64,
        MBF_PRICE_POLL_ENABLED="false",
        # Sign-up limits are shared through Redis: each test gets its own (as tests/conftest.py does).
        MBF_THROTTLE_REDIS_PREFIX=f"test-{secrets.token_hex(6)}:throttle",
        **extra,
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


@contextlib.asynccontextmanager
async def mbf_serve(tmp_path: Path, env: dict[str, str], *args: str, name: str = "serve") -> AsyncIterator[str]:
    """``mbf serve`` on a free port with ``env``; yields its base URL, prints its log on failure."""
    port = _free_port()
    log_path = tmp_path / f"{name}.log"
    log_file = log_path.open("wb")
    proc = await asyncio.create_subprocess_exec(
        *MBF, "serve", "--port", str(port), *args, env=env, cwd=ROOT, stderr=log_file
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_up(f"{base}/healthz", proc)
        yield base
    except BaseException:
        sys.stderr.write(log_path.read_text())
        raise
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        log_file.close()
