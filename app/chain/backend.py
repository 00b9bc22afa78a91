"""The ``ChainBackend`` protocol: what sync needs from a chain server, and the typed results.

Two implementations: :mod:`app.chain.esplora` (Esplora REST: mempool.space, Blockstream,
electrs) and :mod:`app.chain.electrum` (the Electrum protocol over TCP/TLS). The sync code is
written once against this protocol.

Conventions: txids, block hashes and scripthashes are lower-case hex in display order (the
Electrum scripthash is ``sha256(scriptPubKey)`` reversed, which Esplora also uses). Amounts are
``int`` satoshis. A history entry's ``height`` is ``> 0`` when confirmed, ``0`` in the mempool
and ``-1`` in the mempool with unconfirmed parents (Electrum's convention, also used here for
Esplora).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from app.errors import BadInput

# Listener callbacks for subscriptions.
TipListener = Callable[["BlockRef"], Awaitable[None]]
ScripthashListener = Callable[[str, str | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class BlockRef:
    """A block on the best chain: its height and hash."""

    height: int
    hash: str


@dataclass(frozen=True, slots=True)
class BlockHeader:
    height: int
    hash: str
    time: int  # unix seconds, from the header
    prev_hash: str


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    txid: str
    height: int  # > 0 confirmed; 0 / -1 mempool
    fee: int | None = None  # Electrum gives it for mempool entries

    @property
    def confirmed(self) -> bool:
        return self.height > 0


@dataclass(frozen=True, slots=True)
class TxInput:
    prev_txid: str
    prev_vout: int
    sequence: int
    value: int | None = None  # the spent output's value when known (Esplora gives it)
    script_pubkey: str | None = None  # hex, when known

    @property
    def is_coinbase(self) -> bool:
        return self.prev_txid == "0" * 64 and self.prev_vout == 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class TxOutput:
    value: int
    script_pubkey: str  # hex


@dataclass(slots=True)
class ChainTx:
    """A decoded transaction with its place on the chain (``height`` None: unconfirmed)."""

    txid: str
    version: int
    locktime: int
    inputs: tuple[TxInput, ...]
    outputs: tuple[TxOutput, ...]
    weight: int
    fee: int | None = None
    height: int | None = None
    block_hash: str | None = None
    block_time: int | None = None

    @property
    def vsize(self) -> int:
        return (self.weight + 3) // 4

    @property
    def confirmed(self) -> bool:
        return self.height is not None and self.height > 0

    @property
    def signals_rbf(self) -> bool:
        return any(i.sequence < 0xFFFFFFFE for i in self.inputs)

    @property
    def is_coinbase(self) -> bool:
        return len(self.inputs) == 1 and self.inputs[0].is_coinbase

    def compute_fee(self) -> int | None:
        """Fee from the inputs' values when every one is known (coinbase: 0)."""
        if self.is_coinbase:
            return 0
        if any(i.value is None for i in self.inputs):
            return None
        return sum(i.value or 0 for i in self.inputs) - sum(o.value for o in self.outputs)


@dataclass(slots=True)
class ScripthashHistory:
    """The history of one scripthash (oldest first: confirmed by height, then mempool).

    ``txs`` holds the decoded transactions the backend got for free with the history
    (Esplora returns them inline); the caller fetches the others with ``transactions()``.
    ``status`` is the Electrum status hash of the history (``None`` for an empty one).
    """

    scripthash: str
    entries: list[HistoryEntry]
    txs: dict[str, ChainTx] = field(default_factory=dict)
    status: str | None = None


@dataclass(frozen=True, slots=True)
class KnownHistory:
    """What the caller already knows about a scripthash, so a backend can skip or stop early.

    ``status`` is the last status hash seen; ``confirmed`` maps txid -> height of the
    confirmed transactions already stored (Esplora stops paging at the first known one).
    """

    status: str | None
    confirmed: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Utxo:
    txid: str
    vout: int
    value: int
    height: int  # 0 when unconfirmed


@dataclass(frozen=True, slots=True)
class FeeEstimates:
    """What the server says about fees. Rates in sat/vB (rates, not amounts: floats are fine).

    ``by_target``: the estimated rate to confirm within N blocks (Esplora ``/fee-estimates``,
    Electrum ``blockchain.estimatefee`` per target). ``histogram``: the mempool as
    ``(fee rate, vsize)`` buckets, highest rate first (Electrum ``mempool.get_fee_histogram``,
    Esplora ``/mempool``'s ``fee_histogram``); empty when the server does not give it.
    ``min_relay``: the server's minimum relay rate (Electrum ``blockchain.relayfee``), ``None``
    when unknown (then 1 sat/vB, Bitcoin Core's default, is the floor).
    """

    by_target: dict[int, float]
    histogram: tuple[tuple[float, int], ...] = ()
    min_relay: float | None = None

    def for_target(self, blocks: int) -> float | None:
        usable = [t for t in sorted(self.by_target) if t <= blocks]
        return self.by_target[usable[-1]] if usable else None


