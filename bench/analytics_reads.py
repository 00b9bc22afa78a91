"""Portfolio analytics through the API on the devchain ``big`` scenario (one wallet, ~10,200
transactions): a read with nothing cached (ledger, history, lots, prices and results all dropped),
the first read after each kind of change (a payment seen unconfirmed, the same payment mined, a
price tick), and repeated reads; each for the three fields together and for each alone.

    .venv/bin/python bench/analytics_reads.py [--repeat 10] [--changes 3] [--response-cache]

One process: the dev chain, the server (uvicorn, one worker, SQLite) and the client. The response
cache (issue 12 item 6) is off unless ``--response-cache``: these are the analytics' own figures.
The spot price comes from a local ticking provider (closes after the bundled file's end are made up
by it, so every day has a close). After every change the cached figures are compared with a
from-scratch computation in-process (``analyse(cached=False)``): ``exact`` must say True.
Figures are medians of wall-clock request times.
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
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
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
from app.prices.bundled import BundledProvider  # noqa: E402
from app.prices.chain import PriceChain  # noqa: E402
from app.prices.provider import DailyClose, Price  # noqa: E402

QUERIES = {
    "all three": """{ portfolio(id: "all") { value performance(timeframe: ALL) { timeWeightedReturn }
  costBasis { totalCost realizedGain } } }""",
    "performance": '{ portfolio(id: "all") { performance(timeframe: ALL) { timeWeightedReturn endValue } } }',
    "costBasis": '{ portfolio(id: "all") { costBasis(method: HIFO) { totalCost realizedGain unrealizedGain } } }',
    "value": '{ portfolio(id: "all") { value } }',
}
QUERY = QUERIES["all three"]


class TickingProvider:
    """A live USD provider whose spot price the bench moves (every close up to yesterday)."""

    name = "ticking"

    def __init__(self) -> None:
        self.price = Decimal("61234.56")

    def supports(self, currency: str) -> bool:
        return currency == "USD"

    async def spot(self, currency: str) -> Price:
        return Price(currency, self.price, datetime.now(UTC), self.name)

    async def history(self, currency: str, start: date, end: date) -> list[DailyClose]:
        days = (end - start).days + 1
        return [
            DailyClose(currency, d, Decimal(40_000 + d.toordinal() % 997 * 37) + Decimal("0.25"), self.name)
            for d in (start + timedelta(days=i) for i in range(max(0, days)))
        ]


async def timed(http: httpx.AsyncClient, token: str, query: str = QUERY) -> float:
    started = time.perf_counter()
    r = await http.post("/graphql", json={"query": query}, headers={"authorization": f"Bearer {token}"})
    elapsed = time.perf_counter() - started
    body = r.json()
    assert r.status_code == 200 and "errors" not in body, body
    return elapsed


async def exact(container: Container, user_id: str) -> bool:
    """The cached figures equal a from-scratch computation (every row and price read again)."""
    p = container.portfolios
    for method in ("FIFO", "HIFO"):
        cached = await p.analyse(user_id, "all", "ALL", method)
        data = await p.load(user_id, "all")
        data.history = None
        data.txs = sorted(await container.sync.ledger(user_id), key=lambda t: (t.day, t.txid))
        fresh = await p.analyse(user_id, "all", "ALL", method, data=data, cached=False)
        if cached.result.cost_basis != fresh.result.cost_basis or cached.value_points() != fresh.value_points():
            return False
        if cached.result.ledger != fresh.result.ledger or cached.performance.end_value != fresh.performance.end_value:
            return False
    return True


async def main(repeat: int, changes: int, response_cache: bool) -> None:
    cache = Path(os.environ.get("MBF_BENCH_DEVCHAIN_CACHE", Path(tempfile.gettempdir()) / "mbf-bench-devchain-big"))
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
            response_cache_ttl_s=30 if response_cache else 0,
        )
        container = Container(settings)
        ticker = TickingProvider()
        container.prices._chain = PriceChain([ticker, BundledProvider()], 5.0)
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
                figures: dict[str, dict[str, list[float]]] = {name: {} for name in QUERIES}
                checks: list[bool] = []

                def record(kind: str, name: str, seconds: float) -> None:
                    figures[name].setdefault(kind, []).append(seconds)

                for _ in range(3):  # nothing cached: every row and every stored close read again
                    for name, query in QUERIES.items():
                        container.portfolios.ledgers._users.clear()
                        container.portfolios.analytics._users.clear()
                        container.portfolios.analytics._series.clear()
                        container.portfolios.memo.forget()  # whole answers kept under the data version
                        record("nothing cached", name, await timed(http, token, query))
                for query in QUERIES.values():
                    await timed(http, token, query)  # warm again
                address = (await container.wallets.next_receive_address(user_id, wallet_id)).address
                sent = 0

                async def synced() -> None:
                    job = await container.sync.sync_now(user_id, wallet_id)
                    assert job.status == "SUCCEEDED", job

                async def change(kind: str) -> None:
                    """One change of this kind (a payment to mine is sent and synced first, untimed)."""
                    nonlocal sent
                    if kind == "price tick":
                        ticker.price += Decimal("1.23")
                        await container.prices.spot("USD", fresh=True)
                        return
                    if kind == "payment mined":
                        await chain.mine()
                    else:
                        sent += 1
                        await chain.send(address, 100_000 + sent)
                    await synced()

                kinds = ("payment seen (unconfirmed)", "payment mined", "price tick")
                for _ in range(changes):
                    for kind in kinds:
                        for name, query in QUERIES.items():
                            if kind == "payment mined":
                                await change("payment seen (unconfirmed)")
                                await timed(http, token, query)
                            await change(kind)
                            record(f"first read after: {kind}", name, await timed(http, token, query))
                    checks.append(await exact(container, user_id))
                for name, query in QUERIES.items():
                    for _ in range(repeat):
                        record("repeated read", name, await timed(http, token, query))
                history = container.portfolios.analytics.held(user_id)

            def ms(xs: list[float]) -> str:
                return f"{statistics.median(xs) * 1000:8.1f}"

            print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
            print(f"response cache: {'on' if response_cache else 'off'}; cached == from scratch: {checks}")
            if history is not None:
                print(f"history patched: {history.patched} txids; lot checkpoints built: {history.checkpoints_built}")
            rows = list(figures["all three"])
            print(f"{'median ms (n)':44}" + "".join(f"{name:>13}" for name in QUERIES))
            for kind in rows:
                n = len(figures["all three"][kind])
                print(f"{kind + f' ({n})':44}" + "".join(f"{ms(figures[name][kind]):>13}" for name in QUERIES))
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--changes", type=int, default=3)
    parser.add_argument("--response-cache", action="store_true", help="leave the response cache on")
    args: Any = parser.parse_args()
    asyncio.run(main(args.repeat, args.changes, args.response_cache))
