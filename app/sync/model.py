"""The sync area's data: script refs, what the store holds before a sync (``Stored*``), the
wallet's view a sync produces to be written (``*Record``, :class:`SyncResult`), and what the read
API (:mod:`app.sync.queries`) answers other areas (``*View``: frozen, one shape per concept).

A sync follows BDK's shape: request (:mod:`app.sync.jobs`) → fetch (:mod:`app.sync.scanner`, I/O)
→ apply (:mod:`app.sync.view`, pure) → persist (:mod:`app.sync.persist`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple, Protocol

from app.chain.backend import BlockHeader, ChainTx, ScripthashHistory
from app.store.models.chain import ACTIVE_TX_STATUSES
from app.sync import codec

INCOMING, OUTGOING, SELF = "INCOMING", "OUTGOING", "SELF"

# (chain, start, count) -> scriptPubKeys
Deriver = Callable[[int, int, int], Sequence[bytes]]
Progress = Callable[["ScanProgress"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ScriptRef:
    chain: int
    index: int
    script_pubkey: str  # hex
    scripthash: str


@dataclass(slots=True)
class StoredScript:
    ref: ScriptRef
    status: str | None
    tx_count: int
    used: bool


@dataclass(slots=True)
class StoredTx:
    txid: str
    status: str
    height: int | None
    block_hash: str | None
    block_time: datetime | None
    first_seen: datetime
    tx: ChainTx  # decoded io (confirmation fields not set)
    replaced_by: str | None = None
    received: int = 0
    sent: int = 0
    net_amount: int = 0
    direction: str = "INCOMING"


@dataclass(slots=True)
class StoredWallet:
    """What the store knows about a wallet before a sync."""

    scripts: dict[tuple[int, int], StoredScript] = field(default_factory=dict)
    txs: dict[str, StoredTx] = field(default_factory=dict)
    tip_height: int | None = None
    tip_hash: str | None = None


class Phase(StrEnum):
    """The step a wallet's sync is at, as stored (sync state, sync job) and published on
    ``walletSyncProgress``."""

    STARTING = "starting"
    SCANNING = "scanning"
    FETCHING = "fetching"
    STORING = "storing"
    RESCANNING = "rescanning"  # a Bitcoin Core backend rescanning blocks for the wallet
    DONE = "done"
    FAILED = "failed"


class JobKind(StrEnum):
    """Why a sync job runs: asked for (incremental, or a full rescan) or started by the server."""

    INCREMENTAL = "incremental"
    FULL = "full"
    AUTO = "auto"  # the scheduler or a chain notification


@dataclass(slots=True)
class ScanProgress:
    phase: str
    addresses_scanned: int
    txs_found: int


@dataclass(slots=True)
class TxRecord:
    """A transaction from the wallet's view as a sync computed it, to be written (with its
    serialised io and the decoded transaction, kept as the next stored state)."""

    txid: str
    status: str
    height: int | None
    block_hash: str | None
    block_time: datetime | None
    first_seen: datetime
    fee: int | None
    vsize: int
    weight: int
    received: int
    sent: int
    net_amount: int
    direction: str
    replaced_by: str | None
    io: str
    tx: ChainTx | None = None  # the decoded transaction (kept to reuse as stored state)


@dataclass(slots=True)
class OutputRecord:
    """An output paying one of the wallet's scripts, as a sync computed it, to be written."""

    txid: str
    vout: int
    value: int
    chain: int
    index: int
    script_pubkey: str
    height: int | None
    spent_by: str | None


@dataclass(slots=True)
class ScriptRecord:
    """One of the wallet's scripts with its stats, as a sync computed them, to be written."""

    ref: ScriptRef
    status: str | None
    tx_count: int
    received: int
    balance: int
    used: bool


@dataclass(frozen=True, slots=True)
class MempoolSnapshot:
    """The server's mempool txids seen at the start of a sync, with the tip at that moment.

    Esplora has no per-address status hashes; with a snapshot, the next incremental sync at the
    same tip only looks at the transactions that entered or left the mempool since, instead of
    asking for every address again (a few requests instead of thousands).
    """

    tip_hash: str
    txids: frozenset[str]


class Outcome(StrEnum):
    """What a sync found; it decides what is written and which events follow."""

    UNCHANGED = "unchanged"  # same tip, nothing of the wallet changed: only the sync time is recorded
    TIP_MOVED = "tip_moved"  # nothing of the wallet changed but the tip moved: the tip is recorded
    REFRESHED = "refreshed"  # the view was rebuilt and written, and equals what was stored
    UPDATED = "updated"  # the view was rebuilt and differs from what was stored


@dataclass(slots=True)
class ChainUpdate:
    """What one scan fetched from the chain (BDK's *update*): with the stored state, the whole
    input of :func:`app.sync.view.apply`."""

    tip_height: int
    tip_hash: str
    refs: dict[tuple[int, int], ScriptRef]  # every script derived so far
    histories: dict[tuple[int, int], ScripthashHistory]  # the scripts whose history the backend sent
    suspects: set[str]  # stored confirmed txids whose block is no longer on the best chain
    seen_at: datetime  # ``first_seen`` of transactions new to the wallet
    inline: dict[str, ChainTx] = field(default_factory=dict)  # sent with the histories (Esplora)
    fetched: dict[str, ChainTx] = field(default_factory=dict)  # fetched by txid (neither stored nor inline)
    headers: dict[int, BlockHeader] = field(default_factory=dict)  # for new or moved confirmations
    parents: dict[str, ChainTx] = field(default_factory=dict)  # parents of foreign inputs (fees)


