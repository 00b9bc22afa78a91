"""Bitcoin Core as a chain backend: one watch-only descriptor wallet in Core per wallet here.

Core has no address index: it learns a wallet's transactions by scanning blocks for the scripts
of descriptors imported into one of its wallets. So before a wallet is scanned, :meth:`bind`
makes sure Core holds a wallet named ``<prefix><wallet id>`` (``createwallet`` with private keys
disabled and blank, ``importdescriptors`` with the public receive and change descriptors, a
rescan from the wallet's birthday), and returns a :class:`CoreWalletView`: the same
``ChainBackend`` protocol, answered from that Core wallet:

- transactions: ``listsinceblock`` from the last block seen (incremental; its ``removed`` list
  names transactions of blocks that left the chain), ``gettransaction`` for new ones, and
  ``getmempoolentry`` to tell a mempool transaction from one Core still remembers but that left
  the mempool (replaced, evicted);
- per-script histories are computed from those transactions (outputs paying a script, inputs
  spending from it) in Electrum's shape, with the same status hashes, so the sync algorithm
  (``app/sync``) runs unchanged;
- fees: from the wallet's own parents, else ``getmempoolentry`` (mempool) or ``getblock``
  verbosity 2 (confirmed; needs the block's undo data, absent below a pruned node's height);
- UTXOs: ``listunspent``; tip: ``getblockchaininfo``; fee estimates: ``estimatesmartfee``;
  broadcast: ``testmempoolaccept`` then ``sendrawtransaction``.

A node started with ``-disablewallet`` answers wallet methods with "Method not found"; the
backend then falls back to ``scantxoutset`` (confirmed UTXOs only; see docs/core.md).
New blocks and transactions are pushed by ZMQ (:mod:`app.chain.core_zmq`) when configured,
else ``getbestblockhash`` (and each watched wallet's ``txcount``) is polled.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import structlog

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
    TxInput,
    Utxo,
    history_status,
    order_history,
    scripthash_of,
)
from app.chain.core_rpc import (
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_METHOD_NOT_FOUND,
    RPC_VERIFY_REJECTED,
    RPC_WALLET_ALREADY_EXISTS,
    RPC_WALLET_ALREADY_LOADED,
    RPC_WALLET_ERROR,
    RPC_WALLET_NOT_FOUND,
    CoreRpc,
    CoreRpcError,
    sats,
)
from app.chain.rawtx import decode_tx
from app.errors import BadInput, UpstreamUnavailable

log = structlog.get_logger(__name__)

# Core's names of the networks (getblockchaininfo.chain).
CORE_CHAINS = {"mainnet": ("main",), "testnet": ("test", "testnet4"), "signet": ("signet",), "regtest": ("regtest",)}
RANGE_END = 999  # importdescriptors range [0, 999]; Core keeps its keypool (1000) ahead of the last used
TIMESTAMP_WINDOW = 7200  # Core rescans from 2 hours before a key's timestamp (TIMESTAMP_WINDOW)
FEE_TARGETS = (1, 2, 3, 6, 12, 24, 144, 504, 1008)
SCAN_POLL_S = 0.25

RescanProgress = Callable[[float], Awaitable[None]]


@dataclass(slots=True)
class CoreWalletTx:
    """What a Core wallet says about one of its transactions."""

    tx: ChainTx  # decoded, with height/block fields of its current state
    confirmations: int
    hex: str = ""
    in_mempool: bool = False

    @property
    def active(self) -> bool:
        return self.confirmations > 0 or self.in_mempool


@dataclass(slots=True)
class WalletCache:
    """The transactions of one Core wallet as of ``last_block`` (kept between syncs)."""

    name: str
    txs: dict[str, CoreWalletTx] = field(default_factory=dict)
    last_block: str | None = None
    txcount: int | None = None
    ready: bool = False
    descriptors: tuple[str, str] = ("", "")
    outpoints: dict[tuple[str, int], str] = field(default_factory=dict)  # outputs -> scripthash
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The per-script index, kept up to date incrementally (only what a refresh changed is redone):
    touch: dict[str, tuple[str, ...]] = field(default_factory=dict)  # txid -> scripthashes it pays/spends
    by_sh: dict[str, set[str]] = field(default_factory=dict)  # scripthash -> active txids
    stamp: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # txid -> state last indexed
    hist: dict[str, ScripthashHistory] = field(default_factory=dict)  # built histories, until dirty
    inputs: dict[str, tuple[TxInput, ...]] = field(default_factory=dict)  # txid -> inputs with prevouts

    def clear(self) -> None:
        for d in (self.txs, self.outpoints, self.touch, self.by_sh, self.stamp, self.hist, self.inputs):
            d.clear()

    def reindex(self) -> None:
        """Bring the per-script index up to date with ``txs``: the scripts of every transaction
        whose state (active, height, block, fee) changed lose their built history."""
        dirty: set[str] = set()
        for txid, w in self.txs.items():
            key = (w.active, w.tx.height if w.confirmations > 0 else 0, w.tx.block_hash, w.tx.fee)
            if self.stamp.get(txid) == key:
                continue
            self.stamp[txid] = key
            shs = self.touch.get(txid)
            if shs is None:
                touched: dict[str, None] = {}
                for n, o in enumerate(w.tx.outputs):
                    sh = scripthash_of(bytes.fromhex(o.script_pubkey))
                    touched[sh] = None
                    self.outpoints[(txid, n)] = sh
                for i in w.tx.inputs:
                    p = self.txs.get(i.prev_txid)
                    if p is not None and i.prev_vout < len(p.tx.outputs):
                        touched[scripthash_of(bytes.fromhex(p.tx.outputs[i.prev_vout].script_pubkey))] = None
                shs = self.touch[txid] = tuple(touched)
            for sh in shs:
                if w.active:
                    self.by_sh.setdefault(sh, set()).add(txid)
                else:
                    self.by_sh.get(sh, set()).discard(txid)
                dirty.add(sh)
        for sh in dirty:
            self.hist.pop(sh, None)

    def history(self, sh: str) -> ScripthashHistory:
        h = self.hist.get(sh)
        if h is not None:
            return h
        entries: list[HistoryEntry] = []
        inline: dict[str, ChainTx] = {}
        for txid in self.by_sh.get(sh, ()):
            w = self.txs[txid]
            tx = w.tx
            height = tx.height if w.confirmations > 0 and tx.height else 0
            entries.append(HistoryEntry(txid, height, tx.fee))
            inline[txid] = self.chain_tx(txid)
        ordered = order_history(entries)
        h = self.hist[sh] = ScripthashHistory(sh, ordered, inline, history_status(ordered))
        return h

    def chain_tx(self, txid: str) -> ChainTx:
        """A snapshot of the transaction with its current state and the inputs' prevouts the
        wallet knows (values and scripts: fees and spends without fetching parents)."""
        tx = self.txs[txid].tx
        inputs = self.inputs.get(txid)
        if inputs is None:
            inputs = self.inputs[txid] = _with_prevouts(tx, self.txs).inputs
        return ChainTx(
            tx.txid,
            tx.version,
            tx.locktime,
            inputs,
            tx.outputs,
            tx.weight,
            tx.fee,
            tx.height,
            tx.block_hash,
            tx.block_time,
        )


def _norm_desc(desc: str) -> str:
    return desc.split("#", 1)[0].replace("'", "h").strip()


def _network_hint(network: str) -> str:
    return f"Point MBF_CORE_RPC_URL at a node running on {network} (bitcoind -chain=...)."


class CoreBackend:
    """Bitcoin Core for one network (see the module docstring)."""

    name = "core"
    supports_subscriptions = True

    def __init__(
        self,
        url: str,
        *,
        network: str,
        user: str | None = None,
        password: str | None = None,
        cookie_file: Path | None = None,
        wallet_prefix: str = "mbf-",
        rescan_since: date | None = None,
        timeout_s: float = 15.0,
        retries: int = 3,
        concurrency: int = 8,
        zmq_hashblock: str | None = None,
        zmq_rawtx: str | None = None,
        poll_s: float = 5.0,
    ) -> None:
        self.rpc = CoreRpc(
            url,
            user=user,
            password=password,
            cookie_file=cookie_file,
            timeout_s=timeout_s,
            retries=retries,
            concurrency=concurrency,
        )
        self.url = self.rpc.url
        self.network = network
        self.wallet_prefix = wallet_prefix
        # Where a wallet without a birthday is rescanned from (MBF_CORE_RESCAN_SINCE; None: block 0)
        self.rescan_since = (
            datetime(rescan_since.year, rescan_since.month, rescan_since.day, tzinfo=UTC) if rescan_since else None
        )
        self.zmq_hashblock = zmq_hashblock
        self.zmq_rawtx = zmq_rawtx
        self.poll_s = poll_s
        self.wallets: dict[str, WalletCache] = {}
        self.wallet_disabled: bool | None = None  # learnt from the node (-disablewallet)
        self._chain_checked = False
        self._block_fees: dict[str, dict[str, int]] = {}
        self._tip_listeners: list[TipListener] = []
        self._sh_listener: ScripthashListener | None = None
        self._watched: dict[str, str] = {}  # scripthash -> Core wallet name
        self._tasks: list[asyncio.Task[None]] = []
        self._last_tip: str | None = None
        self.zmq_messages = 0
        self.zmq_feed: Any = None

    @property
    def requests(self) -> int:
        return self.rpc.requests

    # -- node ------------------------------------------------------------------------------------

    async def chain_info(self) -> dict[str, Any]:
        info: dict[str, Any] = await self.rpc.call("getblockchaininfo")
        if not self._chain_checked:
            chain = str(info.get("chain"))
            if chain not in CORE_CHAINS.get(self.network, ()):
                raise UpstreamUnavailable(
                    f"Bitcoin Core at {self.url} runs on {chain!r}, not {self.network}",
                    hint=_network_hint(self.network),
                )
            self._chain_checked = True
        return info

    async def tip(self) -> BlockRef:
        info = await self.chain_info()
        if info.get("initialblockdownload"):
            progress = float(info.get("verificationprogress") or 0)
            raise UpstreamUnavailable(
                f"Bitcoin Core at {self.url} is still in initial block download (block "
                f"{info.get('blocks')} of {info.get('headers')}, {progress:.1%} verified)",
                hint="Balances would be incomplete until the node has caught up; syncs resume by themselves.",
            )
        return BlockRef(int(info["blocks"]), str(info["bestblockhash"]))

    async def block_hashes(self, heights: Sequence[int]) -> dict[int, str]:
        answers = await self.rpc.batch([("getblockhash", [h]) for h in heights])
        return {h: a for h, a in zip(heights, answers, strict=True) if isinstance(a, str)}

    async def block_headers(self, heights: Sequence[int]) -> dict[int, BlockHeader]:
        hashes = await self.block_hashes(heights)
        hs = sorted(hashes)
        answers = await self.rpc.batch([("getblockheader", [hashes[h], True]) for h in hs])
        out: dict[int, BlockHeader] = {}
        for h, a in zip(hs, answers, strict=True):
            if isinstance(a, dict):
                out[h] = BlockHeader(h, str(a["hash"]), int(a["time"]), str(a.get("previousblockhash") or "00" * 32))
        return out

    async def transactions_hex(self, txids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        rest = []
        for txid in txids:
            wtx = self._cached(txid)
            if wtx is not None:
                out[txid] = wtx.hex
            else:
                rest.append(txid)
        if rest:
            answers = await self.rpc.batch([("getrawtransaction", [t, False]) for t in rest])
            for t, a in zip(rest, answers, strict=True):
                if isinstance(a, str):
                    out[t] = a
        return out

    def _cached(self, txid: str) -> CoreWalletTx | None:
        for cache in self.wallets.values():
            wtx = cache.txs.get(txid)
            if wtx is not None and wtx.hex:
                return wtx
        return None

    async def transactions(self, txids: Sequence[str]) -> dict[str, ChainTx]:
        """Transactions outside any wallet: the mempool's (or any with ``-txindex``)."""
        out: dict[str, ChainTx] = {}
        for txid, raw in (await self.transactions_hex(txids)).items():
            with contextlib.suppress(ValueError):
                out[txid] = decode_tx(raw)
        return out

    async def histories(
        self, scripthashes: Sequence[str], known: Mapping[str, KnownHistory] | None = None, *, fresh: bool = False
    ) -> dict[str, ScripthashHistory | None]:
        """Only a wallet's view (:meth:`bind`) knows histories: Core has no address index."""
        raise UpstreamUnavailable(
            "Bitcoin Core answers histories only for a wallet imported into it",
            hint="This is a bug: sync binds every wallet before scanning.",
        )

    async def utxos(self, scripthash: str) -> list[Utxo]:
        name = self._watched.get(scripthash)
        if name is None:
            return []
        return [u for sh, u in await self._wallet_utxos(name) if sh == scripthash]

    async def _wallet_utxos(self, name: str) -> list[tuple[str, Utxo]]:
        rows = await self.rpc.call("listunspent", 0, 9_999_999, [], True, wallet=name)
        tip = (await self.chain_info())["blocks"]
        out = []
        for r in rows:
            conf = int(r.get("confirmations", 0))
            height = int(tip) - conf + 1 if conf > 0 else 0
            sh = scripthash_of(bytes.fromhex(str(r["scriptPubKey"])))
            out.append((sh, Utxo(str(r["txid"]), int(r["vout"]), sats(r["amount"]), height)))
        return out

    async def fee_estimates(self) -> FeeEstimates:
        """``estimatesmartfee`` per target (BTC/kvB -> sat/vB) and the mempool's minimum fee
        (``getmempoolinfo``: the higher of ``mempoolminfee`` and ``minrelaytxfee``). Core has no
        fee histogram RPC: ``histogram`` stays empty."""
        answers = await self.rpc.batch([("estimatesmartfee", [t]) for t in FEE_TARGETS] + [("getmempoolinfo", [])])
        rates: dict[int, float] = {}
        for target, a in zip(FEE_TARGETS, answers, strict=False):
            if isinstance(a, dict) and a.get("feerate") is not None:
                rates[target] = round(float(a["feerate"]) * 100_000, 3)  # BTC/kvB -> sat/vB
        if not rates:
            raise UpstreamUnavailable(
                f"Bitcoin Core at {self.url} has no fee estimates yet",
                hint="estimatesmartfee needs the node to have seen enough blocks and transactions.",
            )
        pool = answers[-1]
        min_relay = None
        if isinstance(pool, dict):
            floor = max(float(pool.get("mempoolminfee") or 0), float(pool.get("minrelaytxfee") or 0))
            min_relay = round(floor * 100_000, 3) if floor > 0 else None
        return FeeEstimates(rates, (), min_relay)

    async def broadcast(self, raw_hex: str) -> str:
        """``testmempoolaccept`` first, so a rejection comes back with Core's reason and nothing
        is sent; then ``sendrawtransaction``."""
        try:
            verdict = (await self.rpc.call("testmempoolaccept", [raw_hex]))[0]
        except CoreRpcError as e:
            raise BroadcastRejected(e.message, e.code) from None
        if not verdict.get("allowed"):
            raise BroadcastRejected(str(verdict.get("reject-reason") or "rejected"), RPC_VERIFY_REJECTED)
        try:
            return str(await self.rpc.call("sendrawtransaction", raw_hex))
        except CoreRpcError as e:
            raise BroadcastRejected(e.message, e.code) from None

    async def health(self) -> dict[str, object]:
        try:
            info = await self.chain_info()
        except UpstreamUnavailable as exc:
            return {"ok": False, "server": self.url, "error": exc.message}
        return {
            "ok": not info.get("initialblockdownload"),
            "server": self.url,
            "backend": self.name,
            "height": info.get("blocks"),
            "pruned": bool(info.get("pruned")),
            "initialBlockDownload": bool(info.get("initialblockdownload")),
            "push": "zmq" if self.zmq_hashblock or self.zmq_rawtx else "poll",
            "walletDisabled": bool(self.wallet_disabled),
        }

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(BaseException):
                await t
        self._tasks = []
        await self.rpc.close()

    # -- wallets ---------------------------------------------------------------------------------

    def wallet_name(self, wallet_id: str) -> str:
        return f"{self.wallet_prefix}{wallet_id}"

    async def bind(
        self,
        wallet_id: str,
        descriptors: tuple[str, str],
        *,
        birthday: datetime | None = None,
        progress: RescanProgress | None = None,
    ) -> CoreWalletView | CoreScanView:
        """The wallet's view on Core, creating and importing it in Core first when needed."""
        name = self.wallet_name(wallet_id)
        if self.wallet_disabled:
            return CoreScanView(self, descriptors)
        cache = self.wallets.setdefault(name, WalletCache(name))
        async with cache.lock:
            if not cache.ready or cache.descriptors != descriptors:
                try:
                    await self._ensure_wallet(cache, descriptors, birthday, progress)
                except _WalletDisabled:
                    self.wallet_disabled = True
                    self.wallets.pop(name, None)
                    log.warning("core_wallet_disabled", server=self.url, mode="scantxoutset")
                    return CoreScanView(self, descriptors)
        return CoreWalletView(self, cache, progress)

    async def _ensure_wallet(
        self,
        cache: WalletCache,
        descriptors: tuple[str, str],
        birthday: datetime | None,
        progress: RescanProgress | None,
    ) -> None:
        name = cache.name
        try:
            loaded = await self.rpc.call("listwallets")
        except CoreRpcError as e:
            if e.code == RPC_METHOD_NOT_FOUND:
                raise _WalletDisabled from None
            raise _unexpected(e, self.url) from None
        if name not in loaded:
            await self._load_or_create(name)
        info = await self.rpc.call("getwalletinfo", wallet=name)
        if info.get("private_keys_enabled"):
            raise BadInput(
                f"The wallet {name!r} in Bitcoin Core holds private keys; this app only uses watch-only wallets",
                field="wallet",
                hint="Unload and rename that wallet in Core, or set MBF_CORE_WALLET_PREFIX to another prefix.",
            )
        if not info.get("descriptors", True):
            raise BadInput(
                f"The wallet {name!r} in Bitcoin Core is a legacy (non-descriptor) wallet",
                field="wallet",
                hint="Unload and rename it in Core; this app creates descriptor wallets itself.",
            )
        await self._wait_rescan(name, progress)
        have = {
            _norm_desc(str(d["desc"])) for d in (await self.rpc.call("listdescriptors", wallet=name))["descriptors"]
        }
        missing = [d for d in descriptors if _norm_desc(d) not in have]
        if missing:
            await self._import(name, descriptors, missing, birthday, progress)
        cache.descriptors = descriptors
        cache.ready = True

    async def _load_or_create(self, name: str) -> None:
        try:
            await self.rpc.call("loadwallet", name, True, timeout=None)
            return
        except CoreRpcError as e:
            if e.code == RPC_WALLET_ALREADY_LOADED:
                return  # loaded meanwhile (another process, or by hand): use it
            if e.code not in (RPC_WALLET_NOT_FOUND, RPC_WALLET_ERROR):
                raise _unexpected(e, self.url) from None
        try:
            # createwallet wallet_name disable_private_keys blank passphrase avoid_reuse descriptors load_on_startup
            await self.rpc.call("createwallet", name, True, True, "", False, True, True, timeout=None)
            log.info("core_wallet_created", server=self.url, wallet=name)
        except CoreRpcError as e:
            if e.code in (RPC_WALLET_ALREADY_LOADED,):
                return
            if e.code in (RPC_WALLET_ERROR, RPC_WALLET_ALREADY_EXISTS) and "exist" in e.message.lower():
                try:
                    await self.rpc.call("loadwallet", name, True, timeout=None)
                except CoreRpcError as e2:
                    if e2.code != RPC_WALLET_ALREADY_LOADED:
                        raise _unexpected(e2, self.url) from None
                return
            raise _unexpected(e, self.url) from None

    async def _import(
        self,
        name: str,
        descriptors: tuple[str, str],
        missing: list[str],
        birthday: datetime | None,
        progress: RescanProgress | None,
    ) -> None:
        info = await self.chain_info()
        birthday = birthday or self.rescan_since
        ts = int(birthday.timestamp()) if birthday is not None else 0
        if info.get("pruned"):
            prune_height = int(info.get("pruneheight") or 0)
            if prune_height > 0:
                header = (await self.block_headers([prune_height])).get(prune_height)
                first_time = header.time if header else 0
                if ts - TIMESTAMP_WINDOW < first_time:
                    when = datetime.fromtimestamp(first_time, UTC).date().isoformat()
                    since = "its birthday" if birthday else "the first block (no birthday given)"
                    raise BadInput(
                        f"Bitcoin Core at {self.url} is pruned below height {prune_height} ({when}); "
                        f"this wallet must be rescanned from {since}, which the node no longer has",
                        field="birthday",
                        hint=f"Set MBF_CORE_RESCAN_SINCE to a date after {when} (block {prune_height}) if the "
                        "wallet has no older history, use an unpruned node, or an Electrum/Esplora backend.",
                    )
        requests = [
            {
                "desc": d,
                "timestamp": ts,
                "internal": i == 1,
                # a non-ranged descriptor (addr(), one key) is imported once, neither ranged nor active
                **({"active": True, "range": [0, RANGE_END], "next_index": 0} if "*" in d else {}),
            }
            for i, d in enumerate(descriptors)
            if d in missing
        ]
        log.info("core_wallet_import", server=self.url, wallet=name, descriptors=len(requests), rescan_from=ts)
        started = time.monotonic()
        call = asyncio.ensure_future(self.rpc.call("importdescriptors", requests, wallet=name, timeout=None))
        try:
            while not call.done():
                await asyncio.wait({call}, timeout=SCAN_POLL_S)
                if not call.done() and progress is not None:
                    fraction = await self._scanning(name)
                    if fraction is not None:
                        await progress(fraction)
            results = call.result()
        except CoreRpcError as e:
            if e.code == RPC_WALLET_ERROR and "rescanning" in e.message.lower():
                await self._wait_rescan(name, progress)
                return
            raise _unexpected(e, self.url) from None
        finally:
            if not call.done():
                call.cancel()
        for r in results:
            if not r.get("success"):
                err = r.get("error") or {}
                raise UpstreamUnavailable(
                    f"Bitcoin Core could not import the wallet's descriptors: {err.get('message', 'failed')}",
                    hint="See bitcoind's debug.log; a pruned node cannot rescan blocks it no longer has.",
                )
        log.info("core_wallet_imported", wallet=name, seconds=round(time.monotonic() - started, 2))

    async def _scanning(self, name: str) -> float | None:
        with contextlib.suppress(CoreRpcError, UpstreamUnavailable):
            scanning = (await self.rpc.call("getwalletinfo", wallet=name)).get("scanning")
            if isinstance(scanning, dict):
                return float(scanning.get("progress") or 0)
        return None

    async def _wait_rescan(self, name: str, progress: RescanProgress | None) -> dict[str, Any]:
        """A rescan already running (an import before a restart, or started by hand): wait for
        it. Returns the wallet's ``getwalletinfo``."""
        while True:
            try:
                info: dict[str, Any] = await self.rpc.call("getwalletinfo", wallet=name)
            except CoreRpcError as e:
                cache = self.wallets.get(name)
                if e.code == RPC_WALLET_NOT_FOUND and cache is not None:
                    cache.ready = False  # unloaded behind our back: the next sync loads it again
                    raise UpstreamUnavailable(
                        f"The wallet {name!r} is no longer loaded in Bitcoin Core", hint="The next sync loads it again."
                    ) from None
                raise _unexpected(e, self.url) from None
            scanning = info.get("scanning")
            if not isinstance(scanning, dict):
                return info
            if progress is not None:
                await progress(float(scanning.get("progress") or 0))
            await asyncio.sleep(SCAN_POLL_S)

    async def refresh(self, cache: WalletCache, info: dict[str, Any]) -> None:
        """Bring the wallet's transactions up to date: listsinceblock, then gettransaction for the
        new ones and getmempoolentry for the unconfirmed ones. ``info``: the wallet's
        ``getwalletinfo`` read just before (its ``txcount`` is the polling baseline: read before
        listsinceblock, a payment in between costs at most one more sync and is never missed)."""
        name = cache.name
        cache.txcount = int(info.get("txcount", 0))
        try:
            since = await self.rpc.call("listsinceblock", cache.last_block, 1, True, True, wallet=name)
        except CoreRpcError as e:
            if e.code == RPC_INVALID_ADDRESS_OR_KEY and cache.last_block:
                cache.last_block = None  # the block is unknown to the node (reindexed?): start over
                cache.clear()
                since = await self.rpc.call("listsinceblock", None, 1, True, True, wallet=name)
            elif e.code == RPC_WALLET_NOT_FOUND:
                cache.ready = False  # unloaded behind our back
                raise UpstreamUnavailable(
                    f"The wallet {name!r} is no longer loaded in Bitcoin Core", hint="The next sync loads it again."
                ) from None
            else:
                raise _unexpected(e, self.url) from None
        state: dict[str, dict[str, Any]] = {}
        for entry in [*since.get("removed", []), *since.get("transactions", [])]:
            state[str(entry["txid"])] = entry  # transactions (current state) win over removed
        if cache.last_block is None:
            cache.clear()
        new = [t for t in state if t not in cache.txs]
        answers = await self.rpc.batch([("gettransaction", [t, True]) for t in new], wallet=name)
        for txid, a in zip(new, answers, strict=True):
            if isinstance(a, dict):
                cache.txs[txid] = CoreWalletTx(decode_tx(str(a["hex"])), int(a.get("confirmations", 0)), str(a["hex"]))
                state[txid] = a
        for txid, entry in state.items():
            wtx = cache.txs.get(txid)
            if wtx is None:
                continue
            wtx.confirmations = int(entry.get("confirmations", 0))
            if wtx.confirmations > 0:
                wtx.tx.height = int(entry["blockheight"])
                wtx.tx.block_hash = str(entry["blockhash"])
                wtx.tx.block_time = int(entry["blocktime"])
            else:
                wtx.tx.height = wtx.tx.block_hash = wtx.tx.block_time = None
        # Unconfirmed: still in the mempool? (Core keeps replaced/evicted ones at 0 confirmations.)
        unconfirmed = [t for t, w in cache.txs.items() if w.confirmations == 0]
        entries = await self.rpc.batch([("getmempoolentry", [t]) for t in unconfirmed])
        for txid, a in zip(unconfirmed, entries, strict=True):
            wtx = cache.txs[txid]
            wtx.in_mempool = isinstance(a, dict)
            if isinstance(a, dict) and wtx.tx.fee is None:
                fees = a.get("fees") or {}
                if fees.get("base") is not None:
                    wtx.tx.fee = sats(fees["base"])
        for w in cache.txs.values():
            if w.confirmations != 0:
                w.in_mempool = False
        await self._fill_fees(cache)
        cache.reindex()
        cache.last_block = str(since["lastblock"])

    async def _fill_fees(self, cache: WalletCache) -> None:
        """Fees of confirmed transactions with inputs from outside the wallet: getblock verbosity 2."""
        blocks: set[str] = set()
        for w in cache.txs.values():
            tx = w.tx
            if tx.fee is not None or tx.is_coinbase:
                if tx.is_coinbase:
                    tx.fee = 0
                continue
            values = [cache.txs.get(i.prev_txid) for i in tx.inputs]
            if all(p is not None and i.prev_vout < len(p.tx.outputs) for p, i in zip(values, tx.inputs, strict=True)):
                tx.fee = sum(
                    p.tx.outputs[i.prev_vout].value for p, i in zip(values, tx.inputs, strict=True) if p
                ) - sum(o.value for o in tx.outputs)
            elif w.confirmations > 0 and tx.block_hash:
                blocks.add(tx.block_hash)
        todo = [b for b in blocks if b not in self._block_fees]
        answers = await self.rpc.batch([("getblock", [b, 2]) for b in todo])
        for b, a in zip(todo, answers, strict=True):
            if isinstance(a, dict):
                self._block_fees[b] = {str(t["txid"]): sats(t["fee"]) for t in a.get("tx", []) if "fee" in t}
        for w in cache.txs.values():
            if w.tx.fee is None and w.tx.block_hash in self._block_fees:
                w.tx.fee = self._block_fees[w.tx.block_hash].get(w.tx.txid)

    # -- push: ZMQ or polling ----------------------------------------------------------------------

    async def subscribe_tip(self, listener: TipListener) -> None:
        """ZMQ (or polling) tells later blocks only; the current tip is not announced."""
        self._tip_listeners.append(listener)
        self._start_push()

    async def subscribe_scripthashes(
        self, scripthashes: Sequence[str], listener: ScripthashListener
    ) -> dict[str, str | None]:
        """Watch scripts of bound wallets: a ZMQ ``rawtx`` touching one (or, when polling, a
        change of the wallet's ``txcount``) calls ``listener``."""
        self._sh_listener = listener
        self._start_push()
        return dict.fromkeys(scripthashes)

    def watch_wallet_scripts(self, name: str, scripthashes: Sequence[str]) -> None:
        for sh in scripthashes:
            self._watched[sh] = name

    def _start_push(self) -> None:
        if self._tasks:
            return
        if self.zmq_hashblock or self.zmq_rawtx:
            from app.chain.core_zmq import ZmqFeed

            feed = ZmqFeed(
                self.zmq_hashblock,
                self.zmq_rawtx,
                on_block=self._on_block_hash,
                on_rawtx=self._on_rawtx,
                on_gap=self._on_gap,
            )
            self.zmq_feed = feed
            self._tasks.append(asyncio.create_task(feed.run(), name="core-zmq"))
            if not self.zmq_hashblock:
                self._tasks.append(asyncio.create_task(self._poll(wallets=False), name="core-poll"))
        else:
            self._tasks.append(asyncio.create_task(self._poll(wallets=True), name="core-poll"))

    async def _on_block_hash(self, block_hash: str) -> None:
        self.zmq_messages += 1
        if block_hash == self._last_tip:
            return
        self._last_tip = block_hash
        try:
            header = await self.rpc.call("getblockheader", block_hash, True)
        except (CoreRpcError, UpstreamUnavailable) as exc:
            log.warning("core_block_header_failed", error=str(exc))
            return
        await self._tell_tip(BlockRef(int(header["height"]), block_hash))

    async def _on_gap(self) -> None:
        """ZMQ dropped messages: some payment or block may have gone unnoticed, so every watched
        wallet is resynced (through the tip listeners, as after a new block)."""
        try:
            info = await self.chain_info()
        except UpstreamUnavailable as exc:
            log.warning("core_gap_resync_failed", error=exc.message)
            return
        await self._tell_tip(BlockRef(int(info["blocks"]), str(info["bestblockhash"])))

    async def _tell_tip(self, ref: BlockRef) -> None:
        for listener in list(self._tip_listeners):
            try:
                await listener(ref)
            except Exception:
                log.exception("core_tip_listener_failed")

    async def _on_rawtx(self, raw: bytes) -> None:
        self.zmq_messages += 1
        listener = self._sh_listener
        if listener is None:
            return
        try:
            tx = decode_tx(raw)
        except ValueError:
            return
        touched: set[str] = set()
        for o in tx.outputs:
            sh = scripthash_of(bytes.fromhex(o.script_pubkey))
            if sh in self._watched:
                touched.add(sh)
        for i in tx.inputs:
            for cache in self.wallets.values():
                sh2 = cache.outpoints.get((i.prev_txid, i.prev_vout))
                if sh2 is not None:
                    touched.add(sh2)
        for sh in touched:
            try:
                await listener(sh, None)
            except Exception:
                log.exception("core_script_listener_failed")

    async def _poll(self, *, wallets: bool) -> None:
        """No ZMQ: getbestblockhash (and each watched wallet's txcount) every ``poll_s``."""
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                best = await self.rpc.call("getbestblockhash")
                if best != self._last_tip:
                    if self._last_tip is not None:
                        await self._on_block_hash(str(best))
                    self._last_tip = str(best)
                if wallets and self._sh_listener is not None:
                    for name in sorted(set(self._watched.values())):
                        cache = self.wallets.get(name)
                        if cache is None:
                            continue
                        count = int((await self.rpc.call("getwalletinfo", wallet=name)).get("txcount", 0))
                        if cache.txcount is not None and count != cache.txcount:
                            sh = next(s for s, n in self._watched.items() if n == name)
                            await self._sh_listener(sh, None)
                        cache.txcount = count
            except (CoreRpcError, UpstreamUnavailable) as exc:
                log.info("core_poll_failed", error=str(exc))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("core_poll_crashed")


