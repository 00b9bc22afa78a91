"""``DevLnd``: run the simulated LND over real TLS gRPC, in-process (tests) or via ``mbf devlnd``."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import grpc

from app.dev.devlnd.payments import PaymentEngine
from app.dev.devlnd.servicer import DevLndServicer, DevRouterServicer
from app.dev.devlnd.state import NodeState
from app.dev.devlnd.tls import make_cert
from app.lightning import macaroon as mac
from app.lightning.permissions import ADMIN_OPS, INVOICE_OPS, READONLY_OPS
from app.lightning.proto import lnrpc, routerrpc

DEFAULT_ROOT_KEY_ID = b"0"
# rpcserver.go's validEntities (macaroons.PermissionEntityCustomURI is "uri")
BAKE_ENTITIES = ("onchain", "offchain", "address", "message", "peers", "info", "invoices", "signer", "macaroon", "uri")


class DevLnd:
    """A simulated LND node. Use ``async with DevLnd.start(seed=1) as node:``."""

    def __init__(
        self,
        *,
        seed: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
        network: str = "regtest",
        alias: str = "devlnd",
        extra_hosts: list[str] | None = None,
        version: str | None = None,
        auto_settle_s: float | None = None,
        control_port: int | None = None,
    ) -> None:
        self.state = NodeState(seed=seed, network=network, alias=alias)
        if version:
            self.state.version = version  # e.g. "0.21.2-beta": payments then report INITIATED first
        self.payments = PaymentEngine(self.state)
        self.auto_settle_s = auto_settle_s  # invoices added over AddInvoice settle by themselves after this
        self.control_port = control_port  # None: no HTTP control endpoint
        self.control_url: str | None = None
        self._control: tuple[Any, asyncio.Task[None]] | None = None
        self.host = host
        self.port = port
        self.latency_s = 0.0
        self.alias_lookup = True  # False: ListChannels ignores peer_alias_lookup, like LND < 0.16
        self.starting = False  # True: answer like an LND that is still starting (UNKNOWN "waiting to start")
        self.calls: Counter[str] = Counter()  # RPCs received, by method name (tests assert on cost)
        cert, key = make_cert([host, *(extra_hosts or [])])
        self.tls_cert_pem = cert.decode()
        self._tls_key_pem = key
        rng = self.state.rng
        self.root_keys: dict[bytes, bytes] = {DEFAULT_ROOT_KEY_ID: rng.randbytes(32)}
        root = self.root_keys[DEFAULT_ROOT_KEY_ID]
        self.macaroons: dict[str, str] = {
            name: mac.mint(root, ops, nonce=rng.randbytes(16)).hex()
            for name, ops in (("readonly", READONLY_OPS), ("admin", ADMIN_OPS), ("invoice", INVOICE_OPS))
        }
        self._server: grpc.aio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, **kw: Any) -> AsyncIterator[DevLnd]:
        node = cls(**kw)
        await node.serve()
        if node.control_port is not None:
            await node.serve_control(node.control_port)
        try:
            yield node
        finally:
            await node.close()

    async def serve(self) -> None:
        """Bind (the same port again after :meth:`stop`) and start answering."""
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        main = DevLndServicer(self)
        lnrpc.add_LightningServicer_to_server(main, server)
        routerrpc.add_RouterServicer_to_server(DevRouterServicer(main), server)
        creds = grpc.ssl_server_credentials([(self._tls_key_pem, self.tls_cert_pem.encode())])
        bind = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        port = server.add_secure_port(bind, creds)
        if port == 0:
            raise OSError(f"devlnd could not bind {bind}")
        self.port = port
        await server.start()
        self._server = server

    async def stop(self) -> None:
        """The node disappears: open streams are cut, new calls fail with UNAVAILABLE."""
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None

    async def restart(self) -> None:
        await self.stop()
        await self.serve()

    async def close(self) -> None:
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()
        if self._control is not None:
            server, task = self._control
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._control = None
        await self.payments.close()
        await self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    async def serve_control(self, port: int = 0) -> str:
        """Start the HTTP control endpoint (see :mod:`app.dev.devlnd.control`); returns its URL."""
        import socket

        import uvicorn

        from app.dev.devchain.runner import _QuietServer
        from app.dev.devlnd.control import build_control_app

        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, port))
        sock.listen(64)
        server = _QuietServer(
            uvicorn.Config(build_control_app(self), log_level="warning", lifespan="off", access_log=False)
        )
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        self._control = (server, task)
        h = f"[{self.host}]" if ":" in self.host else self.host
        self.control_url = f"http://{h}:{sock.getsockname()[1]}"
        return self.control_url

    def info(self) -> dict[str, Any]:
        """What ``mbf devlnd`` prints."""
        return {
            "controlUrl": self.control_url,
            "host": self.host,
            "port": self.port,
            "tlsCert": self.tls_cert_pem,
            "macaroons": dict(self.macaroons),
            "pubkey": self.state.pubkey,
            "network": self.state.network,
        }

    # -- simulation hooks --------------------------------------------------------------------

    def mine(self, blocks: int = 1) -> None:
        self.state.mine(blocks)

    def simulate_forward(self, amount_sat: int = 10_000, **kw: Any) -> Any:
        return self.state.simulate_forward(amount_sat, **kw)

    def settle_invoice(self, payment_hash: str | bytes | None = None, **kw: Any) -> Any:
        return self.state.settle_invoice(payment_hash, **kw)

    def peer_invoice(self, peer: str, amount_msat: int, memo: str = "", expiry: int = 3600) -> str:
        """A payment request issued by a simulated node (pubkey or alias), payable by this node."""
        return self.payments.peer_invoice(peer, amount_msat, memo, expiry)

    def pay_in(self, sats: int, memo: str = "pay-in") -> Any:
        """Someone pays the node: an invoice is added and settled (both show on SubscribeInvoices)."""
        inv = self.state._new_invoice(memo, sats * 1000, 3600)
        self.state.emit("invoice", inv)
        return self.state.settle_invoice(inv.r_hash)

    def invoice_added(self, r_hash: bytes) -> None:
        """Called for every AddInvoice: with auto-settle on, the invoice settles after that many seconds."""
        if not self.auto_settle_s:
            return

        async def later() -> None:
            await asyncio.sleep(self.auto_settle_s or 0)
            inv = next((i for i in self.state.invoices if i.r_hash == r_hash), None)
            if inv is not None and not inv.settled:
                self.state.settle_invoice(r_hash)

        task = asyncio.create_task(later())
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._tasks.remove(t) if t in self._tasks else None)

    def set_channel_active(self, channel_point: str, active: bool) -> None:
        self.state.set_channel_active(channel_point, active)

    def set_latency(self, seconds: float) -> None:
        """Delay every answer (to test client deadlines)."""
        self.latency_s = seconds

    def bake_macaroon(self, req: Any) -> str:
        """LND's BakeMacaroon: validation and messages of ``rpcServer.BakeMacaroon``, a real v2 macaroon."""
        from app.dev.devlnd.state import LndError
        from app.lightning.permissions import METHOD_PERMISSIONS, method_path

        actions, entities = ("read", "write", "generate"), BAKE_ENTITIES
        help_msg = f"supported actions are [{' '.join(actions)}], supported entities are [{' '.join(entities)}]"
        if not req.permissions:
            raise LndError(f"permission list cannot be empty. specify at least one action/entity pair. {help_msg}")
        ops: dict[str, list[str]] = {}
        for p in req.permissions:
            if not req.allow_external_permissions:
                if p.entity not in entities:
                    raise LndError(f"invalid permission entity. {help_msg}")
                if p.entity == "uri":
                    if p.action not in {method_path(m) for m in METHOD_PERMISSIONS}:
                        raise LndError(
                            "invalid permission action, must be an existing URI in the format "
                            "/package.Service/MethodName"
                        )
                elif p.action not in actions:
                    raise LndError(f"invalid permission action. {help_msg}")
            ops.setdefault(p.entity, []).append(p.action)
        root_id = str(req.root_key_id).encode()
        root = self.root_keys.setdefault(root_id, self.state.rng.randbytes(32))
        grouped = {e: tuple(a) for e, a in ops.items()}
        baked = mac.mint(root, grouped, nonce=self.state.rng.randbytes(16), storage_id=root_id)
        return baked.hex()

    def bake(self, ops: dict[str, tuple[str, ...]], *, caveats: tuple[str, ...] = ()) -> str:
        """A macaroon with exactly ``ops`` (and first-party caveats), signed with the node's root key."""
        root = self.root_keys[DEFAULT_ROOT_KEY_ID]
        return mac.mint(root, ops, nonce=self.state.rng.randbytes(16), caveats=caveats).hex()

    def autopilot(self, *, block_interval_s: float = 0, forward_interval_s: float = 0) -> None:
        """Mine blocks / route forwards periodically (for ``mbf devlnd``)."""

        async def every(seconds: float, fn: Any) -> None:
            while True:
                await asyncio.sleep(seconds)
                with contextlib.suppress(Exception):
                    fn()

        if block_interval_s > 0:
            self._tasks.append(asyncio.create_task(every(block_interval_s, self.mine)))
        if forward_interval_s > 0:
            self._tasks.append(asyncio.create_task(every(forward_interval_s, self.simulate_forward)))
