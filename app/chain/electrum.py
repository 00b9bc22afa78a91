"""Electrum protocol backend (electrs, ElectrumX, Fulcrum) over TCP or TLS.

Newline-delimited JSON-RPC 2.0 on one long-lived connection per backend: request ids, batched
requests (a JSON array on one line) for many scripthashes at once, ``server.version``
negotiation, subscriptions to headers and scripthashes whose notifications are dispatched to
listeners, reconnection with backoff (re-subscribing what was watched) and timeouts.

TLS (``ssl://``): with a pinned certificate (a path or PEM text, ``MBF_ELECTRUM_TLS_CERT``) the
server's self-signed certificate is accepted when it is that one; otherwise the system's
default verification applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog

from app.backoff import Backoff
from app.chain.backend import (
    BlockHeader,
    BlockRef,
    BroadcastRejected,
    ChainTx,
    FeeEstimates,
    HistoryEntry,
    KnownHistory,
    ScripthashHistory,
    ScripthashListener,
    TipListener,
    Utxo,
    history_status,
    rejection_reason,
)
from app.chain.rawtx import decode_header, decode_tx
from app.chain.retry import Breaker, Transient, with_retries
from app.errors import UpstreamUnavailable

log = structlog.get_logger(__name__)

CLIENT_NAME = "mybitcoinfuture"
PROTOCOL_VERSION = "1.4"
MAX_BATCH = 500  # requests per JSON array; servers cap the size of one message
STREAM_LIMIT = 64 * 1024 * 1024


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def parse_electrum_url(url: str) -> tuple[str, int, bool]:
    """``tcp://host:port`` or ``ssl://host:port`` -> (host, port, tls)."""
    parts = urlsplit(url)
    if parts.scheme not in ("tcp", "ssl") or not parts.hostname or not parts.port:
        raise ValueError(f"bad Electrum URL {url!r}: use tcp://host:port or ssl://host:port")
    return parts.hostname, parts.port, parts.scheme == "ssl"


def tls_context(cert: str | None) -> ssl.SSLContext:
    """Default verification, or trust exactly the given certificate (path or PEM)."""
    if not cert:
        return ssl.create_default_context()
    pem = cert if "-----BEGIN" in cert else Path(cert).read_text()
    ctx = ssl.create_default_context(cadata=pem)
    # A pinned self-signed certificate rarely names the host we dial (127.0.0.1, a LAN name);
    # trust comes from the pin itself.
    ctx.check_hostname = False
    return ctx