@dataclass(slots=True)
class SyncResult:
    """The wallet's complete new view plus what changed (for events).

    With ``UNCHANGED``/``TIP_MOVED`` the view was not rebuilt: ``txs``, ``outputs`` and
    ``scripts`` are empty and the stored view stands."""

    tip_height: int
    tip_hash: str
    outcome: Outcome
    txs: dict[str, TxRecord] = field(default_factory=dict)
    outputs: dict[tuple[str, int], OutputRecord] = field(default_factory=dict)
    scripts: dict[tuple[int, int], ScriptRecord] = field(default_factory=dict)
    confirmed: int = 0
    unconfirmed: int = 0
    new_txids: list[str] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    scripthashes: list[str] = field(default_factory=list)  # every script scanned
    mempool: MempoolSnapshot | None = None  # for the next incremental sync (Esplora)
    fast_path: bool = False  # decided from the mempool snapshot, without asking per address

    @property
    def rebuilt(self) -> bool:
        """The view was rebuilt (and is to be written as a difference from the stored one)."""
        return self.outcome in (Outcome.REFRESHED, Outcome.UPDATED)

    @property
    def active_txs(self) -> list[TxRecord]:
        return [t for t in self.txs.values() if t.status in ACTIVE_TX_STATUSES]

    @property
    def utxos(self) -> list[OutputRecord]:
        return [o for o in self.outputs.values() if o.spent_by is None]


# -- the read API's answers (:mod:`app.sync.queries`): what other areas and the GraphQL layer see ---


@dataclass(frozen=True, slots=True)
class TxView:
    """A transaction of one wallet, from the wallet's view (the ``wallet_txs`` row without its
    serialised inputs and outputs). ``net_amount`` is signed and includes the fee when the wallet
    paid it."""

    wallet_id: str
    txid: str
    status: str
    height: int | None
    block_hash: str | None
    block_time: datetime | None
    first_seen: datetime
    fee: int | None
    vsize: int
    net_amount: int
    received: int
    sent: int
    direction: str
    replaced_by: str | None


@dataclass(frozen=True, slots=True)
class OutputView:
    """An output paying one of the wallet's scripts, created by an active transaction
    (``spent_by`` None: unspent)."""

    wallet_id: str
    txid: str
    vout: int
    value: int
    chain: int
    index: int
    script_pubkey: str
    height: int | None
    spent_by: str | None


@dataclass(frozen=True, slots=True)
class ScriptView:
    """One of the wallet's scripts (an address) with what the last sync found for it."""

    chain: int
    index: int
    script_pubkey: str
    scripthash: str
    tx_count: int
    received: int
    balance: int
    used: bool


@dataclass(frozen=True, slots=True)
class SyncStateView:
    """The outcome of a wallet's last sync and its balance; status ``NEVER`` and zeros before its
    first sync."""

    wallet_id: str
    status: str = "NEVER"
    phase: str | None = None
    addresses_scanned: int = 0
    txs_found: int = 0
    last_error: str | None = None
    last_synced_at: datetime | None = None
    tip_height: int | None = None
    tip_hash: str | None = None
    backend: str | None = None
    confirmed: int = 0
    unconfirmed: int = 0
    tx_count: int = 0
    utxo_count: int = 0


@dataclass(frozen=True, slots=True)
class SyncJobView:
    """A background sync of one wallet: why it runs (:class:`JobKind`), where it is
    (:class:`Phase`), and how it ended (``status``: QUEUED, RUNNING, SUCCEEDED, FAILED)."""

    id: str
    wallet_id: str
    status: str
    kind: str
    phase: str | None
    addresses_scanned: int
    txs_found: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class WalletHistory:
    """Every active transaction of one wallet and every output (spent or not), for exports that
    describe them (BIP-329 height/time/fee/value); a transaction's inputs and outputs are decoded
    on demand (:meth:`decoded`): an export asks for a few of them."""

    txs: list[TxView]
    outputs: list[OutputView]
    io: dict[str, tuple[str, int]]  # txid -> (stored io, weight)

    def decoded(self, tx: TxView) -> ChainTx:
        io, weight = self.io[tx.txid]
        return codec.parse(tx.txid, io, weight, tx.fee)


class AddressUse(NamedTuple):
    used: int  # addresses that received funds
    reused: int  # of those, addresses that received more than once


@dataclass(slots=True)
class Balance:
    confirmed: int
    unconfirmed: int

    @property
    def total(self) -> int:
        return self.confirmed + self.unconfirmed


class SyncTarget(Protocol):
    """What a sync needs to know about a wallet (provided by the wallets area)."""

    @property
    def user_id(self) -> str: ...

    @property
    def wallet_id(self) -> str: ...

    @property
    def network(self) -> str:
        """Lower case: mainnet/testnet/signet/regtest."""
        ...

    @property
    def chains(self) -> Sequence[tuple[int, int | None]]:
        """The wallet's keychains: (chain, number of scripts), None when ranged (gap-limit scan)."""
        ...

    @property
    def gap_limit(self) -> int: ...

    @property
    def derive(self) -> Deriver:
        """(chain, start, count) -> scriptPubKeys."""
        ...


class WalletSource(Protocol):
    """The wallets area, as sync sees it."""

    async def sync_target(self, user_id: str, wallet_id: str) -> SyncTarget:
        """The wallet's derivation and settings; ``NotFound`` for another user's wallet."""
        ...

    async def all_wallets(self) -> list[tuple[str, str]]:
        """Every wallet as (user_id, wallet_id), for the periodic scheduler."""
        ...