class _WalletDisabled(Exception):
    """The node runs with -disablewallet."""


def _unexpected(e: CoreRpcError, url: str) -> UpstreamUnavailable:
    return UpstreamUnavailable(
        f"Bitcoin Core at {url} failed {e.method}: {e.message} (code {e.code})",
        hint="See bitcoind's debug.log.",
    )


def _with_prevouts(tx: ChainTx, txs: Mapping[str, CoreWalletTx]) -> ChainTx:
    """The transaction with the values/scripts of inputs whose parent the wallet holds."""
    inputs = []
    for i in tx.inputs:
        p = txs.get(i.prev_txid)
        if p is not None and i.prev_vout < len(p.tx.outputs) and i.value is None:
            o = p.tx.outputs[i.prev_vout]
            inputs.append(TxInput(i.prev_txid, i.prev_vout, i.sequence, o.value, o.script_pubkey))
        else:
            inputs.append(i)
    return ChainTx(
        tx.txid,
        tx.version,
        tx.locktime,
        tuple(inputs),
        tx.outputs,
        tx.weight,
        tx.fee,
        tx.height,
        tx.block_hash,
        tx.block_time,
    )


class _ViewBase:
    """What a wallet's view shares with the backend (chain reads, push, broadcast)."""

    def __init__(self, backend: CoreBackend) -> None:
        self.backend = backend
        self.name = backend.name
        self.url = backend.url
        self.network = backend.network
        self.supports_subscriptions = backend.supports_subscriptions

    @property
    def requests(self) -> int:
        return self.backend.requests

    async def tip(self) -> BlockRef:
        return await self.backend.tip()

    async def block_headers(self, heights: Sequence[int]) -> dict[int, BlockHeader]:
        return await self.backend.block_headers(heights)

    async def block_hashes(self, heights: Sequence[int]) -> dict[int, str]:
        return await self.backend.block_hashes(heights)

    async def fee_estimates(self) -> FeeEstimates:
        return await self.backend.fee_estimates()

    async def broadcast(self, raw_hex: str) -> str:
        return await self.backend.broadcast(raw_hex)

    async def subscribe_tip(self, listener: TipListener) -> BlockRef | None:
        await self.backend.subscribe_tip(listener)
        return None  # Core tells later blocks only

    async def health(self) -> dict[str, object]:
        return await self.backend.health()

    async def close(self) -> None:
        """The backend outlives its views."""