class _Connection:
    """One socket: writes requests, a reader task resolves futures and dispatches notifications."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, owner: ElectrumBackend) -> None:
        self.reader = reader
        self.writer = writer
        self.owner = owner
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.closed = False
        self.task = asyncio.create_task(self._read_loop(), name="electrum-reader")

    async def _read_loop(self) -> None:
        why = "connection closed by the server"
        try:
            while True:
                line = await self.reader.readline()
                if not line:
                    break
                try:
                    msg = json.loads(line)
                except json.JSONDecodeError:
                    why = "invalid JSON from the server"
                    break
                for item in msg if isinstance(msg, list) else [msg]:
                    self._handle(item)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            why = f"{type(exc).__name__}: {exc}"
        except asyncio.CancelledError:
            why = "closed"
        finally:
            self._fail_all(why)
            self.owner._connection_lost(self, why)

    def _handle(self, item: dict[str, Any]) -> None:
        rid = item.get("id")
        if rid is None and "method" in item:
            self.owner._notify(item["method"], item.get("params") or [])
            return
        fut = self.pending.pop(rid, None) if isinstance(rid, int) else None
        if fut is None or fut.done():
            return
        if item.get("error"):
            err = item["error"]
            if isinstance(err, dict):
                fut.set_exception(RpcError(int(err.get("code", -1)), str(err.get("message", err))))
            else:
                fut.set_exception(RpcError(-1, str(err)))
        else:
            fut.set_result(item.get("result"))

    def _fail_all(self, why: str) -> None:
        self.closed = True
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(Transient(why))
        self.pending.clear()

    async def send(self, payload: list[dict[str, Any]] | dict[str, Any]) -> None:
        if self.closed:
            raise Transient("connection closed")
        try:
            self.writer.write(json.dumps(payload, separators=(",", ":")).encode() + b"\n")
            await self.writer.drain()
        except (OSError, RuntimeError) as exc:
            raise Transient(f"write failed: {exc}") from None

    async def close(self) -> None:
        self.closed = True
        self.task.cancel()
        with contextlib.suppress(Exception):
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)
        with contextlib.suppress(BaseException):
            await self.task


class ElectrumBackend:
    """The Electrum protocol for one network."""

    name = "electrum"
    supports_subscriptions = True

    def __init__(
        self,
        url: str,
        *,
        network: str,
        timeout_s: float = 15.0,
        retries: int = 3,
        concurrency: int = 16,
        tls_cert: str | None = None,
    ) -> None:
        self.url = url
        self.network = network
        self.host, self.port, self.tls = parse_electrum_url(url)
        self.timeout_s = timeout_s
        self.retries = retries
        self.tls_cert = tls_cert
        self._sem = asyncio.Semaphore(concurrency)
        self._breaker = Breaker()
        self._ids = itertools.count(1)
        self._conn: _Connection | None = None
        self._connect_lock = asyncio.Lock()
        self._tip_listeners: list[TipListener] = []
        self._sh_listeners: list[ScripthashListener] = []
        self._watched: set[str] = set()
        # Latest status of each subscribed scripthash, kept current by notifications while the
        # connection lives: an incremental sync with nothing new needs no round trip at all.
        self._status: dict[str, str | None] = {}
        self._last_tip: BlockRef | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._closing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.server_version: str | None = None
        self.requests = 0  # JSON-RPC calls sent (a batch counts each of its calls)
        self.round_trips = 0

    # -- connection --------------------------------------------------------------------------

    async def _open(self) -> _Connection:
        try:
            ctx = tls_context(self.tls_cert) if self.tls else None
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise UpstreamUnavailable(f"Electrum server {self.url}: cannot load the TLS certificate: {exc}") from None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=ctx,
                    server_hostname=self.host if ctx else None,
                    limit=STREAM_LIMIT,
                ),
                timeout=min(self.timeout_s, 10.0),
            )
        except TimeoutError:
            raise Transient("connect timed out") from None
        except ssl.SSLError as exc:
            raise Transient(f"TLS handshake failed: {exc.reason or exc}") from None
        except OSError as exc:
            raise Transient(f"cannot connect: {exc.strerror or exc}") from None
        conn = _Connection(reader, writer, self)
        try:
            version = await self._call_on(conn, "server.version", [CLIENT_NAME, PROTOCOL_VERSION])
        except RpcError as exc:
            await conn.close()
            raise UpstreamUnavailable(
                f"Electrum server {self.url} refused protocol {PROTOCOL_VERSION}: {exc.message}"
            ) from None
        except BaseException:
            await conn.close()
            raise
        self.server_version = version[0] if isinstance(version, list) and version else str(version)
        return conn

    async def _connection(self) -> _Connection:
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        async with self._connect_lock:
            if self._conn is not None and not self._conn.closed:
                return self._conn
            if self._closing:
                raise UpstreamUnavailable(f"Electrum backend {self.url} is closed")
            self._conn = await self._open()
            resubscribe = bool(self._tip_listeners or self._watched)
        if resubscribe:
            await self._resubscribe(self._conn)
        return self._conn

    def _connection_lost(self, conn: _Connection, why: str) -> None:
        if conn is not self._conn or self._closing:
            return
        log.warning("electrum_disconnected", server=self.url, why=why)
        self._conn = None
        self._status.clear()
        if (self._tip_listeners or self._watched) and (self._keeper is None or self._keeper.done()):
            self._keeper = asyncio.create_task(self._reconnect_loop(), name="electrum-reconnect")

    async def _reconnect_loop(self) -> None:
        """Keep subscriptions alive: reconnect with backoff until it works or we close."""
        backoff = Backoff(0.5, 30.0)
        while not self._closing:
            try:
                await self._connection()
                log.info("electrum_reconnected", server=self.url)
                return
            except (Transient, UpstreamUnavailable) as exc:
                log.debug("electrum_reconnect_failed", server=self.url, why=str(exc))
                await asyncio.sleep(backoff.next())

    async def _resubscribe(self, conn: _Connection) -> None:
        try:
            if self._tip_listeners:
                res = await self._call_on(conn, "blockchain.headers.subscribe", [])
                self._on_header(res)
            shs = sorted(self._watched)
            for i in range(0, len(shs), MAX_BATCH):
                chunk = shs[i : i + MAX_BATCH]
                results = await self._batch_on(conn, [("blockchain.scripthash.subscribe", [sh]) for sh in chunk])
                # A status may have changed while we were away: tell the listeners.
                for sh, status in zip(chunk, results, strict=True):
                    if not isinstance(status, BaseException):
                        self._dispatch_sh(sh, status)
        except (Transient, RpcError, TimeoutError) as exc:
            log.warning("electrum_resubscribe_failed", server=self.url, why=str(exc))

    # -- requests -------------------------------------------------------------------------------

    async def _call_on(self, conn: _Connection, method: str, params: list[Any]) -> Any:
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        conn.pending[rid] = fut
        self.requests += 1
        self.round_trips += 1
        await conn.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        try:
            return await asyncio.wait_for(fut, self.timeout_s)
        except TimeoutError:
            conn.pending.pop(rid, None)
            raise Transient(f"{method} timed out after {self.timeout_s}s") from None

    async def _batch_on(self, conn: _Connection, calls: Sequence[tuple[str, list[Any]]]) -> list[Any | BaseException]:
        loop = asyncio.get_running_loop()
        ids = [next(self._ids) for _ in calls]
        futs: list[asyncio.Future[Any]] = []
        for rid in ids:
            fut: asyncio.Future[Any] = loop.create_future()
            conn.pending[rid] = fut
            futs.append(fut)
        payload = [
            {"jsonrpc": "2.0", "id": rid, "method": m, "params": p} for rid, (m, p) in zip(ids, calls, strict=True)
        ]
        self.requests += len(calls)
        self.round_trips += 1
        await conn.send(payload)
        try:
            done = await asyncio.wait_for(asyncio.gather(*futs, return_exceptions=True), self.timeout_s)
        except TimeoutError:
            for rid in ids:
                conn.pending.pop(rid, None)
            raise Transient(f"batch of {len(calls)} timed out after {self.timeout_s}s") from None
        for r in done:
            if isinstance(r, Transient):  # the connection dropped mid-batch: retry it whole
                raise r
        return list(done)

    async def call(self, method: str, params: list[Any] | None = None) -> Any:
        """One request, with retries (reconnecting as needed)."""

        async def once() -> Any:
            async with self._sem:
                conn = await self._connection()
                return await self._call_on(conn, method, params or [])

        try:
            return await with_retries(once, retries=self.retries, server=self.url, breaker=self._breaker)
        except RpcError as exc:
            raise UpstreamUnavailable(f"Electrum server {self.url}: {method} failed: {exc.message}") from None

    async def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any | BaseException]:
        """Many requests as JSON arrays (chunks of ``MAX_BATCH``, sent concurrently).

        Returns one result per call, or the ``RpcError`` the server answered for that call.
        """
        if not calls:
            return []

        async def chunk(part: Sequence[tuple[str, list[Any]]]) -> list[Any | BaseException]:
            async def once() -> list[Any | BaseException]:
                async with self._sem:
                    conn = await self._connection()
                    return await self._batch_on(conn, part)

            return await with_retries(once, retries=self.retries, server=self.url, breaker=self._breaker)

        parts = [calls[i : i + MAX_BATCH] for i in range(0, len(calls), MAX_BATCH)]
        results = await asyncio.gather(*(chunk(p) for p in parts))
        return [r for part in results for r in part]

    # -- notifications ----------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_header(self, res: Any) -> BlockRef | None:
        if not isinstance(res, dict) or "hex" not in res:
            return None
        header = decode_header(res["hex"], int(res["height"]))
        ref = BlockRef(header.height, header.hash)
        changed = ref != self._last_tip
        self._last_tip = ref
        if changed:
            for listener in list(self._tip_listeners):
                self._spawn(listener(ref))
        return ref

    def _dispatch_sh(self, scripthash: str, status: str | None) -> None:
        self._status[scripthash] = status
        for listener in list(self._sh_listeners):
            self._spawn(listener(scripthash, status))

    def _notify(self, method: str, params: list[Any]) -> None:
        try:
            if method == "blockchain.headers.subscribe" and params:
                self._on_header(params[0])
            elif method == "blockchain.scripthash.subscribe" and len(params) >= 2:
                self._dispatch_sh(str(params[0]), params[1])
        except (ValueError, KeyError, TypeError):
            log.warning("electrum_bad_notification", server=self.url, method=method)

    # -- ChainBackend ---------------------------------------------------------------------

    async def tip(self) -> BlockRef:
        res = await self.call("blockchain.headers.subscribe")
        ref = self._on_header(res)
        if ref is None:
            raise UpstreamUnavailable(f"Electrum server {self.url} sent a malformed header")
        return ref

    async def block_headers(self, heights: Sequence[int]) -> dict[int, BlockHeader]:
        wanted = sorted(set(h for h in heights if h >= 0))
        results = await self.batch([("blockchain.block.header", [h]) for h in wanted])
        out: dict[int, BlockHeader] = {}
        for h, raw in zip(wanted, results, strict=True):
            if isinstance(raw, str):
                out[h] = decode_header(raw, h)
        return out

    async def block_hashes(self, heights: Sequence[int]) -> dict[int, str]:
        return {h: hdr.hash for h, hdr in (await self.block_headers(heights)).items()}

    async def statuses(self, scripthashes: Sequence[str]) -> dict[str, str | None]:
        """Current status hashes (``blockchain.scripthash.subscribe``, batched)."""
        results = await self.batch([("blockchain.scripthash.subscribe", [sh]) for sh in scripthashes])
        out: dict[str, str | None] = {}
        for sh, res in zip(scripthashes, results, strict=True):
            if isinstance(res, BaseException):
                raise UpstreamUnavailable(f"Electrum server {self.url}: subscribe failed: {res}")
            out[sh] = res
        self._watched.update(scripthashes)
        self._status.update(out)
        return out

    async def histories(
        self, scripthashes: Sequence[str], known: Mapping[str, KnownHistory] | None = None, *, fresh: bool = False
    ) -> dict[str, ScripthashHistory | None]:
        out: dict[str, ScripthashHistory | None] = {}
        todo = list(scripthashes)
        if known:
            # One batched round trip for the statuses; fetch only what changed.
            with_known = [sh for sh in todo if sh in known]
            alive = self._conn is not None and not self._conn.closed and not fresh
            cached = {sh: self._status[sh] for sh in with_known if alive and sh in self._status}
            ask = [sh for sh in with_known if sh not in cached]
            if with_known:
                current = {**cached, **(await self.statuses(ask) if ask else {})}
                for sh in with_known:
                    if current[sh] == known[sh].status:
                        out[sh] = None
                todo = [sh for sh in todo if sh not in out]
        results = await self.batch([("blockchain.scripthash.get_history", [sh]) for sh in todo])
        for sh, res in zip(todo, results, strict=True):
            if isinstance(res, BaseException):
                raise UpstreamUnavailable(f"Electrum server {self.url}: get_history failed: {res}")
            entries = [HistoryEntry(e["tx_hash"], int(e["height"]), int(e["fee"]) if "fee" in e else None) for e in res]
            out[sh] = ScripthashHistory(sh, entries, {}, history_status(entries))
        return out

    async def transactions_hex(self, txids: Sequence[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(txids))
        results = await self.batch([("blockchain.transaction.get", [t]) for t in wanted])
        return {t: r for t, r in zip(wanted, results, strict=True) if isinstance(r, str)}

    async def transactions(self, txids: Sequence[str]) -> dict[str, ChainTx]:
        """Decoded transactions; confirmation data is not included (it comes from histories)."""
        raw = await self.transactions_hex(txids)
        out: dict[str, ChainTx] = {}
        for txid, hex_ in raw.items():
            try:
                out[txid] = decode_tx(hex_)
            except ValueError as exc:
                raise UpstreamUnavailable(
                    f"Electrum server {self.url} sent an undecodable transaction {txid}: {exc}"
                ) from None
        return out

    async def utxos(self, scripthash: str) -> list[Utxo]:
        res = await self.call("blockchain.scripthash.listunspent", [scripthash])
        return [Utxo(u["tx_hash"], int(u["tx_pos"]), int(u["value"]), max(0, int(u["height"]))) for u in res]

    async def fee_estimates(self) -> FeeEstimates:
        """``blockchain.estimatefee`` per target (BTC/kvB; -1 when the node cannot tell), the
        mempool histogram (``mempool.get_fee_histogram``, optional on servers) and the relay fee,
        in one batch."""
        targets = [1, 2, 3, 6, 12, 24, 144, 504, 1008]
        calls: list[tuple[str, list[Any]]] = [("blockchain.estimatefee", [t]) for t in targets]
        calls += [("mempool.get_fee_histogram", []), ("blockchain.relayfee", [])]
        results = await self.batch(calls)
        rates: dict[int, float] = {}
        for t, r in zip(targets, results[: len(targets)], strict=True):
            if isinstance(r, int | float) and not isinstance(r, bool) and r > 0:
                rates[t] = float(r) * 1e8 / 1000  # BTC/kvB -> sat/vB
        if not rates:
            raise UpstreamUnavailable(f"Electrum server {self.url} has no fee estimates yet")
        hist_raw, relay = results[len(targets)], results[len(targets) + 1]
        histogram: tuple[tuple[float, int], ...] = ()
        if isinstance(hist_raw, list):
            try:
                histogram = tuple((float(r), int(v)) for r, v in hist_raw)
            except (TypeError, ValueError):
                histogram = ()
        min_relay = float(relay) * 1e8 / 1000 if isinstance(relay, int | float) and relay > 0 else None
        return FeeEstimates(rates, histogram, min_relay)

    async def broadcast(self, raw_hex: str) -> str:
        async def once() -> Any:
            async with self._sem:
                conn = await self._connection()
                return await self._call_on(conn, "blockchain.transaction.broadcast", [raw_hex.strip()])

        try:
            return str(await with_retries(once, retries=self.retries, server=self.url, breaker=self._breaker))
        except RpcError as exc:
            raise BroadcastRejected(*rejection_reason(exc.message)) from None

    async def subscribe_tip(self, listener: TipListener) -> BlockRef:
        # The tip is read before the listener joins, so the listener hears only later blocks: a
        # restarted server does not take the block it already synced at for a new one. Nothing can
        # arrive between the read and the append (no await in between).
        ref = await self.tip()
        self._tip_listeners.append(listener)
        return self._last_tip or ref

    async def subscribe_scripthashes(
        self, scripthashes: Sequence[str], listener: ScripthashListener
    ) -> dict[str, str | None]:
        if listener not in self._sh_listeners:
            self._sh_listeners.append(listener)
        return await self.statuses(scripthashes)

    async def health(self) -> dict[str, object]:
        try:
            await self.call("server.ping")
        except UpstreamUnavailable as exc:
            return {"ok": False, "backend": self.name, "url": self.url, "error": exc.message}
        return {
            "ok": True,
            "backend": self.name,
            "url": self.url,
            "server": self.server_version,
            "tip": self._last_tip.height if self._last_tip else None,
            "watched": len(self._watched),
        }

    async def close(self) -> None:
        self._closing = True
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(BaseException):
                await self._keeper
        for task in list(self._tasks):
            task.cancel()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
