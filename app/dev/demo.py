"""``mbf demo``: the dev chain, a dev LND node and the server in one process, with live data.

One command gives a newcomer a running dashboard: a demo account (credentials printed), the
scenario's wallets imported and synced, a portfolio holding them, the dev LND node connected,
and every ``block_interval_s`` a new payment to one of the wallets, a block mined, and a
Lightning invoice created and settled, so subscriptions and balances move.

The demo keeps to its own data directory (SQLite, key, devchain cache) and starts afresh each
run: it only ever deletes files in a directory it created (marked ``.mbf-demo``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
import uvicorn

from app.config import Settings, load_settings
from app.container import Container
from app.errors import DomainError

log = structlog.get_logger(__name__)

MARKER = ".mbf-demo"
DB_NAME = "demo.sqlite3"


class DemoError(Exception):
    """The demo cannot start (message for the user)."""


@dataclass
class DemoOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./demo-data")
    scenario: str = "small"
    seed: int = 1
    block_interval_s: float = 30.0
    email: str = "demo@example.com"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))


def prepare_dir(directory: Path) -> None:
    """Create the demo directory, or empty the demo database of an earlier run; refuse other directories."""
    if directory.exists() and any(directory.iterdir()) and not (directory / MARKER).exists():
        raise DemoError(f"{directory} is not empty and was not made by `mbf demo`; choose another --data-dir")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("made by mbf demo: its database is replaced at each run\n")
    for stale in directory.glob(f"{DB_NAME}*"):
        stale.unlink()
    with contextlib.suppress(FileNotFoundError):
        (directory / "secret.key").unlink()


class _Server(uvicorn.Server):
    """uvicorn in our event loop; the demo handles the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@contextlib.asynccontextmanager
async def _serve(settings: Settings, container: Container, port: int) -> AsyncIterator[_Server]:
    from app.main import create_app

    config = uvicorn.Config(
        create_app(settings, container),
        host=settings.host,
        port=port,
        log_level="warning",
        lifespan="on",
        ws_max_size=settings.ws_max_message_bytes * 4,
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=5,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise DemoError(f"the server could not start on {settings.host}:{port}")
        await asyncio.sleep(0.05)
    try:
        yield server
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)


class Demo:
    """The running demo: what it seeded, and one tick of activity."""

    def __init__(self, container: Container, chain: Any, node: Any, rng: random.Random) -> None:
        self.container = container
        self.chain = chain
        self.node = node
        self.rng = rng
        self.user_id = ""
        self.wallets: dict[str, str] = {}  # id -> name
        self.portfolio_id = ""
        self.node_id = ""
        self.blocks = 0

    async def seed(self, email: str, password: str) -> None:
        from app.bitcoin.networks import Network
        from app.services.lightning import ConnectNodeInput
        from app.services.wallets import ImportWalletInput

        c = self.container
        user = await c.accounts.create_user(email, password, admin=True)
        self.user_id = user.id
        for w in self.chain.info["wallets"]:
            try:
                view = await c.wallets.import_wallet(
                    user.id,
                    ImportWalletInput(name=str(w["name"]), source=str(w["descriptor"]), network=Network.REGTEST),
                )
            except DomainError as exc:  # a scenario wallet the importer does not take: say so, go on
                log.warning("demo_wallet_skipped", wallet=w["name"], error=exc.message)
                continue
            self.wallets[view.id] = view.name
        portfolio = await c.portfolios.create(user.id, "Demo portfolio", list(self.wallets), "USD")
        self.portfolio_id = portfolio.id
        info = self.node.info()
        node = await c.lightning.connect(
            user.id,
            ConnectNodeInput(
                name="Dev LND",
                host=info["host"],
                port=info["port"],
                tls_cert=info["tlsCert"],
                macaroon=info["macaroons"]["admin"],
                network="regtest",
            ),
        )
        self.node_id = node.id

    async def tick(self) -> dict[str, Any]:
        """A payment to one wallet, a block, a settled invoice; returns what happened."""
        c = self.container
        wallet_id = self.rng.choice(sorted(self.wallets))
        address = (await c.wallets.next_receive_address(self.user_id, wallet_id)).address
        sats = self.rng.randrange(10_000, 500_000, 1_000)
        txid = await self.chain.send(address, sats)
        await self.chain.mine(1)
        self.node.mine(1)
        self.blocks += 1
        for wid in self.wallets:
            with contextlib.suppress(DomainError):
                await c.sync.request_sync(self.user_id, wid, kind="auto")
        invoice = await c.lightning.create_invoice(
            self.user_id, self.node_id, amount_msat=self.rng.randrange(1_000, 100_000) * 1000, memo="demo coffee"
        )
        self.node.settle_invoice(invoice.payment_hash)
        happened = {
            "block": self.blocks,
            "wallet": self.wallets[wallet_id],
            "txid": txid,
            "sats": sats,
            "invoice": invoice.payment_hash,
        }
        log.info("demo_tick", **happened)
        return happened


async def run(opts: DemoOptions, ready: Callable[[dict[str, Any]], None], stop: asyncio.Event) -> None:
    """Start everything, seed, call ``ready(summary)``, then tick until ``stop`` is set."""
    from app.dev.devchain.runner import DevChain
    from app.dev.devlnd import DevLnd

    prepare_dir(opts.data_dir)
    data_dir = opts.data_dir.resolve()
    async with (
        DevChain.start(scenario=opts.scenario, seed=opts.seed, data_dir=data_dir / "devchain") as chain,
        DevLnd.start(seed=opts.seed) as node,
    ):
        settings = load_settings(
            data_dir=data_dir,
            database_url=f"sqlite+aiosqlite:///{data_dir / DB_NAME}",
            redis_url=None,
            secret_key=None,
            secret_key_file=None,
            host=opts.host,
            port=opts.port or 8000,  # the server binds opts.port itself (0: a free port)
            env="development",
            graphiql=True,
            introspection=True,
            chain_backend="electrum",  # tip and address notifications: new payments show at once
            lightning_allowed_hosts=["127.0.0.0/8", "::1"],  # the demo's own devlnd listens on loopback
            regtest_electrum_url=f"tcp://{chain.electrum_host}:{chain.electrum_port}",
            regtest_esplora_url=chain.esplora_url,
        )
        container = Container(settings)
        async with _serve(settings, container, opts.port) as server:
            port = server.servers[0].sockets[0].getsockname()[1]
            demo = Demo(container, chain, node, random.Random(opts.seed))
            await demo.seed(opts.email, opts.password)
            base = f"http://{opts.host}:{port}"
            ready(
                {
                    "graphiql": f"{base}/graphql",
                    "graphql": f"{base}/graphql",
                    "websocket": f"ws://{opts.host}:{port}/graphql",
                    "email": opts.email,
                    "password": opts.password,
                    "userId": demo.user_id,
                    "wallets": sorted(demo.wallets.values()),
                    "portfolioId": demo.portfolio_id,
                    "lightningNodeId": demo.node_id,
                    "blockIntervalS": opts.block_interval_s,
                    "dataDir": str(data_dir),
                    "devchain": {"esplora": chain.esplora_url, "control": chain.control_url},
                }
            )
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), opts.block_interval_s)
                    break
                try:
                    await demo.tick()
                except DomainError as exc:
                    log.warning("demo_tick_failed", error=exc.message)