class BroadcastRejected(BadInput):
    """The node refused a transaction. ``reason`` is its own words (``min relay fee not met``,
    ``bad-txns-inputs-missingorspent``, ``non-final``...); ``rpc_code`` bitcoind's code when known."""

    def __init__(self, reason: str, rpc_code: int | None = None) -> None:
        super().__init__(
            f"The node rejected the transaction: {reason}",
            field="tx",
            hint="Nothing was broadcast or recorded; fix the transaction (or its fee) and try again.",
        )
        self.reason = reason
        self.rpc_code = rpc_code


def rejection_reason(text: str) -> tuple[str, int | None]:
    """The node's reason out of a server's rejection text: electrs/Esplora's
    ``sendrawtransaction RPC error: {"code":-26,"message":"..."}``, ElectrumX's
    ``the transaction was rejected by network rules.\n\n<reason>\n[<hex>]`` or plain text."""
    text = text.strip()
    brace = text.find("{")
    if brace >= 0:
        try:
            obj = json.loads(text[brace:])
            if isinstance(obj, dict) and isinstance(obj.get("message"), str):
                code = obj.get("code")
                return obj["message"], int(code) if isinstance(code, int) else None
        except ValueError:
            pass
    text = text.removeprefix("sendrawtransaction RPC error:").strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("[")]
    if len(lines) > 1 and "rejected by network rules" in lines[0]:
        lines = lines[1:]
    return (lines[0] if lines else text)[:300], None


def history_status(entries: Sequence[HistoryEntry]) -> str | None:
    """The Electrum status hash: sha256 over ``txid:height:`` of every entry, in order."""
    if not entries:
        return None
    text = "".join(f"{e.txid}:{e.height}:" for e in entries)
    return hashlib.sha256(text.encode()).hexdigest()


def order_history(entries: Sequence[HistoryEntry]) -> list[HistoryEntry]:
    """Electrum order: confirmed by height (ties by txid), then mempool (ties by txid)."""
    confirmed = sorted((e for e in entries if e.height > 0), key=lambda e: (e.height, e.txid))
    mempool = sorted((e for e in entries if e.height <= 0), key=lambda e: (-e.height, e.txid))
    return confirmed + mempool


def scripthash_of(script_pubkey: bytes) -> str:
    """Electrum/Esplora scripthash of a scriptPubKey."""
    return hashlib.sha256(script_pubkey).digest()[::-1].hex()


@runtime_checkable
class ChainBackend(Protocol):
    """A chain server for one network. Every method raises ``UpstreamUnavailable`` when it
    cannot get an answer (after its retries) and never blocks longer than its timeouts."""

    name: str  # "esplora" | "electrum"
    url: str  # where it points (no credentials)
    network: str
    supports_subscriptions: bool

    async def tip(self) -> BlockRef: ...

    async def block_headers(self, heights: Sequence[int]) -> dict[int, BlockHeader]:
        """Headers of the best chain at ``heights`` (missing heights are left out)."""
        ...

    async def block_hashes(self, heights: Sequence[int]) -> dict[int, str]:
        """Best-chain block hashes at ``heights`` (enough to detect a reorg)."""
        ...

    async def histories(
        self, scripthashes: Sequence[str], known: Mapping[str, KnownHistory] | None = None, *, fresh: bool = False
    ) -> dict[str, ScripthashHistory | None]:
        """Histories of many scripthashes (batched/concurrent). With ``known``, an entry whose
        status did not change answers ``None`` and the backend may avoid fetching it. ``fresh``:
        ask the server for statuses even when notifications keep a cache (a user's explicit sync)."""
        ...

    async def transactions(self, txids: Sequence[str]) -> dict[str, ChainTx]:
        """Decoded transactions (batched). Missing/unknown txids are left out."""
        ...

    async def transactions_hex(self, txids: Sequence[str]) -> dict[str, str]: ...

    async def utxos(self, scripthash: str) -> list[Utxo]: ...

    async def fee_estimates(self) -> FeeEstimates:
        """Rates by confirmation target, plus the mempool histogram and minimum relay rate
        where the server gives them. ``UpstreamUnavailable`` when it gives no estimate."""
        ...

    async def broadcast(self, raw_hex: str) -> str:
        """Send a raw transaction (hex); returns its txid. ``BroadcastRejected`` (a ``BadInput``)
        with the node's reason when the node refuses it, ``UpstreamUnavailable`` when unreachable."""
        ...

    async def subscribe_tip(self, listener: TipListener) -> BlockRef | None:
        """Call ``listener`` for each tip after the current one, which is returned where the backend
        knows it (``None`` where it only tells later tips). Like ``subscribe_scripthashes``: the
        caller gets the state it starts from, the listener only changes. Only where supported."""
        ...

    async def subscribe_scripthashes(
        self, scripthashes: Sequence[str], listener: ScripthashListener
    ) -> dict[str, str | None]:
        """Watch scripthashes; returns their current status. Only where supported."""
        ...

    async def health(self) -> dict[str, object]: ...

    async def close(self) -> None: ...


__all__ = [
    "BlockHeader",
    "BlockRef",
    "BroadcastRejected",
    "ChainBackend",
    "ChainTx",
    "FeeEstimates",
    "HistoryEntry",
    "KnownHistory",
    "ScripthashHistory",
    "ScripthashListener",
    "TipListener",
    "TxInput",
    "TxOutput",
    "Utxo",
    "history_status",
    "order_history",
    "rejection_reason",
    "scripthash_of",
]
