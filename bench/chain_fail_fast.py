"""Benchmark: how quickly the chain backends give up on a server that is down.

Run: ``.venv/bin/python bench/chain_fail_fast.py [rounds]``. Prints, per backend, the time from the
call to the ``UpstreamUnavailable`` error against a closed local port (connection refused), with
retries as configured, next to the configured per-request timeout. A refused connection should
cost milliseconds (plus the retry back-off), never the timeout: the ratio column says how far
from the timeout it is. (This was a wall-clock assertion in tests/chain/test_failures.py; timings
belong here, the tests keep the behaviour: error type, server named, request count, breaker.)
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.chain.electrum import ElectrumBackend
from app.chain.esplora import EsploraBackend
from app.errors import UpstreamUnavailable

TIMEOUT_S = 2.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def esplora_once() -> float:
    backend = EsploraBackend(f"http://127.0.0.1:{free_port()}", network="regtest", retries=2, timeout_s=TIMEOUT_S)
    t0 = time.perf_counter()
    try:
        await backend.tip()
    except UpstreamUnavailable:
        pass
    else:
        raise RuntimeError("a closed port answered")
    elapsed = time.perf_counter() - t0
    await backend.close()
    return elapsed


async def electrum_once() -> float:
    backend = ElectrumBackend(f"tcp://127.0.0.1:{free_port()}", network="regtest", retries=1, timeout_s=TIMEOUT_S)
    t0 = time.perf_counter()
    try:
        await backend.histories(["00" * 32])
    except UpstreamUnavailable:
        pass
    else:
        raise RuntimeError("a closed port answered")
    elapsed = time.perf_counter() - t0
    await backend.close()
    return elapsed


async def main(rounds: int) -> None:
    print(f"server down (connection refused), per-request timeout {TIMEOUT_S:.1f} s, {rounds} rounds")
    print(f"{'backend':<28}{'median ms':>10}{'max ms':>10}{'max/timeout':>13}")
    for name, run in (("esplora (3 tries)", esplora_once), ("electrum (2 tries)", electrum_once)):
        times = [await run() for _ in range(rounds)]
        print(
            f"{name:<28}{statistics.median(times) * 1000:>10.1f}{max(times) * 1000:>10.1f}"
            f"{max(times) / TIMEOUT_S:>13.3f}"
        )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
