"""Plain data returned by :class:`app.lightning.client.LndClient` (no protobuf beyond this package).

Satoshi amounts are ``int`` sats; millisatoshi amounts are ``int`` msats (named ``*_msat``).
Times are aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class NodeInfo:
    pubkey: str
    alias: str
    version: str
    color: str
    block_height: int
    block_hash: str
    synced_to_chain: bool
    synced_to_graph: bool
    num_peers: int
    num_active_channels: int
    num_inactive_channels: int
    num_pending_channels: int
    network: str
    chain: str
    uris: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChannelPolicy:
    base_fee_msat: int
    fee_rate_ppm: int
    time_lock_delta: int
    min_htlc_msat: int = 0
    max_htlc_msat: int = 0
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Channel:
    channel_point: str
    chan_id: int
    remote_pubkey: str
    peer_alias: str
    capacity: int
    local_balance: int
    remote_balance: int
    commit_fee: int
    active: bool
    private: bool
    initiator: bool
    uptime_s: int
    lifetime_s: int
    unsettled_balance: int
    total_sent: int
    total_received: int
    local_policy: ChannelPolicy | None = None


@dataclass(frozen=True, slots=True)
class PendingChannel:
    """One of LND's pending kinds: ``OPENING``, ``CLOSING`` (waiting close), ``FORCE_CLOSING``."""

    kind: str
    channel_point: str
    remote_pubkey: str
    capacity: int
    local_balance: int
    remote_balance: int
    private: bool
    closing_txid: str | None = None
    limbo_balance: int = 0
    maturity_height: int | None = None
    blocks_til_maturity: int | None = None
    commit_fee: int = 0


@dataclass(frozen=True, slots=True)
class ClosedChannel:
    channel_point: str
    chan_id: int
    remote_pubkey: str
    capacity: int
    settled_balance: int
    time_locked_balance: int
    close_height: int
    closing_txid: str
    close_type: str
    open_initiator: str
    close_initiator: str


@dataclass(frozen=True, slots=True)
class NodeBalance:
    """A node's on-chain wallet and channel balances (GraphQL ``LightningBalance``)."""

    onchain_confirmed: int
    onchain_unconfirmed: int
    onchain_total: int
    onchain_locked: int
    channel_local: int
    channel_remote: int
    channel_pending_open_local: int
    channel_unsettled_local: int

    @property
    def total(self) -> int:
        return self.onchain_total + self.channel_local


@dataclass(frozen=True, slots=True)
class Forward:
    at: datetime
    chan_id_in: int
    chan_id_out: int
    amt_in_msat: int
    amt_out_msat: int
    fee_msat: int
    peer_alias_in: str = ""
    peer_alias_out: str = ""


@dataclass(frozen=True, slots=True)
class ChannelForwardingStats:
    chan_id: int
    peer_alias: str
    fee_msat: int
    volume_in_msat: int
    volume_out_msat: int
    count_in: int
    count_out: int


@dataclass(frozen=True, slots=True)
class ForwardingSummary:
    start: datetime
    end: datetime
    events: tuple[Forward, ...]
    total_fee_msat: int
    total_volume_msat: int
    per_channel: tuple[ChannelForwardingStats, ...]

    @property
    def count(self) -> int:
        return len(self.events)


@dataclass(frozen=True, slots=True)
class Invoice:
    payment_hash: str
    memo: str
    value_msat: int
    amt_paid_msat: int
    state: str
    payment_request: str
    created_at: datetime
    settled_at: datetime | None
    expiry_s: int
    add_index: int
    settle_index: int
    private: bool
    is_keysend: bool


@dataclass(frozen=True, slots=True)
class InvoicePage:
    invoices: tuple[Invoice, ...]
    first_index_offset: int
    last_index_offset: int


@dataclass(frozen=True, slots=True)
class Payment:
    payment_hash: str
    value_msat: int
    fee_msat: int
    status: str
    created_at: datetime
    payment_request: str
    payment_preimage: str
    payment_index: int
    failure_reason: str
    attempts: int = 0
    last_htlc_failure: str = ""  # the failure code of the last failed HTLC (e.g. TEMPORARY_CHANNEL_FAILURE)
    hops: int = 0  # of the succeeded route

    @property
    def final(self) -> bool:
        return self.status in ("SUCCEEDED", "FAILED")


@dataclass(frozen=True, slots=True)
class PaymentPage:
    payments: tuple[Payment, ...]
    first_index_offset: int
    last_index_offset: int
    total: int


@dataclass(frozen=True, slots=True)
class Peer:
    pubkey: str
    address: str
    inbound: bool
    ping_time_us: int
    sat_sent: int
    sat_recv: int
    alias: str = ""  # from GetNodeInfo (the graph); empty for a node that announced nothing
    addresses: tuple[str, ...] = ()  # the node's announced addresses (GetNodeInfo)


@dataclass(frozen=True, slots=True)
class PendingOpen:
    """What OpenChannelSync answers: the funding outpoint, the channel id-to-be."""

    funding_txid: str
    output_index: int

    @property
    def channel_point(self) -> str:
        return f"{self.funding_txid}:{self.output_index}"


@dataclass(frozen=True, slots=True)
class PendingClose:
    channel_point: str
    closing_txid: str
    force: bool


@dataclass(frozen=True, slots=True)
class PolicyUpdateFailure:
    channel_point: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class AddedInvoice:
    payment_hash: str
    payment_request: str
    add_index: int
    payment_addr: str


@dataclass(frozen=True, slots=True)
class ChannelEvent:
    """``type`` is LND's ``ChannelEventUpdate.UpdateType`` name (``OPEN_CHANNEL``...)."""

    type: str
    channel_point: str
    channel: Channel | None = None
    closed: ClosedChannel | None = None
    data: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChainTransaction:
    txid: str
    amount: int
    confirmations: int
    block_height: int
    total_fees: int
    at: datetime
    label: str


@dataclass(frozen=True, slots=True)
class Liquidity:
    chan_id: int
    channel_point: str
    peer_alias: str
    outbound: int
    inbound: int
    capacity: int
    active: bool


@dataclass(frozen=True, slots=True)
class HopHint:
    node_id: str
    chan_id: int
    fee_base_msat: int
    fee_proportional_millionths: int
    cltv_expiry_delta: int


@dataclass(frozen=True, slots=True)
class InvoiceFeature:
    bit: int
    name: str
    is_required: bool
    is_known: bool


@dataclass(frozen=True, slots=True)
class DecodedInvoice:
    """LND's DecodePayReq answer for a BOLT 11 payment request."""

    destination: str
    payment_hash: str
    amount_msat: int  # 0: the payer chooses the amount
    timestamp: datetime
    expiry_s: int
    description: str
    description_hash: str
    fallback_address: str
    cltv_expiry: int
    route_hints: tuple[tuple[HopHint, ...], ...]
    payment_addr: str
    features: tuple[InvoiceFeature, ...]

    @property
    def expires_at(self) -> datetime:
        return self.timestamp + timedelta(seconds=self.expiry_s)


@dataclass(frozen=True, slots=True)
class ChannelBackupSnapshot:
    """A packed multi-channel static channel backup (LND's ``channel.backup`` file content)."""

    multi: bytes
    channel_points: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A node of the channel graph (DescribeGraph) with its public channels."""

    pubkey: str
    alias: str
    color: str
    addresses: tuple[str, ...]
    last_update: int
    channels: int
    capacity: int
