"""CPU per request, in-process: the uncached dashboard and ``{ viewer { id email } }`` through the
real application (every middleware, extension, loader and the SQLite snapshot), side by side with
bench/dashboard.py's plain Strawberry schema over the same answer and its bare Starlette endpoint
over the viewer's answer (the issue's two targets: 60 % and 40 %).

    .venv/bin/python bench/dashboard_cpu.py [--wallets 10] [--txs 20] [--utxos 6] [--requests 200]

Why a second bench: on a shared machine wrk's requests/s move with everyone else's load (the
figures of bench/dashboard.py were taken at load averages of 7 to 25 on 2 cores), while the CPU
time one request costs this process moves much less. Requests are sent one after another straight
to the ASGI app (no socket, no uvicorn: both sides skip the same HTTP parsing), with the response
cache off and Redis (when running) for the session cache, as ``mbf serve`` has them. The data is
written straight into the sync tables (as tests/dashboard/test_statement_count.py does): wallets
imported through the API, then ``txs`` confirmed transactions and ``utxos`` unspent outputs each.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import dashboard as wrk_bench  # noqa: E402  (the query and the plain schema)

IMPORT = "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }"
FIRST_ADDRESS = (
    "{ wallets(first: 100) { edges { node { id addresses(first: 1) { edges { node { scriptPubKey } } } } } } }"
)


async def call(app: Any, body: bytes, token: str | None) -> tuple[int, bytes]:
    """One POST /graphql straight to the ASGI app."""
    headers = [(b"content-type", b"application/json"), (b"host", b"bench")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/graphql", "raw_path": b"/graphql", "query_string": b"", "headers": headers,
        "client": ("127.0.0.1", 1), "server": ("bench", 80), "root_path": "", "state": {},
    }  # fmt: skip
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def gql(app: Any, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> Any:
    status, body = await call(app, json.dumps({"query": query, "variables": variables or {}}).encode(), token)
    answer = json.loads(body)
    if status != 200 or answer.get("errors"):
        raise SystemExit(f"{query[:40]}...: {status} {answer}")
    return answer


def xpub(n: int) -> str:
    from embit import bip32

    root = bip32.HDKey.from_seed(hashlib.sha256(f"bench-cpu-{n}".encode()).digest())
    return str(root.derive("m/84h/0h/0h").to_public().to_base58())


async def seed(app: Any, container: Any, args: argparse.Namespace) -> str:
    from app.store.models.chain import WalletOutput, WalletSyncState, WalletTx

    async def no_first_sync(user_id: str, wallet_id: str) -> None:
        """The chain data is written below; nothing to sync against."""

    container.wallets.connect_sync(no_first_sync)
    token = (
        await gql(
            app,
            "mutation($i: RegisterInput!) { register(input: $i) { token } }",
            {"i": {"email": "bench@example.com", "password": wrk_bench.PASSWORD}},
        )
    )["data"]["register"]["token"]
    user_id = (await gql(app, "{ viewer { id } }", token=token))["data"]["viewer"]["id"]
    for n in range(args.wallets):
        source = {"name": f"w{n}", "source": xpub(n), "network": "MAINNET", "scriptType": "P2WPKH"}
        await gql(app, IMPORT, {"i": source}, token)
    edges = (await gql(app, FIRST_ADDRESS, token=token))["data"]["wallets"]["edges"]
    base = datetime(2024, 1, 1, tzinfo=UTC)
    async with container.store.write() as s:
        for w, edge in enumerate(edges):
            wallet_id = edge["node"]["id"]
            spk = edge["node"]["addresses"]["edges"][0]["node"]["scriptPubKey"]
            balance = 0
            for t in range(args.txs):
                txid = hashlib.sha256(f"{wallet_id}:{t}".encode()).hexdigest()
                value = 10_000 * (t + 1) + w
                s.add(
                    WalletTx(
                        user_id=user_id, wallet_id=wallet_id, txid=txid, status="confirmed", height=100 + t,
                        block_hash="00" * 32, block_time=base + timedelta(days=t), first_seen=base, fee=200,
                        vsize=141, weight=561, received=value, sent=0, net_amount=value, direction="INCOMING",
                        io='{"v":2,"l":0,"i":[],"o":[]}',
                    )
                )  # fmt: skip
                if t < args.utxos:
                    s.add(
                        WalletOutput(
                            user_id=user_id, wallet_id=wallet_id, txid=txid, vout=0, value=value, chain=0,
                            index=0, script_pubkey=spk, height=100 + t,
                        )
                    )  # fmt: skip
                    balance += value
            s.add(
                WalletSyncState(
                    wallet_id=wallet_id, user_id=user_id, status="SYNCED", last_synced_at=base,
                    tip_height=100 + args.txs, confirmed=balance, tx_count=args.txs, utxo_count=args.utxos,
                )
            )  # fmt: skip
    return str(token)


def captured(serve: Any, answer: dict[str, Any]) -> Any:
    """The ASGI app a bench/dashboard.py side server builds over ``answer`` (without serving it)."""
    work = Path(tempfile.mkdtemp(prefix="bench-cpu-"))
    (work / "answer.json").write_text(json.dumps(answer))
    built: dict[str, Any] = {}

    def capture(app: Any, **_: Any) -> None:
        built["app"] = app

    import uvicorn

    real_run = uvicorn.run
    uvicorn.run = capture  # the side servers build the app and hand it to uvicorn.run: keep it instead
    try:
        serve(work / "answer.json", 0)
    finally:
        uvicorn.run = real_run
    return built["app"]


def plain_app(answer: dict[str, Any]) -> Any:
    """bench/dashboard.py's plain Strawberry schema over in-memory objects built from ``answer``."""
    return captured(wrk_bench.serve_strawberry, answer)