class CoreWalletView(_ViewBase):
    """One Core wallet as a ``ChainBackend``: histories, transactions and UTXOs of its scripts."""

    def __init__(self, backend: CoreBackend, cache: WalletCache, progress: RescanProgress | None) -> None:
        super().__init__(backend)
        self.cache = cache
        self.progress = progress
        self._loading: asyncio.Future[None] | None = None

    async def _load(self) -> None:
        """One refresh per view (the scanner asks for both chains at once)."""
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._refresh())
        await asyncio.shield(self._loading)

    async def _refresh(self) -> None:
        cache = self.cache
        async with cache.lock:
            info = await self.backend._wait_rescan(cache.name, self.progress)
            await self.backend.refresh(cache, info)

    async def histories(
        self, scripthashes: Sequence[str], known: Mapping[str, KnownHistory] | None = None, *, fresh: bool = False
    ) -> dict[str, ScripthashHistory | None]:
        await self._load()
        self.backend.watch_wallet_scripts(self.cache.name, scripthashes)
        result: dict[str, ScripthashHistory | None] = {}
        for sh in scripthashes:
            h = self.cache.history(sh)
            k = known.get(sh) if known else None
            result[sh] = None if k is not None and k.status == h.status else h
        return result

    async def transactions(self, txids: Sequence[str]) -> dict[str, ChainTx]:
        out = {t: self.cache.chain_tx(t) for t in txids if t in self.cache.txs}
        rest = [t for t in txids if t not in out]
        if rest:
            out.update(await self.backend.transactions(rest))
        return out

    async def transactions_hex(self, txids: Sequence[str]) -> dict[str, str]:
        return await self.backend.transactions_hex(txids)

    async def utxos(self, scripthash: str) -> list[Utxo]:
        return [u for sh, u in await self.backend._wallet_utxos(self.cache.name) if sh == scripthash]

    async def subscribe_scripthashes(
        self, scripthashes: Sequence[str], listener: ScripthashListener
    ) -> dict[str, str | None]:
        self.backend.watch_wallet_scripts(self.cache.name, scripthashes)
        return await self.backend.subscribe_scripthashes(scripthashes, listener)


