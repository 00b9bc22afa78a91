"""DevChain: generate (or load) a scenario and serve it in-process.

    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path) as chain:
        chain.esplora_url, chain.electrum_host, chain.electrum_port, chain.electrum_tls_port
        await chain.mine(); txid = await chain.send(address, sats)
        await chain.reorg(depth=3); await chain.replace(txid)

`DevChain.build(scenario, seed)` gives the same object without servers (for unit tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import socket
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any

import uvicorn

from app.dev.devchain.chain import GENESIS_HASH
from app.dev.devchain.control import build_control_app
from app.dev.devchain.core import CoreNode, ZmqPublisher, build_core_app, write_cookie
from app.dev.devchain.electrum import ElectrumServer
from app.dev.devchain.esplora import build_app
from app.dev.devchain.ledger import wallet_figures
from app.dev.devchain.primitives import address_to_spk
from app.dev.devchain.scenarios import SCENARIOS, generate
from app.dev.devchain.state import DevState, ScenarioError
from app.dev.devchain.tlscert import load_or_create, server_context

CACHE_VERSION = 5
log = logging.getLogger(__name__)


class _QuietServer(uvicorn.Server):
    """uvicorn without signal handling (we run inside someone else's event loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _cache_path(data_dir: Path, scenario: str, seed: int) -> Path:
    return Path(data_dir) / "devchain-cache" / f"{scenario}-seed{seed}-v{CACHE_VERSION}.pickle"


def _load_state(scenario: str, seed: int, data_dir: Path | None) -> tuple[DevState, dict[str, Any], bool]:
    if scenario not in SCENARIOS:
        raise ScenarioError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    if data_dir is not None:
        path = _cache_path(data_dir, scenario, seed)
        if path.exists():
            try:
                with path.open("rb") as f:
                    key, state, expected = pickle.load(f)
                if key == (CACHE_VERSION, scenario, seed):
                    return state, expected, True
            except Exception:  # a stale or broken cache is regenerated
                log.warning("devchain cache %s unreadable, regenerating", path)
    state, expected = generate(scenario, seed)
    if data_dir is not None:
        path = _cache_path(data_dir, scenario, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump(((CACHE_VERSION, scenario, seed), state, expected), f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    return state, expected, False


class DevChain:
    def __init__(
        self,
        state: DevState,
        expected: dict[str, Any],
        latency_ms: int = 0,
        host: str = "127.0.0.1",
        from_cache: bool = False,
    ) -> None:
        self.state = state
        self.initial_expected = expected
        self.latency_ms = latency_ms
        self.host = host
        self.from_cache = from_cache
        self.esplora_url = ""
        self.control_url = ""
        self.electrum_host = host
        self.electrum_port = 0
        self.electrum_tls_port: int | None = None
        self.tls_cert_pem = b""
        self.tls_cert_path: Path | None = None
        self.block_interval: float | None = None
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None
        self._servers: list[tuple[_QuietServer, asyncio.Task[None]]] = []
        self._electrum: ElectrumServer | None = None
        self.last_reorg: dict[str, Any] | None = None
        self.last_replacement: dict[str, str] | None = None
        # Bitcoin Core's JSON-RPC and ZMQ (app/dev/devchain/core.py)
        self.core: CoreNode | None = None
        self.core_rpc_url = ""
        self.core_cookie_file: Path | None = None
        self.core_zmq_hashblock = ""
        self.core_zmq_rawtx = ""
        self._zmq: ZmqPublisher | None = None

    # ------------------------------------------------------------ construction

    @classmethod
    def build(cls, scenario: str = "small", seed: int = 1, data_dir: Path | None = None) -> DevChain:
        state, expected, cached = _load_state(scenario, seed, data_dir)
        return cls(state, expected, from_cache=cached)

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        scenario: str = "small",
        seed: int = 1,
        data_dir: Path | None = None,
        latency_ms: int = 0,
        host: str = "127.0.0.1",
        esplora_port: int = 0,
        electrum_port: int = 0,
        electrum_tls_port: int | None = 0,
        control_port: int = 0,
        block_interval: float | None = None,
        core_port: int | None = 0,
    ) -> AsyncIterator[DevChain]:
        state, expected, cached = await asyncio.to_thread(_load_state, scenario, seed, data_dir)
        dc = cls(state, expected, latency_ms=latency_ms, host=host, from_cache=cached)
        try:
            await dc._serve(esplora_port, electrum_port, electrum_tls_port, control_port, data_dir)
            if core_port is not None:
                await dc._serve_core(core_port, data_dir)
            if block_interval:
                dc.set_block_interval(block_interval)
            yield dc
        finally:
            await dc.close()

    async def _serve(
        self,
        esplora_port: int,
        electrum_port: int,
        electrum_tls_port: int | None,
        control_port: int,
        data_dir: Path | None,
    ) -> None:
        chain = self.state.chain
        port = await self._uvicorn(build_app(chain, self.latency_ms), esplora_port)
        self.esplora_url = f"http://{self.host}:{port}"
        cport = await self._uvicorn(build_control_app(self), control_port)
        self.control_url = f"http://{self.host}:{cport}"
        ssl_ctx = None
        if electrum_tls_port is not None:
            pem, cert_path, key_path = await asyncio.to_thread(load_or_create, data_dir, self.host)
            self.tls_cert_pem = pem
            self.tls_cert_path = cert_path
            ssl_ctx = server_context(cert_path, key_path)
        self._electrum = ElectrumServer(chain, self.latency_ms)
        self.electrum_port, self.electrum_tls_port = await self._electrum.start(
            self.host, electrum_port, electrum_tls_port, ssl_ctx
        )

    async def _serve_core(self, port: int, data_dir: Path | None) -> None:
        """Core's JSON-RPC (cookie auth: ``<data_dir>/regtest/.cookie``) and ZMQ publishers."""
        import tempfile

        self.core = CoreNode(self.state.chain, latency_ms=self.latency_ms)
        cport = await self._uvicorn(build_core_app(self.core), port)
        self.core_rpc_url = f"http://{self.host}:{cport}"
        base = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="mbf-devchain-"))
        self.core_cookie_file = await asyncio.to_thread(write_cookie, base / "regtest" / ".cookie", self.core.cookie)
        self._zmq = ZmqPublisher(self.state.chain, self.host)
        self.core_zmq_hashblock = self._zmq.addresses["hashblock"]
        self.core_zmq_rawtx = self._zmq.addresses["rawtx"]

    async def _uvicorn(self, app: Any, port: int) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted sockets inherit this (Linux): no Nagle delay between header and body writes
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, port))
        sock.listen(128)
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        server = _QuietServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        self._servers.append((server, task))
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        return int(sock.getsockname()[1])

    async def close(self) -> None:
        self.set_block_interval(None)
        if self._zmq is not None:
            self._zmq.close()
            self._zmq = None
        if self._electrum is not None:
            await self._electrum.close()
            self._electrum = None
        for server, _task in self._servers:
            server.should_exit = True
        for _server, task in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
        self._servers = []

    # ------------------------------------------------------------ info

    @property
    def chain(self) -> Any:
        return self.state.chain

    def expected(self, wallet: str) -> dict[str, int]:
        """Current expected figures of a wallet, recomputed from blocks + mempool."""
        return wallet_figures(self.state.chain, self.state.wallet(wallet))

    @property
    def info(self) -> dict[str, Any]:
        st = self.state
        ch = st.chain
        wallets = []
        for w in st.wallets:
            d = w.public_info()
            d["expected"] = wallet_figures(ch, w)
            d["usedAddresses"] = {"receive": w.next_index[0], "change": w.next_index[1]}
            wallets.append(d)
        return {
            "network": "regtest",
            "scenario": st.scenario,
            "seed": st.seed,
            "esplora": self.esplora_url,
            "electrum": {
                "host": self.electrum_host,
                "port": self.electrum_port,
                "tlsPort": self.electrum_tls_port,
                "tlsCertPath": str(self.tls_cert_path) if self.tls_cert_path else None,
                "protocol": "1.4",
            },
            "control": self.control_url,
            "core": {
                "rpcUrl": self.core_rpc_url,
                "cookieFile": str(self.core_cookie_file) if self.core_cookie_file else None,
                "zmqHashblock": self.core_zmq_hashblock,
                "zmqRawtx": self.core_zmq_rawtx,
            }
            if self.core is not None
            else None,
            "latencyMs": self.latency_ms,
            "genesisHash": GENESIS_HASH,
            "tip": {"height": ch.height, "hash": ch.tip.hash, "time": ch.tip.time},
            "mempoolSize": len(ch.mempool),
            "fromCache": self.from_cache,
            "scenarioMeta": dict(st.meta),
            "wallets": wallets,
        }

    # ------------------------------------------------------------ control

    async def mine(self, n: int = 1) -> list[str]:
        async with self._lock:
            hashes = self.state.mine(n)
        await self._flush()
        return hashes

    async def send(self, address: str, sats: int) -> str:
        try:
            spk = address_to_spk(address)
        except ValueError as e:
            raise ScenarioError(str(e)) from None
        async with self._lock:
            tx = self.state.send(spk, sats)
        await self._flush()
        return tx.txid

    async def send_to_script(self, script_pubkey: bytes, sats: int) -> str:
        """Pay a script that has no address (bare ``pk()``/``multi()``) from the faucet."""
        async with self._lock:
            tx = self.state.send(script_pubkey, sats)
        await self._flush()
        return tx.txid

    async def reorg(self, depth: int = 3, drop: bool = True) -> dict[str, Any]:
        async with self._lock:
            result = self.state.reorg(depth, drop=drop)
        self.last_reorg = result
        await self._flush()
        return result

    async def replace(self, txid: str | None = None) -> str:
        async with self._lock:
            if txid is None:
                meta = self.state.meta.get("replaceable")
                if not isinstance(meta, str):
                    raise ScenarioError("no replaceable transaction in this scenario")
                txid = meta
            new = self.state.replace(txid)
            if self.state.meta.get("replaceable") == txid:
                self.state.meta["replaceable"] = new.txid
                self.state.meta.setdefault("replaced", [])
                replaced = self.state.meta["replaced"]
                if isinstance(replaced, list):
                    replaced.append(txid)
        self.last_replacement = {"old": txid, "new": new.txid}
        await self._flush()
        return new.txid

    async def _flush(self) -> None:
        """Let pending electrum notifications go out before returning to the caller."""
        if self._electrum is not None:
            await self._electrum.flush()

    async def set_fees(self, rates: dict[int, float] | None) -> dict[int, float]:
        """Serve other fee estimates on Esplora and Electrum (``None``: the defaults)."""
        async with self._lock:
            self.state.chain.set_fee_estimates(rates)
            return self.state.chain.fee_estimates()

    def set_block_interval(self, seconds: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.block_interval = seconds
        if seconds:
            self._timer = asyncio.get_running_loop().create_task(self._mine_every(seconds))

    async def _mine_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self.mine(1)


class ThreadedDevChain:
    """A DevChain served from its own thread and event loop.

    Same attributes and async control methods as `DevChain`, usable from any event loop (or
    synchronously through `call`), so one instance can be shared by a whole pytest session.
    """

    def __init__(self, chain: DevChain, loop: asyncio.AbstractEventLoop) -> None:
        self._chain = chain
        self._loop = loop
        self.esplora_url = chain.esplora_url
        self.control_url = chain.control_url
        self.electrum_host = chain.electrum_host
        self.electrum_port = chain.electrum_port
        self.electrum_tls_port = chain.electrum_tls_port
        self.tls_cert_pem = chain.tls_cert_pem
        self.tls_cert_path = chain.tls_cert_path
        self.state = chain.state
        self.core = chain.core
        self.core_rpc_url = chain.core_rpc_url
        self.core_cookie_file = chain.core_cookie_file
        self.core_zmq_hashblock = chain.core_zmq_hashblock
        self.core_zmq_rawtx = chain.core_zmq_rawtx

    def call(self, coro: Any) -> Any:
        """Run a coroutine on the devchain's loop and wait for it (from a sync context)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(120)

    async def _acall(self, coro: Any) -> Any:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    @property
    def info(self) -> dict[str, Any]:
        async def get() -> dict[str, Any]:
            return self._chain.info

        return self.call(get())

    def expected(self, wallet: str) -> dict[str, int]:
        async def get() -> dict[str, int]:
            return self._chain.expected(wallet)

        return self.call(get())

    async def mine(self, n: int = 1) -> list[str]:
        return await self._acall(self._chain.mine(n))

    async def send(self, address: str, sats: int) -> str:
        return await self._acall(self._chain.send(address, sats))

    async def send_to_script(self, script_pubkey: bytes, sats: int) -> str:
        return await self._acall(self._chain.send_to_script(script_pubkey, sats))

    async def reorg(self, depth: int = 3, drop: bool = True) -> dict[str, Any]:
        return await self._acall(self._chain.reorg(depth, drop))

    async def replace(self, txid: str | None = None) -> str:
        return await self._acall(self._chain.replace(txid))

    async def set_fees(self, rates: dict[int, float] | None) -> dict[int, float]:
        return await self._acall(self._chain.set_fees(rates))

    def set_block_interval(self, seconds: float | None) -> None:
        self._loop.call_soon_threadsafe(self._chain.set_block_interval, seconds)


@contextlib.contextmanager
def start_in_thread(**kwargs: Any) -> Generator[ThreadedDevChain, None, None]:
    """`DevChain.start(**kwargs)` in a background thread; a sync context manager."""
    import threading

    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        stop_async = asyncio.Event()
        box["stop"] = stop_async
        try:
            async with DevChain.start(**kwargs) as dc:
                box["chain"] = dc
                started.set()
                await stop_async.wait()
        except BaseException as exc:  # reported to the caller
            box["error"] = exc
            started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main())
        loop.close()

    thread = threading.Thread(target=run, name="devchain", daemon=True)
    thread.start()
    started.wait(300)
    if "error" in box:
        thread.join(5)
        raise box["error"]
    handle = ThreadedDevChain(box["chain"], loop)
    try:
        yield handle
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(30)
