"""Bitcoin Core's JSON-RPC and ZMQ publishers over the dev chain, so the Core backend is tested
against the protocol (no Core binary can be installed here).

What is emulated, following Core's sources and docs (cited in docs/core.md): the HTTP Basic auth
with a cookie file (``__cookie__:<hex>``) or a user/password; the JSON-RPC envelope (1.0
"legacy": ``result``/``error``/``id`` with HTTP 500/404/400 on errors; 2.0: ``jsonrpc``, HTTP 200,
no ``result`` on errors; batches; ``/wallet/<name>`` endpoints); error codes and messages of
``src/rpc/protocol.h`` and the wallet RPCs; descriptor wallets with active ranged descriptors and
a keypool kept ahead of the last used index; rescans from a timestamp with progress in
``getwalletinfo.scanning``; ``listsinceblock`` with ``removed`` after a reorg; and node modes a
node runner meets: ``-disablewallet``, initial block download, warm-up, a full work queue, a
pruned node. ZMQ ``hashblock``/``rawtx``: three frames (topic, body, 4-byte LE sequence).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.bitcoin.descriptors import checksum_valid
from app.bitcoin.keychains import Keychain, parse_watched
from app.bitcoin.networks import Network
from app.dev.devchain.chain import MIN_RELAY_FEERATE, Chain, ChainEvent, RejectError
from app.dev.devchain.primitives import Tx, parse_tx, scripthash, spk_address

# src/rpc/protocol.h
RPC_MISC_ERROR = -1
RPC_TYPE_ERROR = -3
RPC_WALLET_ERROR = -4
RPC_INVALID_ADDRESS_OR_KEY = -5
RPC_INVALID_PARAMETER = -8
RPC_WALLET_NOT_FOUND = -18
RPC_WALLET_NOT_SPECIFIED = -19
RPC_DESERIALIZATION_ERROR = -22
RPC_VERIFY_ERROR = -25
RPC_VERIFY_REJECTED = -26
RPC_VERIFY_ALREADY_IN_CHAIN = -27
RPC_IN_WARMUP = -28
RPC_WALLET_ALREADY_LOADED = -35
RPC_INVALID_REQUEST = -32600
RPC_METHOD_NOT_FOUND = -32601
RPC_INVALID_PARAMS = -32602
RPC_PARSE_ERROR = -32700

TIMESTAMP_WINDOW = 7200
WALLET_METHODS = frozenset(
    {
        "listwallets",
        "createwallet",
        "loadwallet",
        "unloadwallet",
        "getwalletinfo",
        "importdescriptors",
        "listdescriptors",
        "listsinceblock",
        "gettransaction",
        "listunspent",
    }
)


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def btc(sats: int) -> float:
    """Satoshis as the JSON number Core prints (8 decimals; the float's repr is that decimal)."""
    return float(Decimal(sats) / Decimal(100_000_000))


@dataclass
class _Desc:
    desc: str
    internal: bool
    deriver: Keychain
    timestamp: int
    range_end: int
    next_index: int = 0


@dataclass
class DevWallet:
    name: str
    blank: bool = True
    private_keys: bool = False
    descs: list[_Desc] = field(default_factory=list)
    spks: dict[bytes, tuple[int, int]] = field(default_factory=dict)  # spk -> (desc number, index)
    shs: dict[str, bytes] = field(default_factory=dict)  # scripthash -> spk
    seen: dict[str, Tx] = field(default_factory=dict)  # every transaction ever involving the wallet
    first_seen: dict[str, int] = field(default_factory=dict)
    scanning: dict[str, float] | None = None


class CoreNode:
    """The emulated node: wallets, modes, and the RPC dispatch."""

    def __init__(self, chain: Chain, *, keypool: int = 1000, latency_ms: int = 0) -> None:
        self.chain = chain
        self.delay = latency_ms / 1000.0  # added to every HTTP answer, as over a slow link
        self.keypool = keypool
        self.cookie = "__cookie__:" + secrets.token_hex(32)
        self.user: str | None = None
        self.password: str | None = None
        self.wallets: dict[str, DevWallet] = {}  # loaded
        self.on_disk: dict[str, DevWallet] = {}  # created (loaded or not)
        # Modes a node runner meets (set by tests and the control endpoint).
        self.disablewallet = False
        self.initial_block_download = False
        self.warmup: str | None = None  # e.g. "Loading block index…"
        self.workqueue_full = 0  # the next N requests answer HTTP 503
        self.prune_height = 0  # > 0: blocks below it are pruned
        self.rescan_step_s = 0.0  # pause per tenth of a rescan (to watch its progress)
        self.requests = 0
        chain.listeners.append(self._on_event)

    # ------------------------------------------------------------------ auth and envelope

    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            token = base64.b64decode(header[6:]).decode()
        except ValueError:
            return False
        if secrets.compare_digest(token, self.cookie):
            return True
        return self.user is not None and secrets.compare_digest(token, f"{self.user}:{self.password}")

    async def handle(self, request: Request) -> Response:
        self.requests += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.method != "POST":
            return Response("JSONRPC server handles only POST requests", status_code=405)
        if not self.authorized(request.headers.get("authorization")):
            return Response(b"", status_code=401, headers={"WWW-Authenticate": 'Basic realm="jsonrpc"'})
        if self.workqueue_full > 0:
            self.workqueue_full -= 1
            return Response(b"Work queue depth exceeded", status_code=503)
        wallet = request.path_params.get("wallet")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _reply(
                {"result": None, "error": {"code": RPC_PARSE_ERROR, "message": "Parse error"}, "id": None}, 500
            )
        if isinstance(body, list):
            return _reply([await self._one(r, wallet) for r in body], 200)
        if not isinstance(body, dict):
            return _reply(
                {
                    "result": None,
                    "error": {"code": RPC_INVALID_REQUEST, "message": "Invalid Request object"},
                    "id": None,
                },
                400,
            )
        out = await self._one(body, wallet)
        v2 = body.get("jsonrpc") == "2.0"
        if v2:
            if "id" not in body:
                return Response(status_code=204)
            return _reply(out, 200)
        err = out.get("error")
        status = 200
        if err:
            code = err["code"]
            status = 404 if code == RPC_METHOD_NOT_FOUND else 400 if code == RPC_INVALID_REQUEST else 500
        return _reply(out, status)

    async def _one(self, req: Any, wallet: str | None) -> dict[str, Any]:
        v2 = isinstance(req, dict) and req.get("jsonrpc") == "2.0"
        req_id = req.get("id") if isinstance(req, dict) else None
        try:
            if not isinstance(req, dict) or not isinstance(req.get("method"), str):
                raise RpcError(RPC_INVALID_REQUEST, "Method must be a string")
            params = req.get("params") or []
            if not isinstance(params, list):
                raise RpcError(RPC_INVALID_PARAMS, "Params must be an array")
            result = await self.call(req["method"], params, wallet)
        except (RpcError, TypeError, ValueError, KeyError, AttributeError) as e:
            # a wrong parameter count/type is Core's -1/-3 with the help text; here its message
            if isinstance(e, RpcError):
                err = {"code": e.code, "message": e.message}
            else:
                err = {"code": RPC_MISC_ERROR, "message": f"{type(e).__name__}: {e}"}
            return (
                {"jsonrpc": "2.0", "error": err, "id": req_id} if v2 else {"result": None, "error": err, "id": req_id}
            )
        if v2:
            return {"jsonrpc": "2.0", "result": result, "id": req_id}
        return {"result": result, "error": None, "id": req_id}

    async def call(self, method: str, params: list[Any], wallet: str | None) -> Any:
        if self.warmup is not None:
            raise RpcError(RPC_IN_WARMUP, self.warmup)
        if method in WALLET_METHODS and self.disablewallet:
            raise RpcError(RPC_METHOD_NOT_FOUND, "Method not found")
        handler = getattr(self, "rpc_" + method, None)
        if handler is None:
            raise RpcError(RPC_METHOD_NOT_FOUND, "Method not found")
        if method in WALLET_METHODS - {"listwallets", "createwallet", "loadwallet", "unloadwallet"}:
            w = self._wallet(wallet)
            result = handler(w, *params)
        else:
            result = handler(*params)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    def _wallet(self, name: str | None) -> DevWallet:
        if name is None:
            if len(self.wallets) == 1:
                return next(iter(self.wallets.values()))
            if not self.wallets:
                raise RpcError(
                    RPC_WALLET_NOT_FOUND,
                    "No wallet is loaded. Load a wallet using loadwallet or create a new one with createwallet. "
                    "(Note: A default wallet is no longer automatically created)",
                )
            raise RpcError(
                RPC_WALLET_NOT_SPECIFIED,
                "Wallet file not specified (must request wallet RPC through /wallet/<filename> uri-path).",
            )
        w = self.wallets.get(name)
        if w is None:
            raise RpcError(RPC_WALLET_NOT_FOUND, "Requested wallet does not exist or is not loaded")
        return w

    # ------------------------------------------------------------------ chain

    def _confirmations(self, txid: str) -> int:
        ch = self.chain
        loc = ch.confirmed_at.get(txid)
        if loc is not None:
            return ch.height - loc[0] + 1
        return 0

    def rpc_getblockchaininfo(self) -> dict[str, Any]:
        ch = self.chain
        tip = ch.tip
        info: dict[str, Any] = {
            "chain": "regtest",
            "blocks": ch.height,
            "headers": ch.height + (1000 if self.initial_block_download else 0),
            "bestblockhash": tip.hash,
            "difficulty": 4.656542373906925e-10,
            "time": tip.time,
            "mediantime": tip.time,
            "verificationprogress": 0.42 if self.initial_block_download else 1,
            "initialblockdownload": self.initial_block_download,
            "chainwork": f"{(ch.height + 1) * 2:064x}",
            "size_on_disk": sum(b.size for b in ch.blocks.values()),
            "pruned": self.prune_height > 0,
            "warnings": [],
        }
        if self.prune_height > 0:
            info.update({"pruneheight": self.prune_height, "automatic_pruning": True, "prune_target_size": 576716800})
        return info

    def rpc_getbestblockhash(self) -> str:
        return self.chain.tip.hash

    def rpc_getblockcount(self) -> int:
        return int(self.chain.height)

    def rpc_getblockhash(self, height: Any) -> str:
        b = self.chain.block_at(_int(height, "height")) if isinstance(height, int) else None
        if b is None:
            raise RpcError(RPC_INVALID_PARAMETER, "Block height out of range")
        return b.hash

    def _block(self, block_hash: Any) -> Any:
        b = self.chain.blocks.get(str(block_hash))
        if b is None:
            raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
        return b

    def rpc_getblockheader(self, block_hash: Any, verbose: Any = True) -> Any:
        b = self._block(block_hash)
        if not verbose:
            return b.header_raw.hex()
        ch = self.chain
        active = ch.in_best_chain(b.hash)
        out: dict[str, Any] = {
            "hash": b.hash,
            "confirmations": ch.height - b.height + 1 if active else -1,
            "height": b.height,
            "version": b.header.version,
            "versionHex": f"{b.header.version:08x}",
            "merkleroot": b.header.merkle_root,
            "time": b.time,
            "mediantime": b.time,
            "nonce": b.header.nonce,
            "bits": f"{b.header.bits:08x}",
            "nTx": len(b.txids),
        }
        if b.height > 0:
            out["previousblockhash"] = b.header.prev_hash
        nxt = ch.block_at(b.height + 1)
        if active and nxt is not None:
            out["nextblockhash"] = nxt.hash
        return out

    def rpc_getblock(self, block_hash: Any, verbosity: Any = 1) -> Any:
        b = self._block(block_hash)
        if 0 < b.height < self.prune_height:
            raise RpcError(RPC_MISC_ERROR, "Block not available (pruned data)")
        txs = self.chain.block_txs[b.hash]
        if verbosity == 0:
            from app.dev.devchain.primitives import compact_size

            return (b.header_raw + compact_size(len(txs)) + b"".join(t.raw for t in txs)).hex()
        head = self.rpc_getblockheader(b.hash, True)
        head.update({"size": b.size, "weight": b.weight, "strippedsize": b.size})
        if verbosity == 1:
            head["tx"] = list(b.txids)
            return head
        head["tx"] = [self._tx_json(t, with_fee=not t.is_coinbase) for t in txs]
        return head

    def _tx_json(self, tx: Tx, *, with_fee: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "txid": tx.txid,
            "hash": tx.wtxid or tx.txid,
            "version": tx.version,
            "size": tx.size,
            "vsize": tx.vsize,
            "weight": tx.weight,
            "locktime": tx.locktime,
            "hex": tx.raw.hex(),
        }
        if with_fee:
            d["fee"] = btc(tx.fee)
        return d

    def rpc_getrawtransaction(self, txid: Any, verbose: Any = 0, block_hash: Any = None) -> Any:
        ch = self.chain
        txid = str(txid)
        tx: Tx | None = None
        if block_hash is not None:
            b = ch.blocks.get(str(block_hash))
            if b is None:
                raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block hash not found")
            if 0 < b.height < self.prune_height:
                raise RpcError(RPC_MISC_ERROR, "Block not available (pruned data)")
            tx = next((t for t in ch.block_txs[b.hash] if t.txid == txid), None)
            if tx is None:
                raise RpcError(
                    RPC_INVALID_ADDRESS_OR_KEY,
                    "No such transaction found in the provided block. Use gettransaction for wallet transactions.",
                )
        elif txid in ch.mempool:
            tx = ch.txs[txid]
        if tx is None:
            raise RpcError(
                RPC_INVALID_ADDRESS_OR_KEY,
                "No such mempool transaction. Use -txindex or provide a block hash to enable blockchain "
                "transaction queries. Use gettransaction for wallet transactions.",
            )
        if not verbose:
            return tx.raw.hex()
        return self._tx_json(tx)

    def rpc_getmempoolentry(self, txid: Any) -> dict[str, Any]:
        ch = self.chain
        txid = str(txid)
        if txid not in ch.mempool:
            raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Transaction not in mempool")
        tx = ch.txs[txid]
        fee = btc(tx.fee)
        return {
            "vsize": tx.vsize,
            "weight": tx.weight,
            "time": int(time.time()),
            "height": ch.height,
            "descendantcount": 1 + len(ch.mempool_descendants(txid)),
            "ancestorcount": 1,
            "wtxid": tx.wtxid or txid,
            "fees": {"base": fee, "modified": fee, "ancestor": fee, "descendant": fee},
            "depends": sorted({i.txid for i in tx.vin if i.txid in ch.mempool}),
            "spentby": sorted(
                {s[0] for n in range(len(tx.vout)) if (s := ch.spender(txid, n)) is not None and s[0] in ch.mempool}
            ),
            "bip125-replaceable": tx.signals_rbf,
            "unbroadcast": False,
        }

    def rpc_getrawmempool(self, verbose: Any = False) -> Any:
        return list(self.chain.mempool)

    def rpc_estimatesmartfee(self, conf_target: Any, mode: Any = "conservative") -> dict[str, Any]:
        n = _int(conf_target, "conf_target")
        if n < 1 or n > 1008:
            raise RpcError(RPC_INVALID_PARAMETER, f"Invalid conf_target, must be between 1 and 1008 - {n}")
        rates = self.chain.fee_estimates()
        usable = [t for t in sorted(rates) if t <= max(n, 2)]
        if not usable:
            return {"errors": ["Insufficient data or no feerate found"], "blocks": 0}
        rate = rates[usable[-1]]
        return {"feerate": float(Decimal(str(rate)) / Decimal(100_000)), "blocks": max(n, 2)}

    def rpc_getmempoolinfo(self) -> dict[str, Any]:
        ch = self.chain
        floor = float(Decimal(MIN_RELAY_FEERATE) / Decimal(100_000))
        return {
            "loaded": True,
            "size": len(ch.mempool),
            "bytes": sum(ch.txs[t].vsize for t in ch.mempool),
            "mempoolminfee": floor,
            "minrelaytxfee": floor,
        }

    def _decode(self, hexstring: Any) -> Tx:
        try:
            return parse_tx(bytes.fromhex(str(hexstring)))
        except ValueError:
            raise RpcError(
                RPC_DESERIALIZATION_ERROR, "TX decode failed. Make sure the tx has at least one input."
            ) from None

    def rpc_testmempoolaccept(self, rawtxs: Any, maxfeerate: Any = None) -> list[dict[str, Any]]:
        if not isinstance(rawtxs, list) or not rawtxs:
            raise RpcError(RPC_INVALID_PARAMETER, "Array must contain between 1 and 25 transactions.")
        out = []
        for raw in rawtxs:
            tx = self._decode(raw)
            entry: dict[str, Any] = {"txid": tx.txid, "wtxid": tx.wtxid or tx.txid}
            try:
                prevouts, _ = self.chain.check_tx(tx)
                fee = sum(p.value for p in prevouts) - sum(o.value for o in tx.vout)
                entry.update({"allowed": True, "vsize": tx.vsize, "fees": {"base": btc(fee)}})
            except RejectError as e:
                entry.update({"allowed": False, "reject-reason": e.reason})
            out.append(entry)
        return out

    def rpc_sendrawtransaction(self, hexstring: Any, maxfeerate: Any = None) -> str:
        tx = self._decode(hexstring)
        try:
            self.chain.accept(tx)
        except RejectError as e:
            if e.reason == "txn-already-in-mempool":
                return tx.txid
            code = {-25: RPC_VERIFY_ERROR, -27: RPC_VERIFY_ALREADY_IN_CHAIN}.get(e.code, RPC_VERIFY_REJECTED)
            raise RpcError(code, e.reason) from None
        return tx.txid

    def rpc_getnetworkinfo(self) -> dict[str, Any]:
        return {"version": 270000, "subversion": "/Satoshi:27.0.0(mbf-devchain)/", "protocolversion": 70016}

    def rpc_uptime(self) -> int:
        return 1

    def rpc_scantxoutset(self, action: Any, scanobjects: Any = None) -> Any:
        if action == "status":
            return None
        if action == "abort":
            return False
        if action != "start":
            raise RpcError(RPC_INVALID_PARAMETER, f"Invalid action '{action}'")
        if not isinstance(scanobjects, list):
            raise RpcError(RPC_MISC_ERROR, "scanobjects argument is required for the start action")
        spks: dict[bytes, str] = {}
        for obj in scanobjects:
            desc = obj if isinstance(obj, str) else obj.get("desc")
            rng = obj.get("range", 1000) if isinstance(obj, dict) else 1000
            end = rng[1] if isinstance(rng, list) else int(rng)
            deriver, _internal = _deriver(str(desc))
            for spk in deriver.script_pubkeys(0, end + 1):
                spks[spk] = str(desc)
        ch = self.chain
        unspents = []
        total = 0
        for bhash in ch.active[1:]:
            b = ch.blocks[bhash]
            for tx in ch.block_txs[bhash]:
                for n, o in enumerate(tx.vout):
                    if o.spk in spks:
                        sp = ch.spender(tx.txid, n)
                        if sp is not None and sp[0] in ch.confirmed_at:
                            continue
                        total += o.value
                        unspents.append(
                            {
                                "txid": tx.txid,
                                "vout": n,
                                "scriptPubKey": o.spk.hex(),
                                "desc": spks[o.spk],
                                "amount": btc(o.value),
                                "coinbase": tx.is_coinbase,
                                "height": b.height,
                                "blockhash": b.hash,
                                "confirmations": ch.height - b.height + 1,
                            }
                        )
        return {
            "success": True,
            "txouts": len(unspents),
            "height": ch.height,
            "bestblock": ch.tip.hash,
            "unspents": unspents,
            "total_amount": btc(total),
        }

    # ------------------------------------------------------------------ wallets

    def rpc_listwallets(self) -> list[str]:
        return list(self.wallets)

    def rpc_createwallet(
        self,
        name: Any,
        disable_private_keys: Any = False,
        blank: Any = False,
        passphrase: Any = "",
        avoid_reuse: Any = False,
        descriptors: Any = True,
        load_on_startup: Any = None,
        external_signer: Any = False,
    ) -> dict[str, Any]:
        name = str(name)
        if name in self.on_disk:
            raise RpcError(
                RPC_WALLET_ERROR,
                f"Wallet file verification failed. Failed to create database path '/data/regtest/wallets/{name}'. "
                "Database already exists.",
            )
        if descriptors is False:
            raise RpcError(
                RPC_WALLET_ERROR,
                'descriptors argument must be set to "true"; it is no longer possible to create a legacy wallet.',
            )
        w = DevWallet(name, blank=bool(blank), private_keys=not disable_private_keys)
        self.on_disk[name] = w
        self.wallets[name] = w
        return {"name": name}

    def rpc_loadwallet(self, name: Any, load_on_startup: Any = None) -> dict[str, Any]:
        name = str(name)
        if name in self.wallets:
            raise RpcError(RPC_WALLET_ALREADY_LOADED, f'Wallet "{name}" is already loaded.')
        w = self.on_disk.get(name)
        if w is None:
            raise RpcError(
                RPC_WALLET_NOT_FOUND,
                f"Wallet file verification failed. Failed to load database path '/data/regtest/wallets/{name}'. "
                "Path does not exist.",
            )
        self.wallets[name] = w
        self._catch_up(w)
        return {"name": name}

    def rpc_unloadwallet(self, name: Any = None, load_on_startup: Any = None) -> dict[str, Any]:
        w = self._wallet(None if name is None else str(name))
        del self.wallets[w.name]
        return {}

    def rpc_getwalletinfo(self, w: DevWallet) -> dict[str, Any]:
        return {
            "walletname": w.name,
            "walletversion": 169900,
            "format": "sqlite",
            "txcount": len(w.seen),
            "keypoolsize": sum(1 for d in w.descs if not d.internal) and self.keypool,
            "keypoolsize_hd_internal": sum(1 for d in w.descs if d.internal) and self.keypool,
            "paytxfee": 0.0,
            "private_keys_enabled": w.private_keys,
            "avoid_reuse": False,
            "scanning": dict(w.scanning) if w.scanning else False,
            "descriptors": True,
            "external_signer": False,
            "blank": w.blank and not w.descs,
            "lastprocessedblock": {"hash": self.chain.tip.hash, "height": self.chain.height},
        }

    def rpc_listdescriptors(self, w: DevWallet, private: Any = False) -> dict[str, Any]:
        return {
            "wallet_name": w.name,
            "descriptors": [
                {
                    "desc": d.desc,
                    "timestamp": d.timestamp,
                    "active": True,
                    "internal": d.internal,
                    "range": [0, d.range_end],
                    "next": d.next_index,
                    "next_index": d.next_index,
                }
                for d in w.descs
            ],
        }

    async def rpc_importdescriptors(self, w: DevWallet, requests: Any) -> list[dict[str, Any]]:
        if w.scanning:
            raise RpcError(RPC_WALLET_ERROR, "Wallet is currently rescanning. Abort existing rescan or wait.")
        if not isinstance(requests, list):
            raise RpcError(RPC_INVALID_PARAMETER, "Expected type array, got object")
        results: list[dict[str, Any]] = []
        rescan_from: int | None = None
        now = self.chain.tip.time
        for req in requests:
            desc = str(req.get("desc", ""))
            if "#" not in desc:
                results.append(_fail(RPC_INVALID_ADDRESS_OR_KEY, "Missing checksum"))
                continue
            if not checksum_valid(desc):
                results.append(_fail(RPC_INVALID_ADDRESS_OR_KEY, "Provided checksum does not match computed checksum"))
                continue
            if w.private_keys:
                results.append(
                    _fail(
                        RPC_WALLET_ERROR,
                        "Cannot import descriptor without private keys to a wallet with private keys enabled",
                    )
                )
                continue
            ts_raw = req.get("timestamp")
            if ts_raw is None:
                results.append(_fail(RPC_TYPE_ERROR, "Missing required timestamp field for key"))
                continue
            ts = now if ts_raw == "now" else int(ts_raw)
            try:
                deriver, internal = _deriver(desc)
            except ValueError as e:
                results.append(_fail(RPC_INVALID_ADDRESS_OR_KEY, str(e)))
                continue
            rng = req.get("range", [0, 999])
            end = rng[1] if isinstance(rng, list) else int(rng)
            d = _Desc(desc, bool(req.get("internal", internal)), deriver, ts, 0)
            w.descs = [x for x in w.descs if x.desc.split("#")[0] != desc.split("#")[0]] + [d]
            self._extend(w, len(w.descs) - 1, end)
            results.append({"success": True})
            if ts_raw != "now":
                rescan_from = ts if rescan_from is None else min(rescan_from, ts)
        if rescan_from is not None:
            start_time = rescan_from - TIMESTAMP_WINDOW
            start = next((b.height for h in self.chain.active if (b := self.chain.blocks[h]).time >= start_time), None)
            if start is not None and start < self.prune_height:
                first = self.chain.block_at(self.prune_height)
                t = first.time if first else 0
                msg = (
                    f"Rescan failed for descriptor with timestamp {rescan_from}. There was an error reading a block "
                    f"from time {t}, which is after or within {TIMESTAMP_WINDOW} seconds of key creation, and could "
                    "contain transactions pertaining to the desc. As a result, transactions and coins using this desc "
                    "may not appear in the wallet. This error could be caused by pruning or data corruption (see "
                    "bitcoind log for details) and could be dealt with by downloading and rescanning the relevant "
                    "blocks (see -reindex option and rescanblockchain RPC)."
                )
                return [_fail(RPC_MISC_ERROR, msg) if r.get("success") else r for r in results]
            await self._rescan(w, start_time)
        else:
            self._catch_up(w)
        return results

    def _extend(self, w: DevWallet, k: int, end: int) -> None:
        d = w.descs[k]
        if end <= d.range_end and d.range_end:
            return
        start = d.range_end + 1 if d.range_end else 0
        for i, spk in enumerate(d.deriver.script_pubkeys(start, end - start + 1), start):
            w.spks[spk] = (k, i)
            w.shs[scripthash(spk)] = spk
        d.range_end = end

    def _top_up(self, w: DevWallet) -> bool:
        """Active descriptors keep ``keypool`` unused scripts after the last used one (Core's TopUp)."""
        grew = False
        used: dict[int, int] = {}
        for sh, spk in w.shs.items():
            if sh in self.chain.by_sh:
                k, i = w.spks[spk]
                used[k] = max(used.get(k, -1), i)
        for k, d in enumerate(w.descs):
            last = used.get(k, -1)
            d.next_index = max(d.next_index, last + 1)
            if last + self.keypool > d.range_end:
                self._extend(w, k, last + self.keypool)
                grew = True
        return grew

    async def _rescan(self, w: DevWallet, start_time: int) -> None:
        ch = self.chain
        while self._top_up(w):
            pass
        heights = [h for h, bh in enumerate(ch.active) if ch.blocks[bh].time >= start_time]
        begun = time.monotonic()
        w.scanning = {"duration": 0, "progress": 0.0}
        try:
            steps = 10
            for step in range(steps):
                chunk = heights[step * len(heights) // steps : (step + 1) * len(heights) // steps]
                for h in chunk:
                    for tx in ch.block_txs[ch.active[h]]:
                        if self._involves(w, tx):
                            self._remember(w, tx)
                w.scanning = {"duration": int(time.monotonic() - begun), "progress": round((step + 1) / steps, 4)}
                await asyncio.sleep(self.rescan_step_s)
            for tx in ch.mempool_in_order():
                if self._involves(w, tx):
                    self._remember(w, tx)
        finally:
            w.scanning = None

    def _catch_up(self, w: DevWallet) -> None:
        """Mempool transactions a just-loaded wallet sees (Core's wallet syncs with the mempool)."""
        for tx in self.chain.mempool_in_order():
            if self._involves(w, tx):
                self._remember(w, tx)

    def _involves(self, w: DevWallet, tx: Tx) -> bool:
        if any(o.spk in w.spks for o in tx.vout):
            return True
        if tx.is_coinbase:
            return False
        for i in tx.vin:
            parent = w.seen.get(i.txid) or self.chain.txs.get(i.txid)
            if parent is not None and i.vout < len(parent.vout) and parent.vout[i.vout].spk in w.spks:
                return True
        return False

    def _remember(self, w: DevWallet, tx: Tx) -> None:
        if tx.txid not in w.seen:
            w.seen[tx.txid] = tx
            w.first_seen[tx.txid] = int(time.time())

    def _on_event(self, event: ChainEvent) -> None:
        """Every loaded wallet sees new blocks and mempool transactions that involve it."""
        for w in self.wallets.values():
            if not w.descs or not (event.scripthashes & w.shs.keys()):
                continue
            for sh in event.scripthashes & w.shs.keys():
                for txid in self.chain.by_sh.get(sh, {}):
                    tx = self.chain.txs.get(txid)
                    if tx is not None:
                        self._remember(w, tx)
            self._top_up(w)

    # wallet transactions -------------------------------------------------------------

    def _state(self, w: DevWallet, tx: Tx) -> dict[str, Any]:
        ch = self.chain
        conf = self._confirmations(tx.txid)
        d: dict[str, Any] = {"confirmations": conf}
        if conf > 0:
            h, pos = ch.confirmed_at[tx.txid]
            b = ch.blocks[ch.active[h]]
            d.update({"blockhash": b.hash, "blockheight": h, "blockindex": pos, "blocktime": b.time})
        elif tx.txid not in ch.mempool:
            # Not in the chain nor the mempool: conflicted when an input is spent by a confirmed
            # transaction (negative depth), else inactive (0: replaced or evicted).
            for i in tx.vin:
                sp = ch.spender(i.txid, i.vout)
                if sp is not None and sp[0] != tx.txid and sp[0] in ch.confirmed_at:
                    d["confirmations"] = -self._confirmations(sp[0])
                    d["walletconflicts"] = [sp[0]]
                    break
        if d["confirmations"] == 0:
            d["trusted"] = False
        d.setdefault("walletconflicts", [])
        d.update(
            {
                "txid": tx.txid,
                "wtxid": tx.wtxid or tx.txid,
                "time": w.first_seen.get(tx.txid, 0),
                "timereceived": w.first_seen.get(tx.txid, 0),
                "bip125-replaceable": "yes" if tx.signals_rbf and d["confirmations"] <= 0 else "no",
            }
        )
        return d

    def _entries(self, w: DevWallet, tx: Tx) -> list[dict[str, Any]]:
        state = self._state(w, tx)
        mine_in = False
        if not tx.is_coinbase:
            for i in tx.vin:
                parent = w.seen.get(i.txid)
                if parent is not None and i.vout < len(parent.vout) and parent.vout[i.vout].spk in w.spks:
                    mine_in = True
        out = []
        for n, o in enumerate(tx.vout):
            addr = spk_address(o.spk)
            if o.spk in w.spks:
                category = ("generate" if state["confirmations"] > 100 else "immature") if tx.is_coinbase else "receive"
                out.append({"address": addr, "category": category, "amount": btc(o.value), "vout": n, **state})
            elif mine_in:
                out.append(
                    {
                        "address": addr,
                        "category": "send",
                        "amount": -btc(o.value),
                        "vout": n,
                        "fee": -btc(tx.fee),
                        "abandoned": False,
                        **state,
                    }
                )
        return out

    def rpc_listsinceblock(
        self,
        w: DevWallet,
        blockhash: Any = None,
        target_confirmations: Any = 1,
        include_watchonly: Any = True,
        include_removed: Any = True,
        include_change: Any = False,
        label: Any = None,
    ) -> dict[str, Any]:
        ch = self.chain
        target = _int(target_confirmations, "target_confirmations")
        if target < 1:
            raise RpcError(RPC_INVALID_PARAMETER, "Invalid parameter")
        depth = -1
        removed: list[dict[str, Any]] = []
        if blockhash:
            b = self._block(blockhash)
            # walk back to the active chain: transactions of the blocks in between were removed
            stale: list[str] = []
            while not ch.in_best_chain(b.hash):
                stale.append(b.hash)
                b = ch.blocks[b.header.prev_hash]
            depth = ch.height + 1 - b.height
            if include_removed:
                for bh in stale:
                    for tx in ch.block_txs.get(bh, []):
                        if tx.txid in w.seen:
                            removed.extend(self._entries(w, w.seen[tx.txid]))
        txs = []
        for tx in w.seen.values():
            loc = ch.confirmed_at.get(tx.txid)
            if loc is not None and depth != -1 and ch.height - loc[0] + 1 >= depth:
                continue  # confirmed below the given block: not listed (the common case, cheaply)
            conf = self._state(w, tx)["confirmations"]
            if depth == -1 or abs(conf) < depth:
                txs.extend(self._entries(w, tx))
        last = ch.block_at(ch.height + 1 - target)
        out: dict[str, Any] = {"transactions": txs, "lastblock": last.hash if last else ch.tip.hash}
        if include_removed:
            out["removed"] = removed
        return out

    def rpc_gettransaction(self, w: DevWallet, txid: Any, include_watchonly: Any = True, verbose: Any = False) -> Any:
        tx = w.seen.get(str(txid))
        if tx is None:
            raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Invalid or non-wallet transaction id")
        details = self._entries(w, tx)
        state = self._state(w, tx)
        amount = sum(Decimal(str(d["amount"])) for d in details)
        out: dict[str, Any] = {"amount": float(amount), **state}
        if any(d["category"] == "send" for d in details):
            out["fee"] = -btc(tx.fee)
        out["details"] = [
            {k: v for k, v in d.items() if k in ("address", "category", "amount", "vout", "fee")} for d in details
        ]
        out["hex"] = tx.raw.hex()
        if verbose:
            out["decoded"] = self._tx_json(tx)
        return out

    def rpc_listunspent(
        self,
        w: DevWallet,
        minconf: Any = 1,
        maxconf: Any = 9_999_999,
        addresses: Any = None,
        include_unsafe: Any = True,
    ) -> list[dict[str, Any]]:
        ch = self.chain
        out = []
        for tx in w.seen.values():
            conf = self._state(w, tx)["confirmations"]
            if conf < 0 or (conf == 0 and tx.txid not in ch.mempool):
                continue
            if not (int(minconf) <= conf <= int(maxconf)):
                continue
            for n, o in enumerate(tx.vout):
                if o.spk not in w.spks:
                    continue
                sp = ch.spender(tx.txid, n)
                if sp is not None and (sp[0] in ch.confirmed_at or sp[0] in ch.mempool):
                    continue
                k, _i = w.spks[o.spk]
                out.append(
                    {
                        "txid": tx.txid,
                        "vout": n,
                        "address": spk_address(o.spk),
                        "scriptPubKey": o.spk.hex(),
                        "amount": btc(o.value),
                        "confirmations": conf,
                        "spendable": False,
                        "solvable": True,
                        "desc": w.descs[k].desc,
                        "parent_descs": [w.descs[k].desc],
                        "safe": conf > 0,
                    }
                )
        return out


def _fail(code: int, message: str) -> dict[str, Any]:
    return {"success": False, "error": {"code": code, "message": message}}


def _int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise RpcError(-3, f"JSON value of type {type(v).__name__} is not of expected type number")
    return v


def _deriver(desc: str) -> tuple[Keychain, bool]:
    """A deriver for one single-path descriptor (any kind the wallets area watches; a non-ranged
    one has one script). ``.../1/*`` is taken as a change descriptor when ``internal`` is not given."""
    body = desc.split("#", 1)[0]
    try:
        watched = parse_watched(body, Network.REGTEST, implied_change=False)
    except Exception as e:
        raise ValueError(str(e)) from None
    if len(watched.keychains) != 1:
        raise ValueError("Multipath and combo() descriptors are imported one path at a time here")
    return watched.keychains[0], body.endswith(("/1/*)", "/1/*))"))


def _reply(obj: Any, status: int) -> Response:
    return Response(json.dumps(obj), status_code=status, media_type="application/json")


def build_core_app(node: CoreNode) -> Starlette:
    return Starlette(
        routes=[
            Route("/", node.handle, methods=["POST", "GET"]),
            Route("/wallet/{wallet:path}", node.handle, methods=["POST", "GET"]),
        ]
    )


class ZmqPublisher:
    """``zmqpubhashblock`` and ``zmqpubrawtx``: one PUB socket per topic, Core's three frames."""

    def __init__(self, chain: Chain, host: str) -> None:
        import zmq

        self.chain = chain
        self._ctx = zmq.Context()
        self._zmq = zmq
        self.sockets: dict[bytes, Any] = {}
        self.addresses: dict[str, str] = {}
        for topic in (b"hashblock", b"rawtx"):
            sock = self._ctx.socket(zmq.PUB)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, 0)
            port = sock.bind_to_random_port(f"tcp://{host}")
            self.sockets[topic] = sock
            self.addresses[topic.decode()] = f"tcp://{host}:{port}"
        self.seq: dict[bytes, int] = {b"hashblock": 0, b"rawtx": 0}
        self._tip = chain.tip.hash
        self._mempool = set(chain.mempool)
        self.published = 0
        chain.listeners.append(self._on_event)

    def _send(self, topic: bytes, body: bytes) -> None:
        seq = self.seq[topic]
        self.seq[topic] = (seq + 1) % 2**32
        self.sockets[topic].send_multipart([topic, body, seq.to_bytes(4, "little")], flags=self._zmq.NOBLOCK)
        self.published += 1

    def _on_event(self, event: ChainEvent) -> None:
        ch = self.chain
        new_mempool = [t for t in ch.mempool if t not in self._mempool]
        for txid in new_mempool:
            self._send(b"rawtx", ch.txs[txid].raw)
        self._mempool = set(ch.mempool)
        if ch.tip.hash != self._tip:
            # the blocks connected since the last tip we announced (after a reorg: since the fork)
            b = ch.blocks[self._tip]
            while not ch.in_best_chain(b.hash):
                b = ch.blocks[b.header.prev_hash]
            new = list(reversed(ch.active[b.height + 1 :]))
            for bh in reversed(new):
                for tx in ch.block_txs[bh]:
                    self._send(b"rawtx", tx.raw)
                self._send(b"hashblock", bytes.fromhex(bh))
            self._tip = ch.tip.hash

    def close(self) -> None:
        if self._on_event in self.chain.listeners:
            self.chain.listeners.remove(self._on_event)
        for s in self.sockets.values():
            s.close(0)
        self._ctx.term()


def write_cookie(path: Path, cookie: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(cookie)
    path.chmod(0o600)
    return path


Listener = Callable[[ChainEvent], None]
