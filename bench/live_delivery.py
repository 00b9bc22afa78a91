"""Live delivery: broadcast -> ``transactionReceived`` on a WebSocket subscription, per chain backend,
and what the Esplora poller costs the chain server while nothing happens.

    .venv/bin/python bench/live_delivery.py [--payments 5] [--idle 30]

Loopback only (the dev chain's real Esplora HTTP and Electrum protocol servers, one uvicorn server
with SQLite, a graphql-transport-ws client), bounded, stops by itself. For each backend, with the
server's defaults (``MBF_TIP_POLL_INTERVAL_S`` 10 s):

1. every wallet of the ``small`` scenario is imported and synced, one ``transactionReceived``
   subscription is opened on the first;
2. ``--payments`` payments are sent to its next unused address one after the other; each time the
   seconds from the devchain accepting the transaction to the event on the socket are recorded;
3. (Esplora) for ``--idle`` seconds nothing happens: the requests the server made to the chain server
   are counted, with one wallet watched and with all of them, to show the cost is per server.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from app.dev.devchain.runner import DevChain  # noqa: E402
from tests.subscriptions.wsclient import WS  # noqa: E402
from tests.support.server import GraphQLClient, live_server  # noqa: E402

IMPORT = "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }"
STATUS = "query($id: ID!) { wallet(id: $id) { syncStatus } }"
UNUSED = """query($id: ID!) { wallet(id: $id) { addresses(first: 1, chain: RECEIVE, used: false) {
  edges { node { address } } } } }"""
RECEIVED = "subscription($w: ID!) { transactionReceived(walletId: $w) { __typename } }"


async def synced(gql: GraphQLClient, wallet_id: str) -> None:
    async with asyncio.timeout(120):
        while (await gql(STATUS, {"id": wallet_id}))["data"]["wallet"]["syncStatus"] not in ("SYNCED", "ERROR"):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def requests_while_idle(server: Any, seconds: float) -> int:
    backend = server.container.sync.backends.active()["regtest"]
    before = backend.requests
    await asyncio.sleep(seconds)
    return int(backend.requests - before)


async def run(backend: str, payments: int, idle: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        async with DevChain.start(scenario="small", seed=1, data_dir=Path(tmp) / "chain") as chain:
            chain_settings: dict[str, Any] = (
                {"regtest_esplora_url": chain.esplora_url}
                if backend == "esplora"
                else {
                    "chain_backend": "electrum",
                    "regtest_electrum_url": f"tcp://{chain.electrum_host}:{chain.electrum_port}",
                }
            )
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                data_dir=Path(tmp) / "data",
                secret_key="0" * 64,
                price_poll_enabled=False,
                log_level="error",
                sync_interval_s=3600,
                **chain_settings,
            )
            async with live_server(settings) as server:
                gql = GraphQLClient(server.url)
                gql.token = await gql.register("bench@example.com")
                ids = []
                for w in chain.info["wallets"]:
                    new = {"name": w["name"], "source": w["descriptor"], "network": "REGTEST"}
                    body = await gql(IMPORT, {"i": new})
                    ids.append(body["data"]["importWallet"]["id"])
                for wallet_id in ids:
                    await synced(gql, wallet_id)
                out: dict[str, Any] = {"backend": backend, "wallets": len(ids)}
                if backend == "esplora":
                    await asyncio.sleep(1)  # let the poller take its baseline
                    out["idle_requests_all_wallets"] = await requests_while_idle(server, idle)
                ws = await WS.open(server.ws_url)
                await ws.init(gql.token)
                await ws.subscribe("rx", RECEIVED, {"w": ids[0]})
                await asyncio.sleep(0.5)  # the subscription registers (a bench, not a test)
                delays = []
                for _ in range(payments):
                    body = await gql(UNUSED, {"id": ids[0]})
                    address = body["data"]["wallet"]["addresses"]["edges"][0]["node"]["address"]
                    await chain.send(address, 25_000)
                    sent = time.monotonic()
                    msg = await ws.recv(wait_s=60)
                    delays.append(time.monotonic() - sent)
                    assert msg["type"] == "next", msg
                    await synced(gql, ids[0])
                await ws.close()
                await gql.aclose()
                out["delays"] = delays
                return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=5)
    parser.add_argument("--idle", type=float, default=30.0)
    args = parser.parse_args()
    print(f"payments per backend: {args.payments}; Esplora poll interval: the default (10 s)")
    for backend in ("electrum", "esplora"):
        r = await run(backend, args.payments, args.idle)
        d = r["delays"]
        print(
            f"{backend:9s} broadcast -> event: min {min(d):6.2f}s  median {statistics.median(d):6.2f}s  "
            f"max {max(d):6.2f}s  ({', '.join(f'{x:.2f}' for x in d)})"
        )
        if "idle_requests_all_wallets" in r:
            n = r["idle_requests_all_wallets"]
            print(
                f"{'':9s} idle {args.idle:.0f}s with {r['wallets']} wallets watched: {n} requests to the chain server "
                f"({n / (args.idle / 10):.1f} per 10 s poll round)"
            )


if __name__ == "__main__":
    asyncio.run(main())
