"""Electrum protocol server (1.4): newline-delimited JSON-RPC over TCP and TLS, batches,
header and script-hash subscriptions with notifications."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import ssl
from typing import Any

from app.dev.devchain.chain import GENESIS_HASH, MIN_RELAY_FEERATE, Chain, ChainEvent, RejectError
from app.dev.devchain.primitives import merkle_branch, merkle_root, parse_tx, scripthash

log = logging.getLogger(__name__)

PROTOCOL = "1.4"
SERVER_VERSION = "mbf-devchain 0.1"
MAX_HEADERS = 2016

# JSON-RPC / ElectrumX error codes
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
BAD_REQUEST = 1
DAEMON_ERROR = 2


class RPCError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _hash_arg(v: Any, what: str = "scripthash") -> str:
    if not isinstance(v, str) or len(v) != 64:
        raise RPCError(BAD_REQUEST, f"{v!r} is not a valid {what}")
    try:
        bytes.fromhex(v)
    except ValueError:
        raise RPCError(BAD_REQUEST, f"{v!r} is not a valid {what}") from None
    return v.lower()


def _int_arg(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise RPCError(BAD_REQUEST, f"{what} must be a non-negative integer: {v!r}")
    return v


class ElectrumService:
    """Protocol logic, independent of the transport."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def header_hex(self, height: int) -> str:
        b = self.chain.block_at(height)
        if b is None:
            raise RPCError(BAD_REQUEST, f"height {height} out of range")
        return b.header_raw.hex()

    def tip_json(self) -> dict[str, Any]:
        return {"height": self.chain.height, "hex": self.chain.tip.header_raw.hex()}

    def history(self, sh: str) -> list[dict[str, Any]]:
        ch = self.chain
        conf, mem = ch.history(sh)
        out: list[dict[str, Any]] = [{"height": ch.confirmed_at[t.txid][0], "tx_hash": t.txid} for t in conf]
        mem_items: list[dict[str, Any]] = []
        for t in mem:
            h = -1 if ch.mempool_ancestors_unconfirmed(t) else 0
            mem_items.append({"height": h, "tx_hash": t.txid, "fee": t.fee})
        # ElectrumX orders mempool entries by (height desc: 0 before -1), then tx hash
        mem_items.sort(key=lambda d: (-int(d["height"]), str(d["tx_hash"])))
        return out + mem_items

    def status(self, sh: str) -> str | None:
        hist = self.history(sh)
        if not hist:
            return None
        s = "".join(f"{h['tx_hash']}:{h['height']}:" for h in hist)
        return hashlib.sha256(s.encode()).hexdigest()

    def balance(self, sh: str) -> dict[str, int]:
        ch = self.chain
        conf, mem = ch.history(sh)
        confirmed = unconfirmed = 0
        for txs, is_conf in ((conf, True), (mem, False)):
            for tx in txs:
                delta = sum(o.value for o in tx.vout if scripthash(o.spk) == sh)
                if not tx.is_coinbase:
                    for inp in tx.vin:
                        p = ch.prevout(inp)
                        if p is not None and scripthash(p.spk) == sh:
                            delta -= p.value
                if is_conf:
                    confirmed += delta
                else:
                    unconfirmed += delta
        return {"confirmed": confirmed, "unconfirmed": unconfirmed}

    def listunspent(self, sh: str) -> list[dict[str, Any]]:
        ch = self.chain
        conf, mem = ch.history(sh)
        out = []
        for tx in conf + mem:
            loc = ch.confirmed_at.get(tx.txid)
            for n, o in enumerate(tx.vout):
                if scripthash(o.spk) == sh and ch.spender(tx.txid, n) is None:
                    out.append({"tx_hash": tx.txid, "tx_pos": n, "height": loc[0] if loc else 0, "value": o.value})
        return out

    def call(self, session: Session | None, method: str, params: Any) -> Any:
        if isinstance(params, dict):
            params = list(params.values())
        if not isinstance(params, list):
            raise RPCError(INVALID_PARAMS, "params must be an array")
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None or not method.startswith(("server.", "blockchain.", "mempool.")):
            raise RPCError(METHOD_NOT_FOUND, f"unknown method {method!r}")
        try:
            return handler(session, *params)
        except TypeError as exc:
            if "positional argument" in str(exc) or "takes" in str(exc):
                raise RPCError(INVALID_PARAMS, f"invalid params for {method}: {params!r}") from None
            raise

    # ------------------------------------------------------------ server.*

    def m_server_version(self, session: Session | None, client: str = "", version: Any = PROTOCOL) -> Any:
        if isinstance(version, list) and len(version) == 2:
            lo, hi = str(version[0]), str(version[1])
        else:
            lo = hi = str(version)
        key = lambda v: tuple(int(x) for x in v.split(".") if x.isdigit())  # noqa: E731
        if not (key(lo) <= key(PROTOCOL) <= key(hi)):
            raise RPCError(BAD_REQUEST, f"unsupported protocol version: {version}")
        return [SERVER_VERSION, PROTOCOL]

    def m_server_ping(self, session: Session | None) -> None:
        return None

    def m_server_banner(self, session: Session | None) -> str:
        return "mbf devchain: a simulated regtest chain for development"

    def m_server_donation_address(self, session: Session | None) -> str:
        return ""

    def m_server_peers_subscribe(self, session: Session | None) -> list[Any]:
        return []

    def m_server_features(self, session: Session | None) -> dict[str, Any]:
        return {
            "genesis_hash": GENESIS_HASH,
            "hosts": {},
            "protocol_max": PROTOCOL,
            "protocol_min": PROTOCOL,
            "pruning": None,
            "server_version": SERVER_VERSION,
            "hash_function": "sha256",
        }

    # ------------------------------------------------------------ blockchain.*

    def m_blockchain_headers_subscribe(self, session: Session | None) -> dict[str, Any]:
        if session is not None:
            session.headers_subscribed = True
            session.last_tip = self.chain.tip.hash
        return self.tip_json()

    def m_blockchain_block_header(self, session: Session | None, height: Any, cp_height: Any = 0) -> Any:
        h = _int_arg(height, "height")
        cp = _int_arg(cp_height, "cp_height")
        header = self.header_hex(h)
        if not cp:
            return header
        return {"header": header, **self.checkpoint_proof(h, cp)}

    def m_blockchain_block_headers(
        self, session: Session | None, start_height: Any, count: Any, cp_height: Any = 0
    ) -> dict[str, Any]:
        start = _int_arg(start_height, "start_height")
        n = min(_int_arg(count, "count"), MAX_HEADERS)
        cp = _int_arg(cp_height, "cp_height")
        hexes = []
        for h in range(start, min(start + n, self.chain.height + 1)):
            hexes.append(self.header_hex(h))
        res: dict[str, Any] = {"count": len(hexes), "hex": "".join(hexes), "max": MAX_HEADERS}
        if cp and hexes:
            res.update(self.checkpoint_proof(start + len(hexes) - 1, cp))
        return res

    def checkpoint_proof(self, height: int, cp_height: int) -> dict[str, Any]:
        """Merkle proof of a header against the root of all block hashes up to cp_height."""
        if height > cp_height or cp_height > self.chain.height:
            raise RPCError(BAD_REQUEST, f"header height {height} must be <= cp_height {cp_height} <= chain height")
        leaves = [bytes.fromhex(self.chain.active[i])[::-1] for i in range(cp_height + 1)]
        branch = merkle_branch(leaves, height)
        root = merkle_root(leaves)
        return {"branch": [b[::-1].hex() for b in branch], "root": root[::-1].hex()}

    def m_blockchain_estimatefee(self, session: Session | None, number: Any, mode: Any = None) -> float:
        n = _int_arg(number, "number")
        rates = self.chain.fee_estimates()
        usable = [t for t in sorted(rates) if t <= max(n, 1)]
        if not usable:
            return -1  # ElectrumX: the daemon has no estimate for this target
        return round(rates[usable[-1]] * 1000 / 1e8, 8)  # BTC/kvB

    def m_blockchain_relayfee(self, session: Session | None) -> float:
        return round(MIN_RELAY_FEERATE * 1000 / 1e8, 8)  # BTC/kvB

    def m_blockchain_scripthash_get_history(self, session: Session | None, sh: Any) -> list[Any]:
        return self.history(_hash_arg(sh))

    def m_blockchain_scripthash_get_mempool(self, session: Session | None, sh: Any) -> list[Any]:
        return [h for h in self.history(_hash_arg(sh)) if h["height"] <= 0]

    def m_blockchain_scripthash_get_balance(self, session: Session | None, sh: Any) -> dict[str, int]:
        return self.balance(_hash_arg(sh))

    def m_blockchain_scripthash_listunspent(self, session: Session | None, sh: Any) -> list[Any]:
        return self.listunspent(_hash_arg(sh))

    def m_blockchain_scripthash_subscribe(self, session: Session | None, sh: Any) -> str | None:
        sh = _hash_arg(sh)
        status = self.status(sh)
        if session is not None:
            session.subscriptions[sh] = status
        return status

    def m_blockchain_scripthash_unsubscribe(self, session: Session | None, sh: Any) -> bool:
        sh = _hash_arg(sh)
        if session is None:
            return False
        return session.subscriptions.pop(sh, "absent") != "absent"

    def m_blockchain_transaction_get(self, session: Session | None, txid: Any, verbose: Any = False) -> Any:
        txid = _hash_arg(txid, "transaction hash")
        tx = self.chain.get_tx(txid)
        if tx is None:
            raise RPCError(
                DAEMON_ERROR,
                "daemon error: DaemonError({'code': -5, 'message': 'No such mempool or "
                "blockchain transaction. Use gettransaction for wallet transactions.'})",
            )
        if not verbose:
            return tx.raw.hex()
        st = self.chain.status(txid)
        d: dict[str, Any] = {
            "txid": tx.txid,
            "hash": tx.wtxid,
            "hex": tx.raw.hex(),
            "size": tx.size,
            "vsize": tx.vsize,
            "weight": tx.weight,
            "version": tx.version,
            "locktime": tx.locktime,
        }
        if st.confirmed:
            d.update(
                {
                    "blockhash": st.block_hash,
                    "confirmations": self.chain.height - st.height + 1,
                    "time": st.block_time,
                    "blocktime": st.block_time,
                }
            )
        return d

    def m_blockchain_transaction_get_merkle(self, session: Session | None, txid: Any, height: Any = None) -> Any:
        txid = _hash_arg(txid, "transaction hash")
        st = self.chain.status(txid)
        if not st.confirmed or (height is not None and height != st.height):
            raise RPCError(BAD_REQUEST, f"tx {txid} not in block at height {height}")
        b = self.chain.blocks[st.block_hash]
        leaves = [bytes.fromhex(t)[::-1] for t in b.txids]
        branch = [h[::-1].hex() for h in merkle_branch(leaves, st.pos)]
        return {"block_height": st.height, "merkle": branch, "pos": st.pos}

    def m_blockchain_transaction_id_from_pos(
        self, session: Session | None, height: Any, tx_pos: Any, merkle: Any = False
    ) -> Any:
        b = self.chain.block_at(_int_arg(height, "height"))
        pos = _int_arg(tx_pos, "tx_pos")
        if b is None or pos >= len(b.txids):
            raise RPCError(BAD_REQUEST, f"no tx at position {tx_pos} in block at height {height}")
        if not merkle:
            return b.txids[pos]
        leaves = [bytes.fromhex(t)[::-1] for t in b.txids]
        return {"tx_hash": b.txids[pos], "merkle": [h[::-1].hex() for h in merkle_branch(leaves, pos)]}

    def m_blockchain_transaction_broadcast(self, session: Session | None, raw_hex: Any) -> str:
        try:
            tx = parse_tx(bytes.fromhex(str(raw_hex)))
        except ValueError:
            raise RPCError(
                BAD_REQUEST,
                "the transaction was rejected by network rules.\n\nTX decode failed\n",
            ) from None
        try:
            self.chain.accept(tx)
        except RejectError as e:
            raise RPCError(
                BAD_REQUEST,
                f"the transaction was rejected by network rules.\n\n{e.reason}\n[{raw_hex}]",
            ) from None
        return tx.txid

    def m_mempool_get_fee_histogram(self, session: Session | None) -> list[Any]:
        return [[r, v] for r, v in self.chain.fee_histogram()]