async def measure(app: Any, body: bytes, token: str | None, n: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per request over ``n`` requests, after 20 to warm up."""
    for _ in range(20):
        await call(app, body, token)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        status, _ = await call(app, body, token)
        assert status == 200
    return 1000 * (time.process_time() - cpu) / n, 1000 * (time.perf_counter() - wall) / n


def redis_running() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


async def run(args: argparse.Namespace) -> None:
    from app.config import Settings
    from app.container import Container
    from app.main import create_app

    data = Path(tempfile.mkdtemp(prefix="bench-cpu-data-"))
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="production",
        data_dir=data,
        database_url=f"sqlite+aiosqlite:///{data}/bench.sqlite",
        secret_key="2" * 64,
        log_level="warning",
        price_poll_enabled=False,
        price_providers=[],
        mainnet_esplora_url="http://127.0.0.1:9",
        chain_retries=0,
        response_cache_ttl_s=0,
        redis_url=wrk_bench.REDIS_URL if redis_running() else None,
        throttle_redis_prefix=f"bench-cpu-{os.getpid()}:throttle",
    )
    container = Container(settings)
    app = create_app(settings, container)
    async with app.router.lifespan_context(app):
        token = await seed(app, container, args)
        dashboard = json.dumps({"query": wrk_bench.DASHBOARD}).encode()
        viewer = json.dumps({"query": wrk_bench.VIEWER}).encode()
        _, answer = await call(app, dashboard, token)
        _, viewer_answer = await call(app, viewer, token)
        plain = plain_app(json.loads(answer))
        bare = captured(wrk_bench.serve_bare, json.loads(viewer_answer))
        rows = [
            ("plain Strawberry, in-memory objects", await measure(plain, dashboard, None, args.requests)),
            ("mbf dashboard, uncached", await measure(app, dashboard, token, args.requests)),
            ("bare Starlette, the viewer's answer", await measure(bare, viewer, None, args.requests)),
            ("mbf viewer { id email }, uncached", await measure(app, viewer, token, args.requests)),
        ]
    print(
        f"dashboard_cpu: {args.wallets} wallets x {args.txs} transactions, {args.utxos} UTXOs each, answer "
        f"{len(answer) / 1024:.1f} KB, {args.requests} requests each, session cache "
        f"{'on (Redis)' if settings.redis_url else 'off (no Redis)'}, load {os.getloadavg()[0]:.1f}"
    )
    for name, (cpu, wall) in rows:
        print(f"  {name:<40} CPU {cpu:7.2f} ms/request   wall {wall:7.2f} ms/request")
    plain_cpu, ours = rows[0][1][0], rows[1][1][0]
    print(f"  uncached dashboard / plain Strawberry (requests per CPU second): {100 * plain_cpu / ours:.1f} %")
    bare_cpu, viewer_cpu = rows[2][1][0], rows[3][1][0]
    print(
        f"  uncached viewer / bare Starlette (requests per CPU second, no HTTP server on either side: "
        f"uvicorn's own cost per request is left out of both): {100 * bare_cpu / viewer_cpu:.1f} %"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wallets", type=int, default=10)
    parser.add_argument("--txs", type=int, default=20, help="transactions per wallet (the query pages 20)")
    parser.add_argument("--utxos", type=int, default=6, help="unspent outputs per wallet")
    parser.add_argument("--requests", type=int, default=200)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
