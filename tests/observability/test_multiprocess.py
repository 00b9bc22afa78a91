"""``mbf serve --workers 2`` as an operator runs it: every worker's counts reach one scrape of
the separate metrics port (prometheus-client multiprocess mode), and the main port has no /metrics."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.foundation.test_cli_process import MBF, ROOT, _env, _free_port
from tests.observability.scrape import parse, value
from tests.support.services import REDIS_URL, require

pytestmark = pytest.mark.slow


async def _wait_up(url: str, proc: asyncio.subprocess.Process, timeout: float = 60) -> None:
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
            await asyncio.sleep(0.2)


async def test_workers_share_one_scrape(tmp_path: Path) -> None:
    require("redis")  # several workers need it (they refuse to start without)
    port, metrics_port = _free_port(), _free_port()
    env = _env(
        tmp_path,
        MBF_REDIS_URL=REDIS_URL,
        MBF_PORT=str(port),
        MBF_METRICS_PORT=str(metrics_port),
        MBF_SECRET_KEY="1" * 64,
        MBF_PRICE_POLL_ENABLED="false",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = tmp_path / "serve.log"
    log_file = log_path.open("wb")
    proc = await asyncio.create_subprocess_exec(*MBF, "serve", "--workers", "2", env=env, cwd=ROOT, stderr=log_file)
    try:
        base = f"http://127.0.0.1:{port}"
        await _wait_up(f"{base}/healthz", proc)
        await _wait_up(f"http://127.0.0.1:{metrics_port}/metrics", proc)
        # A new connection per request, so both workers take some.
        for _ in range(30):
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                r = await client.post("/graphql", json={"query": "query Ping { __typename }"})
                assert r.status_code == 200 and r.json()["data"] == {"__typename": "Query"}
        async with httpx.AsyncClient(timeout=10) as client:
            assert (await client.get(f"{base}/metrics")).status_code == 404
            samples = parse((await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text)
        assert value(samples, "mbf_graphql_operations_total", operation="Ping", type="query", outcome="ok") == 30
        # The values came from the workers' files in <data dir>/prometheus.
        files = list((tmp_path / "data" / "prometheus").glob("*.db"))
        pids = {f.stem.rsplit("_", 1)[-1] for f in files}
        assert len(pids - {str(proc.pid)}) >= 2, files
    except BaseException:
        sys.stderr.write(log_path.read_text())  # the server's side of a failure
        raise
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        log_file.close()
    assert proc.returncode == 0, log_path.read_text()