class Session:
    def __init__(self, server: ElectrumServer, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.writer = writer
        self.headers_subscribed = False
        self.last_tip = ""
        self.subscriptions: dict[str, str | None] = {}
        self.lock = asyncio.Lock()

    async def send(self, obj: Any) -> None:
        data = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        async with self.lock:
            self.writer.write(data)
            await self.writer.drain()


def _response(req_id: Any, result: Any = None, error: RPCError | None = None) -> dict[str, Any]:
    if error is not None:
        return {"jsonrpc": "2.0", "error": {"code": error.code, "message": error.message}, "id": req_id}
    return {"jsonrpc": "2.0", "result": result, "id": req_id}


class ElectrumServer:
    def __init__(self, chain: Chain, latency_ms: int = 0) -> None:
        self.chain = chain
        self.service = ElectrumService(chain)
        self.delay = latency_ms / 1000.0
        self.sessions: set[Session] = set()
        self.servers: list[asyncio.base_events.Server] = []
        chain.listeners.append(self._on_chain_event)
        self._notify_tasks: set[asyncio.Task[None]] = set()
        self._handlers: set[asyncio.Task[Any]] = set()

    async def start(
        self, host: str, port: int, tls_port: int | None, ssl_ctx: ssl.SSLContext | None
    ) -> tuple[int, int | None]:
        srv = await asyncio.start_server(self._handle, host, port, limit=2**24)
        self.servers.append(srv)
        real_port = srv.sockets[0].getsockname()[1]
        real_tls = None
        if ssl_ctx is not None and tls_port is not None:
            srv2 = await asyncio.start_server(self._handle, host, tls_port, ssl=ssl_ctx, limit=2**24)
            self.servers.append(srv2)
            real_tls = srv2.sockets[0].getsockname()[1]
        return real_port, real_tls

    async def close(self) -> None:
        if self._on_chain_event in self.chain.listeners:
            self.chain.listeners.remove(self._on_chain_event)
        for srv in self.servers:
            srv.close()
        for s in list(self.sessions):
            s.writer.close()
        handlers = list(self._handlers)
        for t in handlers:
            t.cancel()
        if handlers:
            await asyncio.gather(*handlers, return_exceptions=True)
        for srv in self.servers:
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(srv.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(self, writer)
        self.sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    break
                if not line:
                    break
                line = line.strip()
                if not line:
                    continue
                reply = self._process(session, line)
                if reply is None:
                    continue
                await self._deliver(session, reply)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self.sessions.discard(session)
            if task is not None:
                self._handlers.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _deliver(self, session: Session, msg: Any) -> None:
        """Send now, or (with latency) after the delay. Answers are computed on arrival, so pipelined
        requests overlap their delays as over a slow link; notifications are delayed the same way."""
        if not self.delay:
            await session.send(msg)
            return
        delayed = asyncio.create_task(self._send_later(session, msg))
        self._handlers.add(delayed)
        delayed.add_done_callback(self._handlers.discard)

    async def _send_later(self, session: Session, reply: Any) -> None:
        await asyncio.sleep(self.delay)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await session.send(reply)

    def _process(self, session: Session, line: bytes) -> Any:
        try:
            msg = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            return _response(None, error=RPCError(PARSE_ERROR, "invalid JSON"))
        if isinstance(msg, list):
            if not msg:
                return _response(None, error=RPCError(INVALID_REQUEST, "empty batch"))
            replies = [self._one(session, m) for m in msg]
            return [r for r in replies if r is not None]
        return self._one(session, msg)

    def _one(self, session: Session, msg: Any) -> Any:
        if not isinstance(msg, dict):
            return _response(None, error=RPCError(INVALID_REQUEST, "request must be an object"))
        req_id = msg.get("id")
        method = msg.get("method")
        if not isinstance(method, str):
            return _response(req_id, error=RPCError(INVALID_REQUEST, "missing method"))
        try:
            result = self.service.call(session, method, msg.get("params", []))
        except RPCError as e:
            return _response(req_id, error=e)
        except Exception as e:  # pragma: no cover - defensive
            return _response(req_id, error=RPCError(BAD_REQUEST, f"internal error: {e}"))
        if "id" not in msg:
            return None  # a notification
        return _response(req_id, result)

    # ------------------------------------------------------------ notifications

    def _on_chain_event(self, event: ChainEvent) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        # a new block can change the status of any mempool entry (-1 -> 0), so blocks and reorgs
        # recheck every subscription; a mempool change only touches the scripts it names
        touched = None if event.kind in ("block", "reorg") else set(event.scripthashes)
        task = loop.create_task(self.notify_all(touched))
        self._notify_tasks.add(task)
        task.add_done_callback(self._notify_tasks.discard)

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait (bounded: a client that stops reading must not stall the chain) until the
        notifications of past chain events have been handed to the sessions."""
        if self._notify_tasks:
            await asyncio.wait(list(self._notify_tasks), timeout=timeout)

    async def notify_all(self, touched: set[str] | None = None) -> None:
        for session in list(self.sessions):
            try:
                await self._notify(session, touched)
            except (ConnectionError, RuntimeError):
                pass
            except Exception:  # never lose the other sessions' notifications
                log.exception("devchain electrum notification failed")

    async def _notify(self, session: Session, touched: set[str] | None = None) -> None:
        tip = self.chain.tip
        if session.headers_subscribed and session.last_tip != tip.hash:
            session.last_tip = tip.hash
            await self._deliver(
                session,
                {"jsonrpc": "2.0", "method": "blockchain.headers.subscribe", "params": [self.service.tip_json()]},
            )
        for sh, old in list(session.subscriptions.items()):
            if touched is not None and sh not in touched:
                continue
            new = self.service.status(sh)
            if new != old:
                session.subscriptions[sh] = new
                await self._deliver(
                    session, {"jsonrpc": "2.0", "method": "blockchain.scripthash.subscribe", "params": [sh, new]}
                )
