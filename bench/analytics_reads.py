"""Portfolio analytics through the API on the devchain ``big`` scenario (one wallet, ~10,200
transactions): a read with the ledger read in full (as before the ledger cache), a read after a
sync added a payment (the cache catches up with the rows the sync wrote), and repeated reads.

    .venv/bin/python bench/analytics_reads.py [--repeat 10] [--changes 3]

One process: the dev chain, the server (uvicorn, one worker, SQLite) and the client. The query:
``portfolio(id: "all") { value performance(timeframe: ALL) { timeWeightedReturn } costBasis {
totalCost realizedGain } }``. Figures are medians of wall-clock request times.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from app.container import Container  # noqa: E402
from app.dev.devchain.runner import DevChain  # noqa: E402
from app.main import create_app  # noqa: E402

QUERY = """{ portfolio(id: "all") { value performance(timeframe: ALL) { timeWeightedReturn }
  costBasis { totalCost realizedGain } } }"""


async def timed(http: httpx.AsyncClient, token: str) -> float:
    started = time.perf_counter()
    r = await http.post("/graphql", json={"query": QUERY}, headers={"authorization": f"Bearer {token}"})
    elapsed = time.perf_counter() - started
    body = r.json()
    assert r.status_code == 200 and "errors" not in body, body
    return elapsed


async def main(repeat: int, changes: int) -> None:
    cache = Path(tempfile.gettempdir()) / "mbf-bench-devchain-big"
    data = Path(tempfile.mkdtemp(prefix="mbf-bench-analytics-"))
    async with DevChain.start(scenario="big", seed=1, data_dir=cache) as chain:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=data,
            regtest_esplora_url=chain.esplora_url,
            price_providers=[],
            price_poll_enabled=False,
            sync_interval_s=3600,
            log_level="warning",
        )
        container = Container(settings)
        server = uvicorn.Server(uvicorn.Config(create_app(settings, container), port=0, log_level="warning"))
        task = asyncio.create_task(server.serve())
        while not server.started:  # uvicorn offers no event for this
            if task.done():
                task.result()
                raise RuntimeError("server stopped during start-up")
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=600) as http:
                reg = await http.post(
                    "/graphql",
                    json={"query": 'mutation { register(input: {email: "bench@example.com", '
                          'password: "correct horse battery staple"}) { token user { id } } }'},
                )  # fmt: skip
                token, user_id = reg.json()["data"]["register"]["token"], reg.json()["data"]["register"]["user"]["id"]
                whale = chain.info["wallets"][0]
                started = time.perf_counter()
                imp = await http.post(
                    "/graphql",
                    json={
                        "query": "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }",
                        "variables": {"i": {"name": "whale", "source": whale["descriptor"], "network": "REGTEST"}},
                    },
                    headers={"authorization": f"Bearer {token}"},
                )
                wallet_id = imp.json()["data"]["importWallet"]["id"]
                job = await container.sync.sync_now(user_id, wallet_id)
                txs = (await container.sync.state(user_id, wallet_id)).tx_count
                print(f"import + first sync: {time.perf_counter() - started:.1f} s ({job.status}, {txs} transactions)")
                await timed(http, token)  # prices backfilled, caches warm

                full = []
                for _ in range(3):  # the ledger read in full, as before the cache
                    container.portfolios.ledgers._users.clear()
                    full.append(await timed(http, token))
                after_change, rows = [], []
                for _ in range(changes):
                    address = (await container.wallets.next_receive_address(user_id, wallet_id)).address
                    await chain.send(address, 100_000)
                    await chain.mine()
                    assert (await container.sync.sync_now(user_id, wallet_id)).status == "SUCCEEDED"
                    before = container.portfolios.ledgers.rows_read
                    after_change.append(await timed(http, token))
                    rows.append(container.portfolios.ledgers.rows_read - before)
                repeated = [await timed(http, token) for _ in range(repeat)]

            def ms(xs: list[float]) -> str:
                return f"{statistics.median(xs) * 1000:7.1f} ms (median of {len(xs)})"

            print(f"load average: {os.getloadavg()[0]:.1f}")
            print(f"ledger read in full (no cache)     : {ms(full)}")
            print(f"first read after a sync added 1 tx : {ms(after_change)}; rows read: {rows}")
            print(f"repeated read                      : {ms(repeated)}")
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--changes", type=int, default=3)
    args: Any = parser.parse_args()
    asyncio.run(main(args.repeat, args.changes))
