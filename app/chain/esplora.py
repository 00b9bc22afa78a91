"""Esplora REST backend (Blockstream electrs, mempool.space, any ``esplora`` API server).

One ``httpx.AsyncClient`` per backend (connection reuse), a concurrency cap, per-request
timeouts, retries with backoff and jitter on connection errors / 5xx / 429, and errors mapped
to ``UpstreamUnavailable`` (naming the server and the reason) or ``BadInput`` (a broadcast the
server refused).

Scripthashes: the protocol's are Electrum's (``sha256(script)`` byte-reversed); the REST paths
take the digest in its natural order, as electrs and BDK do (:func:`rest_scripthash`).

History paging: ``GET /scripthash/:h/txs`` returns the mempool transactions plus the newest
25 confirmed ones; ``GET /scripthash/:h/txs/chain/:last_seen`` pages further back. With a
:class:`KnownHistory`, paging stops at the first confirmed transaction already known.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

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
    TxOutput,
    Utxo,
    history_status,
    order_history,
    rejection_reason,
)
from app.chain.http import LeanTransport
from app.chain.retry import Breaker, Transient, with_retries
from app.errors import UpstreamUnavailable

CHAIN_PAGE = 25  # confirmed transactions per page (electrs' constant)


def parse_esplora_tx(d: Mapping[str, Any]) -> ChainTx:
    """An Esplora transaction JSON object -> :class:`ChainTx` (prevout values included)."""
    inputs = []
    for vin in d["vin"]:
        prevout = vin.get("prevout")
        if vin.get("is_coinbase"):
            inputs.append(TxInput("0" * 64, 0xFFFFFFFF, int(vin.get("sequence", 0xFFFFFFFF)), None, None))
            continue
        inputs.append(
            TxInput(
                prev_txid=vin["txid"],
                prev_vout=int(vin["vout"]),
                sequence=int(vin.get("sequence", 0xFFFFFFFF)),
                value=int(prevout["value"]) if prevout else None,
                script_pubkey=prevout["scriptpubkey"] if prevout else None,
            )
        )
    outputs = tuple(TxOutput(int(o["value"]), o["scriptpubkey"]) for o in d["vout"])
    status = d.get("status") or {}
    confirmed = bool(status.get("confirmed"))
    tx = ChainTx(
        txid=d["txid"],
        version=int(d.get("version", 2)),
        locktime=int(d.get("locktime", 0)),
        inputs=tuple(inputs),
        outputs=outputs,
        weight=int(d.get("weight") or 0),
        fee=int(d["fee"]) if d.get("fee") is not None else None,
        height=int(status["block_height"]) if confirmed else None,
        block_hash=status.get("block_hash") if confirmed else None,
        block_time=int(status["block_time"]) if confirmed and status.get("block_time") else None,
    )
    if tx.is_coinbase:
        tx.fee = 0
    return tx


def rest_scripthash(scripthash: str) -> str:
    """Esplora's REST API wants the plain SHA256 digest of the scriptPubKey (electrs' order),
    the reverse of the Electrum scripthash that the rest of the app uses."""
    return bytes.fromhex(scripthash)[::-1].hex()


def _entry(tx: ChainTx) -> HistoryEntry:
    if tx.confirmed:
        return HistoryEntry(tx.txid, tx.height or 0)
    # Esplora does not say whether the parents are unconfirmed; -1 when an input is ours and
    # unconfirmed is decided by the caller if it matters. 0 keeps status hashes comparable.
    return HistoryEntry(tx.txid, 0, tx.fee)


class EsploraBackend:
    """The Esplora REST API for one network."""

    name = "esplora"
    supports_subscriptions = False

    def __init__(
        self,
        url: str,
        *,
        network: str,
        timeout_s: float = 15.0,
        retries: int = 3,
        concurrency: int = 16,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.network = network
        self.retries = retries
        self._sem = asyncio.Semaphore(concurrency)
        self._breaker = Breaker()
        self._client = httpx.AsyncClient(
            base_url=self.url,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            headers={"User-Agent": "mybitcoinfuture"},
            # A lean keep-alive transport: a full scan is thousands of small GETs (app/chain/http.py).
            transport=transport or LeanTransport(max_connections=concurrency),
        )
        self.requests = 0  # counter, for benchmarks and health

    # -- HTTP ------------------------------------------------------------------------------

    async def _request(
        self, method: str, path: str, *, content: str | None = None, ok_404: bool = False
    ) -> httpx.Response | None:
        async def once() -> httpx.Response | None:
            async with self._sem:
                self.requests += 1
                try:
                    resp = await self._client.request(method, path, content=content)
                except httpx.TimeoutException:
                    raise Transient(f"timed out on {path}") from None
                except httpx.TransportError as exc:
                    raise Transient(f"{type(exc).__name__}: {exc or 'connection failed'}") from None
            if resp.status_code == 429 or resp.status_code >= 500:
                retry_after = resp.headers.get("retry-after")
                raise Transient(
                    f"HTTP {resp.status_code} on {path}",
                    float(retry_after) if retry_after and retry_after.isdigit() else None,
                )
            if resp.status_code == 404 and ok_404:
                return None
            if resp.status_code == 400 and method == "POST":
                raise BroadcastRejected(*rejection_reason(resp.text))
            if resp.status_code >= 400:
                raise UpstreamUnavailable(
                    f"Chain server {self.url} answered HTTP {resp.status_code} on {path}: {resp.text.strip()[:200]}"
                )
            return resp

        return await with_retries(once, retries=self.retries, server=self.url, breaker=self._breaker)

    async def _json(self, path: str, *, ok_404: bool = False) -> Any:
        resp = await self._request("GET", path, ok_404=ok_404)
        if resp is None:
            return None
        try:
            return resp.json()
        except json.JSONDecodeError:
            raise UpstreamUnavailable(f"Chain server {self.url} sent invalid JSON on {path}") from None

    async def _text(self, path: str, *, ok_404: bool = False) -> str | None:
        resp = await self._request("GET", path, ok_404=ok_404)
        return None if resp is None else resp.text.strip()

    # -- chain ----------------------------------------------------------------------------

    async def tip(self) -> BlockRef:
        height = int(await self._text("/blocks/tip/height") or 0)
        block_hash = await self._text(f"/block-height/{height}", ok_404=True)
        if block_hash is None:  # the tip moved back between the two calls (reorg): ask again
            block_hash = await self._text("/blocks/tip/hash") or ""
            block = await self._json(f"/block/{block_hash}")
            height = int(block["height"])
        return BlockRef(height, block_hash)

    async def tip_hash(self) -> str:
        """The best block's hash in one request (the live poller's per-interval check)."""
        return await self._text("/blocks/tip/hash") or ""

    async def _header(self, height: int) -> BlockHeader | None:
        block_hash = await self._text(f"/block-height/{height}", ok_404=True)
        if not block_hash:
            return None
        block = await self._json(f"/block/{block_hash}", ok_404=True)
        if block is None:
            return None
        return BlockHeader(height, block_hash, int(block["timestamp"]), block.get("previousblockhash") or "")

    async def block_headers(self, heights: Sequence[int]) -> dict[int, BlockHeader]:
        wanted = sorted(set(heights))
        found = await asyncio.gather(*(self._header(h) for h in wanted))
        return {h.height: h for h in found if h is not None}

    async def block_hashes(self, heights: Sequence[int]) -> dict[int, str]:
        """Just the hashes (one request per height): enough to detect a reorg."""
        wanted = sorted(set(heights))
        found = await asyncio.gather(*(self._text(f"/block-height/{h}", ok_404=True) for h in wanted))
        return {h: v for h, v in zip(wanted, found, strict=True) if v}

    # -- scripthashes --------------------------------------------------------------------

    async def history(self, scripthash: str, known: KnownHistory | None = None) -> ScripthashHistory:
        """One scripthash: first page, then chain pages until the end or a known tx."""
        base = f"/scripthash/{rest_scripthash(scripthash)}/txs"
        known_conf = known.confirmed if known else {}
        txs: dict[str, ChainTx] = {}
        page: list[dict[str, Any]] = await self._json(base)
        reached_known = False
        while True:
            confirmed_in_page = 0
            last_confirmed: str | None = None
            for d in page:
                tx = parse_esplora_tx(d)
                if tx.confirmed:
                    confirmed_in_page += 1
                    last_confirmed = tx.txid
                    if known_conf.get(tx.txid) == tx.height:
                        reached_known = True
                txs.setdefault(tx.txid, tx)
            if reached_known or confirmed_in_page < CHAIN_PAGE or last_confirmed is None:
                break
            page = await self._json(f"{base}/chain/{last_confirmed}")
        entries = {t.txid: _entry(t) for t in txs.values()}
        if reached_known:
            # Older confirmed transactions are those we already have (reorgs are checked
            # separately against block hashes by the caller).
            for txid, height in known_conf.items():
                entries.setdefault(txid, HistoryEntry(txid, height))
        ordered = order_history(list(entries.values()))
        return ScripthashHistory(scripthash, ordered, txs, history_status(ordered))

    async def histories(
        self, scripthashes: Sequence[str], known: Mapping[str, KnownHistory] | None = None, *, fresh: bool = False
    ) -> dict[str, ScripthashHistory | None]:
        known = known or {}
        results = await asyncio.gather(*(self.history(sh, known.get(sh)) for sh in scripthashes))
        out: dict[str, ScripthashHistory | None] = {}
        for sh, hist in zip(scripthashes, results, strict=True):
            prev = known.get(sh)
            out[sh] = None if prev is not None and prev.status == hist.status else hist
        return out

    async def utxos(self, scripthash: str) -> list[Utxo]:
        data = await self._json(f"/scripthash/{rest_scripthash(scripthash)}/utxo")
        return [
            Utxo(
                u["txid"],
                int(u["vout"]),
                int(u["value"]),
                int(u["status"]["block_height"]) if u.get("status", {}).get("confirmed") else 0,
            )
            for u in data
        ]

    async def mempool_txids(self, limit: int = 20_000) -> frozenset[str] | None:
        """Every txid in the server's mempool, or ``None`` when there are more than ``limit``
        (then fetching the list costs more than asking address by address)."""
        info = await self._json("/mempool")
        if not isinstance(info, dict) or int(info.get("count", limit + 1)) > limit:
            return None
        txids = await self._json("/mempool/txids")
        return frozenset(txids) if isinstance(txids, list) else None

    # -- transactions --------------------------------------------------------------------

    async def transactions(self, txids: Sequence[str]) -> dict[str, ChainTx]:
        wanted = list(dict.fromkeys(txids))
        found = await asyncio.gather(*(self._json(f"/tx/{t}", ok_404=True) for t in wanted))
        return {d["txid"]: parse_esplora_tx(d) for d in found if d is not None}

    async def transactions_hex(self, txids: Sequence[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(txids))
        found = await asyncio.gather(*(self._text(f"/tx/{t}/hex", ok_404=True) for t in wanted))
        return {t: h for t, h in zip(wanted, found, strict=True) if h}

    async def fee_estimates(self) -> FeeEstimates:
        """``/fee-estimates`` (target -> sat/vB) and ``/mempool``'s ``fee_histogram``."""
        data, mempool = await asyncio.gather(self._json("/fee-estimates"), self._json("/mempool"))
        try:
            rates = {int(k): float(v) for k, v in (data or {}).items() if float(v) > 0}
            hist = tuple((float(r), int(v)) for r, v in ((mempool or {}).get("fee_histogram") or []) if float(r) >= 0)
        except (TypeError, ValueError, AttributeError):
            raise UpstreamUnavailable(f"Chain server {self.url} sent malformed fee estimates") from None
        if not rates:
            raise UpstreamUnavailable(f"Chain server {self.url} has no fee estimates yet")
        return FeeEstimates(rates, hist, None)

    async def broadcast(self, raw_hex: str) -> str:
        """``POST /tx``; a 400 carries bitcoind's rejection (``BroadcastRejected``)."""
        resp = await self._request("POST", "/tx", content=raw_hex.strip())
        assert resp is not None
        return resp.text.strip()

    # -- subscriptions (not in the REST API: the scheduler polls instead) ----------------

    async def subscribe_tip(self, listener: TipListener) -> None:
        raise NotImplementedError("Esplora has no subscriptions; poll tip() instead")

    async def subscribe_scripthashes(
        self, scripthashes: Sequence[str], listener: ScripthashListener
    ) -> dict[str, str | None]:
        raise NotImplementedError("Esplora has no subscriptions; poll histories() instead")

    # -- lifecycle -------------------------------------------------------------------------

    async def health(self) -> dict[str, object]:
        try:
            tip = await self.tip()
        except UpstreamUnavailable as exc:
            return {"ok": False, "backend": self.name, "url": self.url, "error": exc.message}
        return {"ok": True, "backend": self.name, "url": self.url, "tip": tip.height}

    async def close(self) -> None:
        await self._client.aclose()
