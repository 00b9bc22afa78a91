"""Lightning types: LightningNode and what hangs off it (channels, balances, forwards, invoices...).

Fields that ask the node live (version, channels, balance...) are nullable: when the node is
down they come back ``null`` with an ``UPSTREAM_UNAVAILABLE`` error for that field only, while
the stored fields (name, alias, pubkey, capabilities, status) still answer.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from app.bitcoin.networks import Network
from app.errors import DomainError
from app.lightning import models as m
from app.lightning.streams import LinkState
from app.lightning.views import NodeView
from app.services.lightning import LightningService
from app.store.paging import paginate_list, paginate_positions
from schema.context import Context
from schema.enums import ChannelCloseType, InvoiceState, PaymentStatus, PendingChannelKind, link_state_of
from schema.pagination import Connection, PageArgs, paged, to_connection

if TYPE_CHECKING:  # the scalars are plain ints to the type checker
    MilliSats = int
    Sats = int
    NetworkEnum = Network
else:
    from schema.enums import NetworkEnum  # the one GraphQL `Network` enum
    from schema.scalars import MilliSats, Sats


def selects(fields: Any, name: str) -> bool:
    """Whether ``name`` is selected anywhere below these fields (fragments included)."""
    return any(getattr(f, "name", None) == name or selects(getattr(f, "selections", None) or [], name) for f in fields)


def service(info: Info[Context, Any]) -> LightningService:
    return info.context.container.lightning


@strawberry.enum(description="What the node's macaroon allows.")
class LightningCapability(Enum):
    READ_NODE = "READ_NODE"
    READ_INVOICES = "READ_INVOICES"
    CREATE_INVOICES = "CREATE_INVOICES"
    PAY = "PAY"
    CONNECT_PEERS = "CONNECT_PEERS"
    OPEN_CHANNELS = "OPEN_CHANNELS"
    CLOSE_CHANNELS = "CLOSE_CHANNELS"
    UPDATE_CHANNEL_POLICY = "UPDATE_CHANNEL_POLICY"


@strawberry.type(description="The macaroon's permissions and what they allow.")
class LightningCapabilities:
    read_only: bool
    granted: list[LightningCapability]
    permissions: list[str] = strawberry.field(description="LND permissions, entity:action.")
    can_bake: bool = strawberry.field(
        default=False,
        description="The macaroon may bake (macaroon:generate, e.g. admin.macaroon): offer bakeMacaroon to "
        "replace it with one that has only the permissions the user ticks.",
    )


@strawberry.type
class ChannelPolicy:
    base_fee_msat: MilliSats
    fee_rate_ppm: int
    time_lock_delta: int
    min_htlc_msat: MilliSats
    max_htlc_msat: MilliSats
    disabled: bool

    @classmethod
    def of(cls, p: m.ChannelPolicy) -> ChannelPolicy:
        return cls(
            base_fee_msat=p.base_fee_msat,
            fee_rate_ppm=p.fee_rate_ppm,
            time_lock_delta=p.time_lock_delta,
            min_htlc_msat=p.min_htlc_msat,
            max_htlc_msat=p.max_htlc_msat,
            disabled=p.disabled,
        )


@strawberry.type
class Channel:
    channel_point: str
    chan_id: str = strawberry.field(description="Short channel id (uint64, as a string).")
    remote_pubkey: str
    peer_alias: str
    capacity: Sats
    local_balance: Sats
    remote_balance: Sats
    commit_fee: Sats
    unsettled_balance: Sats
    total_sent: Sats
    total_received: Sats
    active: bool
    private: bool
    initiator: bool
    uptime: int = strawberry.field(description="Seconds the peer was online while we monitored the channel.")
    lifetime: int = strawberry.field(description="Seconds we have monitored the channel.")
    local_policy: ChannelPolicy | None

    @classmethod
    def of(cls, c: m.Channel) -> Channel:
        return cls(
            channel_point=c.channel_point,
            chan_id=str(c.chan_id),
            remote_pubkey=c.remote_pubkey,
            peer_alias=c.peer_alias,
            capacity=c.capacity,
            local_balance=c.local_balance,
            remote_balance=c.remote_balance,
            commit_fee=c.commit_fee,
            unsettled_balance=c.unsettled_balance,
            total_sent=c.total_sent,
            total_received=c.total_received,
            active=c.active,
            private=c.private,
            initiator=c.initiator,
            uptime=c.uptime_s,
            lifetime=c.lifetime_s,
            local_policy=ChannelPolicy.of(c.local_policy) if c.local_policy else None,
        )


@strawberry.type
class PendingChannel:
    kind: PendingChannelKind
    channel_point: str
    remote_pubkey: str
    capacity: Sats
    local_balance: Sats
    remote_balance: Sats
    private: bool
    closing_txid: str | None
    limbo_balance: Sats
    maturity_height: int | None = strawberry.field(description="Force closes: when our funds are spendable.")
    blocks_til_maturity: int | None

    @classmethod
    def of(cls, p: m.PendingChannel) -> PendingChannel:
        return cls(
            kind=PendingChannelKind(p.kind),
            channel_point=p.channel_point,
            remote_pubkey=p.remote_pubkey,
            capacity=p.capacity,
            local_balance=p.local_balance,
            remote_balance=p.remote_balance,
            private=p.private,
            closing_txid=p.closing_txid,
            limbo_balance=p.limbo_balance,
            maturity_height=p.maturity_height,
            blocks_til_maturity=p.blocks_til_maturity,
        )


@strawberry.type
class ClosedChannel:
    channel_point: str
    chan_id: str
    remote_pubkey: str
    capacity: Sats
    settled_balance: Sats
    time_locked_balance: Sats
    close_height: int
    closing_txid: str
    close_type: ChannelCloseType
    open_initiator: str
    close_initiator: str

    @classmethod
    def of(cls, c: m.ClosedChannel) -> ClosedChannel:
        return cls(
            channel_point=c.channel_point,
            chan_id=str(c.chan_id),
            remote_pubkey=c.remote_pubkey,
            capacity=c.capacity,
            settled_balance=c.settled_balance,
            time_locked_balance=c.time_locked_balance,
            close_height=c.close_height,
            closing_txid=c.closing_txid,
            close_type=ChannelCloseType(c.close_type),
            open_initiator=c.open_initiator,
            close_initiator=c.close_initiator,
        )


@strawberry.type
class LightningBalance:
    onchain_confirmed: Sats
    onchain_unconfirmed: Sats
    onchain_total: Sats
    onchain_locked: Sats
    channel_local: Sats = strawberry.field(description="Outbound: ours in open channels.")
    channel_remote: Sats = strawberry.field(description="Inbound: the peers' side of open channels.")
    channel_pending_open: Sats
    total: Sats = strawberry.field(description="On-chain total plus channel local balance.")

    @classmethod
    def of(cls, b: m.NodeBalance) -> LightningBalance:
        return cls(
            onchain_confirmed=b.onchain_confirmed,
            onchain_unconfirmed=b.onchain_unconfirmed,
            onchain_total=b.onchain_total,
            onchain_locked=b.onchain_locked,
            channel_local=b.channel_local,
            channel_remote=b.channel_remote,
            channel_pending_open=b.channel_pending_open_local,
            total=b.total,
        )


@strawberry.type
class ChannelLiquidity:
    chan_id: str
    channel_point: str
    peer_alias: str
    active: bool
    capacity: Sats
    outbound: Sats
    inbound: Sats
    outbound_ratio: float


@strawberry.type
class LiquiditySummary:
    total_outbound: Sats
    total_inbound: Sats
    channels: list[ChannelLiquidity]

    @classmethod
    def of(cls, items: list[m.Liquidity]) -> LiquiditySummary:
        return cls(
            total_outbound=sum(x.outbound for x in items),
            total_inbound=sum(x.inbound for x in items),
            channels=[
                ChannelLiquidity(
                    chan_id=str(x.chan_id),
                    channel_point=x.channel_point,
                    peer_alias=x.peer_alias,
                    active=x.active,
                    capacity=x.capacity,
                    outbound=x.outbound,
                    inbound=x.inbound,
                    outbound_ratio=round(x.outbound / (x.outbound + x.inbound), 4) if x.outbound + x.inbound else 0.0,
                )
                for x in items
            ],
        )


@strawberry.type
class Forward:
    at: datetime
    chan_id_in: str
    chan_id_out: str
    peer_alias_in: str
    peer_alias_out: str
    amount_in_msat: MilliSats
    amount_out_msat: MilliSats
    fee_msat: MilliSats

    @classmethod
    def of(cls, f: m.Forward) -> Forward:
        return cls(
            at=f.at,
            chan_id_in=str(f.chan_id_in),
            chan_id_out=str(f.chan_id_out),
            peer_alias_in=f.peer_alias_in,
            peer_alias_out=f.peer_alias_out,
            amount_in_msat=f.amt_in_msat,
            amount_out_msat=f.amt_out_msat,
            fee_msat=f.fee_msat,
        )


@strawberry.type
class ChannelForwardingStats:
    chan_id: str
    peer_alias: str
    fees_msat: MilliSats = strawberry.field(description="Fees earned forwarding out through this channel.")
    fees: Sats
    volume_in_msat: MilliSats
    volume_out_msat: MilliSats
    forwards_in: int
    forwards_out: int


@strawberry.type
class ForwardingHistory:
    from_: datetime = strawberry.field(name="from")
    to: datetime
    count: int
    total_fees_msat: MilliSats
    total_fees: Sats = strawberry.field(description="Fees earned, whole sats (rounded down).")
    volume_msat: MilliSats = strawberry.field(description="Amount forwarded (outgoing side).")
    volume: Sats
    per_channel: list[ChannelForwardingStats]
    summary: strawberry.Private[m.ForwardingSummary]

    @strawberry.field(description="The forwards, oldest first.")
    @paged
    def events(
        self, page: PageArgs
    ) -> Connection[Forward]:
        w = page.window()
        return to_connection(paginate_positions(list(self.summary.events), w), Forward.of)

    @classmethod
    def of(cls, s: m.ForwardingSummary) -> ForwardingHistory:
        return cls(
            from_=s.start,
            to=s.end,
            count=s.count,
            total_fees_msat=s.total_fee_msat,
            total_fees=s.total_fee_msat // 1000,
            volume_msat=s.total_volume_msat,
            volume=s.total_volume_msat // 1000,
            per_channel=[
                ChannelForwardingStats(
                    chan_id=str(c.chan_id),
                    peer_alias=c.peer_alias,
                    fees_msat=c.fee_msat,
                    fees=c.fee_msat // 1000,
                    volume_in_msat=c.volume_in_msat,
                    volume_out_msat=c.volume_out_msat,
                    forwards_in=c.count_in,
                    forwards_out=c.count_out,
                )
                for c in s.per_channel
            ],
            summary=s,
        )


@strawberry.type
class Invoice:
    payment_hash: str
    memo: str
    amount: Sats = strawberry.field(description="Whole sats (rounded down); 0 for an any-amount invoice.")
    amount_msat: MilliSats
    amount_paid_msat: MilliSats
    state: InvoiceState
    payment_request: str
    created_at: datetime
    settled_at: datetime | None
    expiry: int = strawberry.field(description="Seconds after creation the invoice expires.")
    private: bool
    is_keysend: bool

    @classmethod
    def of(cls, i: m.Invoice) -> Invoice:
        return cls(
            payment_hash=i.payment_hash,
            memo=i.memo,
            amount=i.value_msat // 1000,
            amount_msat=i.value_msat,
            amount_paid_msat=i.amt_paid_msat,
            state=InvoiceState(i.state),
            payment_request=i.payment_request,
            created_at=i.created_at,
            settled_at=i.settled_at,
            expiry=i.expiry_s,
            private=i.private,
            is_keysend=i.is_keysend,
        )


@strawberry.type
class Payment:
    payment_hash: str
    amount: Sats
    amount_msat: MilliSats
    fee: Sats
    fee_msat: MilliSats
    status: PaymentStatus
    created_at: datetime
    payment_request: str
    failure_reason: str | None = strawberry.field(
        description="LND's PaymentFailureReason (FAILURE_REASON_NO_ROUTE, …_INSUFFICIENT_BALANCE, …_TIMEOUT, "
        "…_INCORRECT_PAYMENT_DETAILS, …_ERROR, …_CANCELED); null unless FAILED."
    )
    preimage: str | None = strawberry.field(description="The proof of payment (hex), once SUCCEEDED.")
    attempts: int = strawberry.field(description="HTLC attempts LND made (0 in lists of old payments).")
    last_htlc_failure: str | None = strawberry.field(
        description="The failure code of the last failed HTLC attempt (e.g. TEMPORARY_CHANNEL_FAILURE)."
    )

    @classmethod
    def of(cls, p: m.Payment) -> Payment:
        return cls(
            payment_hash=p.payment_hash,
            amount=p.value_msat // 1000,
            amount_msat=p.value_msat,
            fee=p.fee_msat // 1000,
            fee_msat=p.fee_msat,
            status=PaymentStatus(p.status),
            created_at=p.created_at,
            payment_request=p.payment_request,
            failure_reason=None if p.failure_reason == "FAILURE_REASON_NONE" else p.failure_reason,
            preimage=p.payment_preimage or None,
            attempts=p.attempts,
            last_htlc_failure=p.last_htlc_failure or None,
        )


@strawberry.type
class LightningPeer:
    pubkey: str
    address: str = strawberry.field(description="The connection's address.")
    inbound: bool
    ping_time_us: int
    alias: str = strawberry.field(default="", description="From the graph (GetNodeInfo); empty if not announced.")
    addresses: list[str] = strawberry.field(default_factory=list, description="The node's announced addresses.")

    @classmethod
    def of(cls, p: m.Peer) -> LightningPeer:
        return cls(
            pubkey=p.pubkey,
            address=p.address,
            inbound=p.inbound,
            ping_time_us=p.ping_time_us,
            alias=p.alias,
            addresses=list(p.addresses),
        )


@strawberry.type(description="A node of the public channel graph (DescribeGraph), to open a channel to.")
class NetworkNode:
    pubkey: str
    alias: str
    color: str
    addresses: list[str]
    channels: int = strawberry.field(description="Public channels in the graph.")
    capacity: Sats = strawberry.field(description="Their total capacity.")
    connect_address: str | None = strawberry.field(description="pubkey@address for openChannel / connectLightningPeer.")

    @classmethod
    def of(cls, n: m.GraphNode) -> NetworkNode:
        return cls(
            pubkey=n.pubkey,
            alias=n.alias,
            color=n.color,
            addresses=list(n.addresses),
            channels=n.channels,
            capacity=n.capacity,
            connect_address=f"{n.pubkey}@{n.addresses[0]}" if n.addresses else None,
        )


@strawberry.type(description="What the server knows about the node's reachability, without asking it.")
class LightningNodeStatus:
    available: bool | None = strawberry.field(description="null until the node's streams first connect.")
    state: LinkState = strawberry.field(description="The link's state (the node's channel event stream).")
    last_error: str | None
    since: datetime | None


@strawberry.type
class LightningNode:
    id: strawberry.ID
    name: str
    host: str
    port: int
    network: NetworkEnum
    pubkey: str
    alias: str = strawberry.field(description="As of the last successful GetInfo.")
    created_at: datetime
    last_seen_at: datetime | None
    node: strawberry.Private[NodeView]
    cache: strawberry.Private[dict[str, Any]]

    @classmethod
    def of(cls, node: NodeView) -> LightningNode:
        return cls(
            id=strawberry.ID(node.id),
            name=node.name,
            host=node.host,
            port=node.port,
            network=Network(node.network),
            pubkey=node.pubkey,
            alias=node.alias,
            created_at=node.created_at,
            last_seen_at=node.last_seen_at,
            node=node,
            cache={},
        )

    async def _info(self, info: Info[Context, Any]) -> m.NodeInfo:
        task = self.cache.get("info")
        if task is None:
            task = self.cache["info"] = asyncio.ensure_future(service(info).info(self.node))
        return await task

    @strawberry.field
    def capabilities(self) -> LightningCapabilities:
        caps = LightningService.capabilities(self.node)
        return LightningCapabilities(
            read_only=caps.read_only,
            granted=[LightningCapability(c) for c in caps.as_list()],
            permissions=sorted(caps.permissions),
            can_bake="macaroon:generate" in caps.permissions,
        )

    @strawberry.field(description="Stream-based reachability (no call to the node).")
    def status(self, info: Info[Context, Any]) -> LightningNodeStatus:
        st = service(info).status(self.node.id)
        return LightningNodeStatus(
            available=st.available, state=link_state_of(st.state), last_error=st.last_error, since=st.since
        )

    @strawberry.field(description="Whether the node answers GetInfo now.")
    async def available(self, info: Info[Context, Any]) -> bool:
        try:
            await self._info(info)
            return True
        except DomainError:
            return False

    @strawberry.field
    async def version(self, info: Info[Context, Any]) -> str | None:
        return (await self._info(info)).version

    @strawberry.field
    async def synced_to_chain(self, info: Info[Context, Any]) -> bool | None:
        return (await self._info(info)).synced_to_chain

    @strawberry.field
    async def block_height(self, info: Info[Context, Any]) -> int | None:
        return (await self._info(info)).block_height

    @strawberry.field
    async def num_peers(self, info: Info[Context, Any]) -> int | None:
        return (await self._info(info)).num_peers

    @strawberry.field
    async def num_active_channels(self, info: Info[Context, Any]) -> int | None:
        return (await self._info(info)).num_active_channels

    @strawberry.field
    async def num_pending_channels(self, info: Info[Context, Any]) -> int | None:
        return (await self._info(info)).num_pending_channels

    @strawberry.field(description="Open channels; `active` filters on the peer being online.")
    @paged
    async def channels(
        self,
        info: Info[Context, Any],
        active: bool | None = None,
        *,
        page: PageArgs,
    ) -> Connection[Channel] | None:
        w = page.window()
        batch = info.context.batch
        batch.lightning_nodes[self.node.id] = self.node
        with_policy = selects(info.selected_fields, "localPolicy")
        found = await batch.channels.load((self.node.user_id, self.node.id, active, w, with_policy))
        if isinstance(found, Exception):  # this node's error, for this field only
            raise found
        return to_connection(found, Channel.of)

    @strawberry.field
    async def pending_channels(self, info: Info[Context, Any]) -> list[PendingChannel] | None:
        return [PendingChannel.of(p) for p in await service(info).pending_channels(self.node)]

    @strawberry.field(description="Newest close first.")
    @paged
    async def closed_channels(
        self,
        info: Info[Context, Any],
        page: PageArgs,
    ) -> Connection[ClosedChannel] | None:
        w = page.window()
        return to_connection(await service(info).closed_channels(self.node, w), ClosedChannel.of)

    @strawberry.field
    async def balance(self, info: Info[Context, Any]) -> LightningBalance | None:
        return LightningBalance.of(await service(info).balance(self.node))

    @strawberry.field(description="Inbound and outbound liquidity per channel and in total.")
    async def liquidity(self, info: Info[Context, Any]) -> LiquiditySummary | None:
        return LiquiditySummary.of(await service(info).liquidity(self.node))

    @strawberry.field(description="Forwards in [from, to) (default: the last 30 days) with fees earned.")
    async def forwarding_history(
        self,
        info: Info[Context, Any],
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> ForwardingHistory | None:
        return ForwardingHistory.of(await service(info).forwarding_history(self.node, from_, to))

    @strawberry.field(description="Newest first.")
    @paged
    async def invoices(
        self,
        info: Info[Context, Any],
        page: PageArgs,
    ) -> Connection[Invoice] | None:
        w = page.window(types=(int,))
        return to_connection(await service(info).invoices(self.node, w), Invoice.of)

    @strawberry.field(description="Newest first, including failed and in-flight payments.")
    @paged
    async def payments(
        self,
        info: Info[Context, Any],
        page: PageArgs,
    ) -> Connection[Payment] | None:
        w = page.window(types=(int,))
        return to_connection(await service(info).payments(self.node, w), Payment.of)

    @strawberry.field(
        description="Nodes of the public graph (DescribeGraph), best connected first; `search` "
        "matches alias or pubkey prefix."
    )
    @paged
    async def network_nodes(
        self,
        info: Info[Context, Any],
        page: PageArgs,
        search: str | None = None,
    ) -> Connection[NetworkNode] | None:
        w = page.window()
        found = await service(info).network_nodes(self.node, w, search=search)
        return to_connection(found, NetworkNode.of)

    @strawberry.field(description="Connected peers, by public key; the contract's list form of `peerConnection`.")
    async def peers(self, info: Info[Context, Any]) -> list[LightningPeer] | None:
        peers = sorted(await service(info).peers(self.node), key=lambda p: p.pubkey)
        return [LightningPeer.of(p) for p in peers]

    @strawberry.field(
        description="Connected peers as a Relay connection, by public key (a disconnected peer's cursor keeps "
        "its place)."
    )
    @paged
    async def peer_connection(
        self,
        info: Info[Context, Any],
        page: PageArgs,
    ) -> Connection[LightningPeer] | None:
        w = page.window(types=(str,))
        peers = sorted(await service(info).peers(self.node), key=lambda p: p.pubkey)
        return to_connection(paginate_list(peers, lambda p: (p.pubkey,), w, rank=tuple), LightningPeer.of)


# -- inputs and payloads ------------------------------------------------------------------------


@strawberry.input
class ConnectLightningNodeInput:
    name: str
    host: str
    port: int = 10009
    tls_cert: str = strawberry.field(description="The node's tls.cert (PEM).")
    macaroon: str = strawberry.field(description="Hex of admin.macaroon, readonly.macaroon or a baked one.")
    network: NetworkEnum


@strawberry.input
class OpenChannelInput:
    node_id: strawberry.ID
    peer: str = strawberry.field(description="pubkey@host:port (or pubkey of a connected peer).")
    capacity: Sats
    push_amount: Sats = 0
    private: bool = False
    sat_per_vbyte: int | None = None


@strawberry.input
class CloseChannelInput:
    node_id: strawberry.ID
    channel_point: str
    force: bool = strawberry.field(default=False, description="Unilateral close; funds are time-locked.")
    sat_per_vbyte: int | None = None


@strawberry.input
class UpdateChannelPolicyInput:
    node_id: strawberry.ID
    channel_point: str | None = strawberry.field(default=None, description="null: every channel.")
    base_fee_msat: MilliSats
    fee_rate_ppm: int
    time_lock_delta: int


@strawberry.input
class CreateInvoiceInput:
    node_id: strawberry.ID
    amount: Sats | None = strawberry.field(default=None, description="Sats; omit (or 0) for any amount.")
    amount_msat: MilliSats | None = strawberry.field(default=None, description="Instead of amount, in msat.")
    memo: str = ""
    expiry: int | None = strawberry.field(default=None, description="Seconds (default 86400).")


@strawberry.input(description="The capabilities the baked macaroon gets (and nothing else).")
class BakeMacaroonInput:
    node_id: strawberry.ID
    capabilities: list[LightningCapability]


@strawberry.input
class ConnectLightningPeerInput:
    node_id: strawberry.ID
    peer: str = strawberry.field(description="pubkey@host:port")


@strawberry.type
class ClosingChannel:
    channel_point: str
    closing_txid: str
    force: bool


@strawberry.type
class PolicyUpdateFailure:
    channel_point: str
    reason: str
    message: str


@strawberry.type
class UpdateChannelPolicyPayload:
    failed_updates: list[PolicyUpdateFailure]