class CoreScanView(_ViewBase):
    """A ``-disablewallet`` node: balances and UTXOs from ``scantxoutset`` over the wallet's
    descriptors. Only confirmed, unspent outputs are visible: no spent history, no mempool,
    no fee for transactions whose inputs are not the wallet's; one scan runs at a time."""

    def __init__(self, backend: CoreBackend, descriptors: tuple[str, str]) -> None:
        super().__init__(backend)
        self.descriptors = descriptors
        self._histories: dict[str, ScripthashHistory] | None = None
        self._txs: dict[str, ChainTx] = {}
        self._unspent: list[tuple[str, Utxo]] = []

    async def _load(self) -> dict[str, ScripthashHistory]:
        if self._histories is not None:
            return self._histories
        objects = [{"desc": d, "range": [0, RANGE_END]} for d in self.descriptors]
        try:
            scan = await self.backend.rpc.call("scantxoutset", "start", objects, timeout=None)
        except CoreRpcError as e:
            if "in progress" in e.message.lower():
                raise UpstreamUnavailable(
                    f"Bitcoin Core at {self.url} is already running a scantxoutset",
                    hint="Only one UTXO set scan runs at a time; the next sync tries again.",
                ) from None
            raise _unexpected(e, self.url) from None
        if not scan or not scan.get("success", True):
            raise UpstreamUnavailable(f"Bitcoin Core at {self.url} aborted the UTXO set scan", hint="Sync again.")
        unspents = scan.get("unspents", [])
        by_tx: dict[str, dict[str, Any]] = {}
        for u in unspents:
            by_tx.setdefault(str(u["txid"]), u)
        heights = sorted({int(u["height"]) for u in by_tx.values()})
        hashes = await self.backend.block_hashes(heights)
        calls = [
            ("getrawtransaction", [t, False, str(u.get("blockhash") or hashes[int(u["height"])])])
            for t, u in by_tx.items()
        ]
        answers = await self.backend.rpc.batch(calls)
        headers = await self.backend.block_headers(heights)
        for (txid, u), raw in zip(by_tx.items(), answers, strict=True):
            if not isinstance(raw, str):
                continue
            tx = decode_tx(raw)
            h = int(u["height"])
            tx.height, tx.block_hash = h, hashes.get(h)
            tx.block_time = headers[h].time if h in headers else None
            if tx.is_coinbase:
                tx.fee = 0
            self._txs[txid] = tx
        entries: dict[str, list[HistoryEntry]] = {}
        inline: dict[str, dict[str, ChainTx]] = {}
        for u in unspents:
            txid = str(u["txid"])
            found = self._txs.get(txid)
            if found is None:
                continue
            sh = scripthash_of(bytes.fromhex(str(u["scriptPubKey"])))
            self._unspent.append((sh, Utxo(txid, int(u["vout"]), sats(u["amount"]), int(u["height"]))))
            if all(e.txid != txid for e in entries.get(sh, [])):
                entries.setdefault(sh, []).append(HistoryEntry(txid, int(u["height"])))
                inline.setdefault(sh, {})[txid] = found
        self._histories = {
            sh: ScripthashHistory(sh, order_history(es), inline[sh], history_status(order_history(es)))
            for sh, es in entries.items()
        }
        return self._histories

    async def histories(
        self, scripthashes: Sequence[str], known: Mapping[str, KnownHistory] | None = None, *, fresh: bool = False
    ) -> dict[str, ScripthashHistory | None]:
        hist = await self._load()
        result: dict[str, ScripthashHistory | None] = {}
        for sh in scripthashes:
            h = hist.get(sh) or ScripthashHistory(sh, [], {}, None)
            k = known.get(sh) if known else None
            result[sh] = None if k is not None and k.status == h.status else h
        return result

    async def transactions(self, txids: Sequence[str]) -> dict[str, ChainTx]:
        out = {t: self._txs[t] for t in txids if t in self._txs}
        rest = [t for t in txids if t not in out]
        if rest:
            out.update(await self.backend.transactions(rest))
        return out

    async def transactions_hex(self, txids: Sequence[str]) -> dict[str, str]:
        return await self.backend.transactions_hex(txids)

    async def utxos(self, scripthash: str) -> list[Utxo]:
        await self._load()
        return [u for sh, u in self._unspent if sh == scripthash]

    async def subscribe_scripthashes(
        self, scripthashes: Sequence[str], listener: ScripthashListener
    ) -> dict[str, str | None]:
        return dict.fromkeys(scripthashes)
