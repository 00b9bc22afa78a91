"""Typed subscription payloads: what each event of the hub looks like to a GraphQL client.

Every event that ``events(after:)`` can deliver is a type implementing the :class:`Event`
interface (``id`` = the event id to resume from, ``occurredAt``), so a client selects typed
fragments (``... on TransactionEvent { transaction { txid netAmount } historical }``) and code
generators produce real types instead of ``any``. The typed subscriptions yield the same types
(``walletUpdated -> WalletUpdate``, ``transactionReceived -> TransactionEvent``, ...) or the
domain type itself where the contract says so (``walletSyncProgress -> SyncJob``,
``invoiceUpdated -> Invoice``, ``priceUpdated -> Price``).

Fields read from the event's payload cost nothing; fields that are objects of the domain
(``wallet``, ``transaction``, ``portfolio``, ``job``) are loaded when selected, as of delivery
(once per shared execution, not per subscriber). Units: sats are ``Sats`` integers, msat amounts
``MilliSats`` strings, fiat amounts and prices ``Decimal`` strings.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from app.errors import NotFound
from app.events import envelope
from app.events.envelope import GAP
from app.lightning.streams import LinkState
from schema.context import Context
from schema.enums import (
    ChannelCloseType,
    InvoiceState,
    PaymentStatus,
    ReportStatus,
    SyncJobStatus,
    link_state_of,
    sync_phase_of,
)
from schema.scalars import MilliSats, Sats
from schema.types.lightning import Channel, ClosedChannel, Invoice
from schema.types.portfolios import Portfolio, Price
from schema.types.spend import FeeEstimates, FeeTargetRate
from schema.types.sync import SyncJob, Transaction
from schema.types.wallets import Balance, Wallet


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _id(value: str | None) -> strawberry.ID | None:
    return strawberry.ID(value) if value is not None else None


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def _time(value: Any, default: datetime) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return default
    return default


@strawberry.interface(
    description="One event of the viewer's live stream. Every payload type of `events(after:)` implements it: "
    "select `id` and resume a dropped connection with `events(after: <last id>)`, then select the typed "
    "fields with fragments (`... on TransactionEvent { ... }`)."
)
class Event:
    id: strawberry.ID = strawberry.field(
        description="The event id (sortable by time): pass the last one you saw to `events(after:)` to resume."
    )
    occurred_at: datetime = strawberry.field(
        description="When the server published the event (UTC), not when the chain or node event happened."
    )


# -- wallets --------------------------------------------------------------------------------------


@strawberry.enum(description="What changed about a wallet (`walletUpdated`).")
class WalletChange(Enum):
    CREATED = strawberry.enum_value("CREATED", description="Imported or created; the first sync follows.")
    RENAMED = strawberry.enum_value("RENAMED", description="Its name changed.")
    DELETED = strawberry.enum_value("DELETED", description="Deleted with its history: drop it (`wallet` is null).")
    LABELS = strawberry.enum_value("LABELS", description="Its BIP-329 labels changed (setLabel, importLabels).")
    SYNCED = strawberry.enum_value(
        "SYNCED", description="A sync changed its balance or transactions: `balance` and `txCount` are the new ones."
    )
    TIP = strawberry.enum_value(
        "TIP", description="Nothing of the wallet changed but the chain tip moved: confirmations moved."
    )


def wallet_change_of(payload: dict[str, Any]) -> WalletChange:
    if "balance" in payload:
        return WalletChange.SYNCED
    change = str(payload.get("change") or "").upper()
    return WalletChange.__members__.get(change, WalletChange.TIP)


async def _wallet_or_none(info: Info[Context, None], user_id: str | None, wallet_id: str) -> Wallet | None:
    if user_id is None:
        return None
    try:
        view = await info.context.container.wallets.get_wallet(user_id, wallet_id)
    except NotFound:
        return None
    return Wallet.from_view(view)


@strawberry.type(description="A wallet changed (`walletUpdated`): what changed, and the wallet as it is now.")
class WalletUpdate(Event):
    wallet_id: strawberry.ID = strawberry.field(description="The wallet's id (also when it was deleted).")
    change: WalletChange = strawberry.field(description="What changed.")
    balance: Balance | None = strawberry.field(
        description="The balance after the sync, in sats (only with SYNCED); `unconfirmed` can be negative "
        "while a spend of confirmed coins is in the mempool."
    )
    tx_count: int | None = strawberry.field(description="Active transactions after the sync (only with SYNCED).")
    tip_height: int | None = strawberry.field(description="The chain tip height the sync saw (SYNCED and TIP).")
    _user_id: strawberry.Private[str | None]

    @strawberry.field(description="The wallet as it is when the event is delivered; null once it is deleted.")
    async def wallet(self, info: Info[Context, None]) -> Wallet | None:
        return await _wallet_or_none(info, self._user_id, str(self.wallet_id))

    @classmethod
    def of(cls, e: envelope.Event) -> WalletUpdate:
        p = e.payload
        b = p.get("balance")
        balance = None
        if isinstance(b, dict):
            c, u = _int(b.get("confirmed")), _int(b.get("unconfirmed"))
            balance = Balance(confirmed=c, unconfirmed=u, total=_int(b.get("total"), c + u))
        tip = p.get("tipHeight")
        tx_count = p.get("txCount")
        return cls(
            id=strawberry.ID(e.id),
            occurred_at=e.occurred_at,
            wallet_id=strawberry.ID(str(p.get("walletId") or e.subject or "")),
            change=wallet_change_of(p),
            balance=balance,
            tx_count=_int(tx_count) if tx_count is not None else None,
            tip_height=_int(tip) if tip is not None else None,
            _user_id=e.user_id,
        )


@strawberry.type(
    description="A transaction new to a wallet (`transactionReceived`; outgoing ones too, see "
    "`transaction.direction`). `historical` tells the first sync's history apart from new payments."
)
class TransactionEvent(Event):
    wallet_id: strawberry.ID = strawberry.field(description="The wallet's id.")
    txid: str = strawberry.field(description="The transaction id (hex).")
    historical: bool = strawberry.field(
        description="True for transactions found by the wallet's first sync (its history): show no "
        "'you received bitcoin' notice for them. False for transactions first seen after that."
    )
    _user_id: strawberry.Private[str | None]

    @strawberry.field(description="The wallet, as it is when the event is delivered.")
    async def wallet(self, info: Info[Context, None]) -> Wallet:
        wallet = await _wallet_or_none(info, self._user_id, str(self.wallet_id))
        if wallet is None:
            raise NotFound("The wallet of this event no longer exists.", field="walletId")
        return wallet

    @strawberry.field(
        description="The transaction from the wallet's view, as stored when the event is delivered "
        "(its confirmations and status may have moved since it was published)."
    )
    async def transaction(self, info: Info[Context, None]) -> Transaction:
        if self._user_id is None:
            raise NotFound("No such transaction.", field="txid")
        uid, wid = self._user_id, str(self.wallet_id)
        sync = info.context.container.sync
        row = await sync.transaction(uid, wid, self.txid)
        if row is None:
            raise NotFound("The transaction of this event is no longer stored (wallet deleted).", field="txid")
        batch = info.context.batch  # in an event: new loaders, nothing cached from an earlier event
        state, labels = await asyncio.gather(batch.sync_state.load((uid, wid)), batch.labels.load((uid, wid)))
        return Transaction.from_view(row, state.tip_height, labels.get(("tx", self.txid)))

    @classmethod
    def of(cls, e: envelope.Event) -> TransactionEvent:
        p = e.payload
        return cls(
            id=strawberry.ID(e.id),
            occurred_at=e.occurred_at,
            wallet_id=strawberry.ID(str(p.get("walletId") or e.subject or "")),
            txid=str(p.get("txid") or ""),
            historical=bool(p.get("historical", False)),
            _user_id=e.user_id,
        )


_PHASE_STATUS = {"done": SyncJobStatus.SUCCEEDED, "failed": SyncJobStatus.FAILED}


async def sync_job_of(info: Info[Context, None], e: envelope.Event) -> SyncJob:
    """The job of a ``walletSyncProgress`` event, with the event's phase and counters (the
    stored row may already be further along when the event is delivered)."""
    p = e.payload
    job_id = str(p.get("jobId") or "")
    if e.user_id is None or not job_id:
        raise NotFound("No sync job for this event.", field="jobId")
    row = await info.context.container.sync.get_job(e.user_id, job_id)
    job = SyncJob.from_view(row)
    phase = p.get("phase")
    job.phase = sync_phase_of(str(phase)) if phase is not None else job.phase
    job.status = _PHASE_STATUS.get(str(phase), SyncJobStatus.RUNNING)
    if "addressesScanned" in p:
        job.addresses_scanned = _int(p["addressesScanned"])
    if "txsFound" in p:
        job.txs_found = _int(p["txsFound"])
    if phase == "failed":
        job.error = str(p.get("error") or job.error or "")
    return job


@strawberry.type(description="Progress of a wallet's sync (`walletSyncProgress`), as delivered by `events`.")
class WalletSyncProgressEvent(Event):
    wallet_id: strawberry.ID = strawberry.field(description="The wallet's id.")
    _envelope: strawberry.Private[envelope.Event]

    @strawberry.field(description="The sync job, with this event's phase and counters.")
    async def job(self, info: Info[Context, None]) -> SyncJob:
        return await sync_job_of(info, self._envelope)

    @classmethod
    def of(cls, e: envelope.Event) -> WalletSyncProgressEvent:
        wid = str(e.payload.get("walletId") or e.subject or "")
        return cls(id=strawberry.ID(e.id), occurred_at=e.occurred_at, wallet_id=strawberry.ID(wid), _envelope=e)


# -- portfolios and prices ------------------------------------------------------------------------


def price_of(currency: Any, value: Any, at: Any, source: Any, fallback: datetime) -> Price:
    when = _time(at, fallback)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    age = round((datetime.now(UTC) - when).total_seconds(), 1)
    code, origin = str(currency or ""), str(source or "")
    return Price(currency=code, value=_decimal(value), at=when, source=origin, age_seconds=age)


def price_event(e: envelope.Event) -> Price:
    p = e.payload
    return price_of(p.get("currency") or e.subject, p.get("value"), p.get("at"), p.get("source"), e.occurred_at)


def fee_estimates_of(e: envelope.Event) -> FeeEstimates:
    """``feeEstimatesUpdated``: the new recommendation, as the ``feeEstimates`` query shapes it."""
    p = e.payload
    fetched = _time(p.get("fetchedAt"), e.occurred_at)
    targets = p.get("targets") or {}
    return FeeEstimates(
        network=str(p.get("network") or e.subject or ""),
        fastest=_decimal(p.get("fastest")),
        half_hour=_decimal(p.get("halfHour")),
        hour=_decimal(p.get("hour")),
        economy=_decimal(p.get("economy")),
        minimum=_decimal(p.get("minimum")),
        targets=[FeeTargetRate(blocks=_int(b), rate=_decimal(v)) for b, v in targets.items()],
        fetched_at=fetched,
        age_seconds=max(0, int((datetime.now(UTC) - fetched).total_seconds())),
        stale=bool(p.get("stale", False)),
        source=str(p.get("source") or ""),
    )


@strawberry.type(description="A portfolio's value moved (`portfolioValueChanged`): after a price tick or a sync.")
class PortfolioValue(Event):
    portfolio_id: strawberry.ID = strawberry.field(description="The portfolio's id.")
    value: Decimal = strawberry.field(description="Value in `currency`, fiat decimal string with 2 decimals.")
    currency: str = strawberry.field(description="The fiat currency of `value` (the portfolio's base currency).")
    balance: Sats = strawberry.field(
        description="Confirmed + unconfirmed sats of the member wallets (as of their last sync)."
    )
    price: Price = strawberry.field(description="The BTC price `value` was computed with (its source and time).")
    _user_id: strawberry.Private[str | None]

    @strawberry.field(description="The portfolio, as it is when the event is delivered (null once deleted).")
    async def portfolio(self, info: Info[Context, None]) -> Portfolio | None:
        if self._user_id is None:
            return None
        try:
            view = await info.context.container.portfolios.get(self._user_id, str(self.portfolio_id))
        except NotFound:
            return None
        return Portfolio.of(view)

    @classmethod
    def of(cls, e: envelope.Event) -> PortfolioValue:
        p = e.payload
        return cls(
            id=strawberry.ID(e.id),
            occurred_at=e.occurred_at,
            portfolio_id=strawberry.ID(str(p.get("portfolioId") or e.subject or "")),
            value=_decimal(p.get("value")),
            currency=str(p.get("currency") or ""),
            balance=_int(p.get("balance")),
            price=price_of(p.get("currency"), p.get("price"), p.get("priceAt"), p.get("source"), e.occurred_at),
            _user_id=e.user_id,
        )


@strawberry.type(description="A report job moved (`reportProgress`, delivered by `events` only).")
class ReportProgressEvent(Event):
    report_id: strawberry.ID = strawberry.field(description="The report's id (see `reports`).")
    status: ReportStatus = strawberry.field(description="The job's status after this step.")
    progress: float = strawberry.field(description="0.0 to 1.0.")
    error: str | None = strawberry.field(description="Why it failed (FAILED only).")

    @classmethod
    def of(cls, e: envelope.Event) -> ReportProgressEvent:
        p = e.payload
        status = str(p.get("status") or "RUNNING")
        return cls(
            id=strawberry.ID(e.id),
            occurred_at=e.occurred_at,
            report_id=strawberry.ID(str(p.get("reportId") or e.subject or "")),
            status=ReportStatus.__members__.get(status, ReportStatus.RUNNING),
            progress=float(p.get("progress") or 0.0),
            error=p.get("error"),
        )


# -- lightning ------------------------------------------------------------------------------------


def invoice_of(p: dict[str, Any], fallback: datetime) -> Invoice:
    value = _int(p.get("valueMsat"))
    settled = p.get("settledAt")
    state = str(p.get("state") or "OPEN")
    return Invoice(
        payment_hash=str(p.get("paymentHash") or ""),
        memo=str(p.get("memo") or ""),
        amount=value // 1000,
        amount_msat=value,
        amount_paid_msat=_int(p.get("amtPaidMsat")),
        state=InvoiceState.__members__.get(state, InvoiceState.OPEN),
        payment_request=str(p.get("paymentRequest") or ""),
        created_at=_time(p.get("createdAt"), fallback),
        settled_at=_time(settled, fallback) if settled else None,
        expiry=_int(p.get("expiry")),
        private=bool(p.get("private", False)),
        is_keysend=bool(p.get("isKeysend", False)),
    )


@strawberry.type(description="An invoice changed state (`invoiceUpdated`), as delivered by `events`.")
class InvoiceUpdate(Event):
    node_id: strawberry.ID = strawberry.field(description="The Lightning node's id (ours, not the pubkey).")
    invoice: Invoice = strawberry.field(description="The invoice after the change.")

    @classmethod
    def of(cls, e: envelope.Event) -> InvoiceUpdate:
        return cls(
            id=strawberry.ID(e.id),
            occurred_at=e.occurred_at,
            node_id=strawberry.ID(e.subject or ""),
            invoice=invoice_of(e.payload, e.occurred_at),
        )


def _channel(c: dict[str, Any], point: str) -> Channel:
    return Channel(
        channel_point=point,
        chan_id=str(c.get("chanId") or ""),
        remote_pubkey=str(c.get("remotePubkey") or ""),
        peer_alias=str(c.get("peerAlias") or ""),
        capacity=_int(c.get("capacity")),
        local_balance=_int(c.get("localBalance")),
        remote_balance=_int(c.get("remoteBalance")),
        commit_fee=_int(c.get("commitFee")),
        unsettled_balance=_int(c.get("unsettledBalance")),
        total_sent=_int(c.get("totalSent")),
        total_received=_int(c.get("totalReceived")),
        active=bool(c.get("active", False)),
        private=bool(c.get("private", False)),
        initiator=bool(c.get("initiator", False)),
        uptime=_int(c.get("uptime")),
        lifetime=_int(c.get("lifetime")),
        local_policy=None,
    )


def _closed(c: dict[str, Any], point: str) -> ClosedChannel:
    kind = str(c.get("closeType") or "COOPERATIVE_CLOSE")
    return ClosedChannel(
        channel_point=point,
        chan_id=str(c.get("chanId") or ""),
        remote_pubkey=str(c.get("remotePubkey") or ""),
        capacity=_int(c.get("capacity")),
        settled_balance=_int(c.get("settledBalance")),
        time_locked_balance=_int(c.get("timeLockedBalance")),
        close_height=_int(c.get("closeHeight")),
        closing_txid=str(c.get("closingTxid") or ""),
        close_type=ChannelCloseType.__members__.get(kind, ChannelCloseType.COOPERATIVE_CLOSE),
        open_initiator=str(c.get("openInitiator") or ""),
        close_initiator=str(c.get("closeInitiator") or ""),
    )


@strawberry.interface(description="A change of one channel of a Lightning node (`channelEvents`).")
class ChannelUpdate(Event):
    node_id: strawberry.ID = strawberry.field(description="The Lightning node's id (ours, not the pubkey).")
    channel_point: str = strawberry.field(description="The channel's funding outpoint `<txid>:<index>`.")


@strawberry.type(description="A channel was opened and is usable (LND OPEN_CHANNEL).")
class ChannelOpened(ChannelUpdate):
    channel: Channel = strawberry.field(
        description="The new channel (balances in sats; `localPolicy` is not part of the event: null)."
    )


@strawberry.type(description="A channel was closed (LND CLOSED_CHANNEL).")
class ChannelClosed(ChannelUpdate):
    closed: ClosedChannel = strawberry.field(description="How it closed and what was settled, in sats.")


@strawberry.type(description="A channel became active: the peer is online (LND ACTIVE_CHANNEL).")
class ChannelActive(ChannelUpdate):
    pass


@strawberry.type(description="A channel became inactive: the peer went offline (LND INACTIVE_CHANNEL).")
class ChannelInactive(ChannelUpdate):
    pass


@strawberry.type(description="A channel's funding transaction was broadcast (LND PENDING_OPEN_CHANNEL).")
class ChannelPending(ChannelUpdate):
    pass


@strawberry.type(description="A closed channel's outputs are all resolved on chain (LND FULLY_RESOLVED_CHANNEL).")
class ChannelResolved(ChannelUpdate):
    pass


@strawberry.type(
    description="Another channel update LND sent (a newer update type, e.g. CHANNEL_FUNDING_TIMEOUT): "
    "refetch the channels."
)
class ChannelOtherUpdate(ChannelUpdate):
    kind: str = strawberry.field(description="LND's update type name.")


@strawberry.type(description="An on-chain transaction of the Lightning node's wallet (LND SubscribeTransactions).")
class NodeTransaction(Event):
    node_id: strawberry.ID = strawberry.field(description="The Lightning node's id (ours, not the pubkey).")
    txid: str = strawberry.field(description="Transaction id (hex).")
    amount: Sats = strawberry.field(description="Signed sats from the node's wallet's view (negative = sent).")
    confirmations: int = strawberry.field(description="Confirmations when LND reported it.")
    block_height: int | None = strawberry.field(description="Block height; null while unconfirmed.")
    label: str = strawberry.field(description="LND's label of the transaction.")


ChannelEvent = Annotated[
    ChannelOpened
    | ChannelClosed
    | ChannelActive
    | ChannelInactive
    | ChannelPending
    | ChannelResolved
    | ChannelOtherUpdate
    | NodeTransaction,
    strawberry.union(
        "ChannelEvent",
        description="A typed update of a Lightning node's channels (`channelEvents`): opened, closed, active, "
        "inactive, pending, resolved, or an on-chain transaction of the node's wallet.",
    ),
]

_CHANNEL_KINDS: dict[str, type[ChannelUpdate]] = {
    "ACTIVE_CHANNEL": ChannelActive,
    "INACTIVE_CHANNEL": ChannelInactive,
    "PENDING_OPEN_CHANNEL": ChannelPending,
    "FULLY_RESOLVED_CHANNEL": ChannelResolved,
}


def channel_event_of(e: envelope.Event) -> Any:
    p = e.payload
    kind = str(p.get("type") or "")
    node = strawberry.ID(e.subject or "")
    base: dict[str, Any] = {"id": strawberry.ID(e.id), "occurred_at": e.occurred_at, "node_id": node}
    if kind == "ONCHAIN_TRANSACTION":
        height = _int(p.get("blockHeight"))
        return NodeTransaction(
            **base,
            txid=str(p.get("txid") or ""),
            amount=_int(p.get("amount")),
            confirmations=_int(p.get("confirmations")),
            block_height=height or None,
            label=str(p.get("label") or ""),
        )
    point = str(p.get("channelPoint") or "")
    if kind == "OPEN_CHANNEL" and isinstance(p.get("channel"), dict):
        return ChannelOpened(**base, channel_point=point, channel=_channel(p["channel"], point))
    if kind == "CLOSED_CHANNEL" and isinstance(p.get("closed"), dict):
        return ChannelClosed(**base, channel_point=point, closed=_closed(p["closed"], point))
    cls = _CHANNEL_KINDS.get(kind)
    if cls is not None:
        return cls(**base, channel_point=point)
    return ChannelOtherUpdate(**base, channel_point=point, kind=kind)


@strawberry.type(description="A Lightning payment moved (`paymentUpdated`): in flight, succeeded or failed.")
class PaymentUpdate(Event):
    node_id: strawberry.ID = strawberry.field(description="The Lightning node's id (ours, not the pubkey).")
    payment_hash: str = strawberry.field(description="Hex payment hash.")
    status: PaymentStatus = strawberry.field(description="The payment's status after this update.")
    amount_msat: MilliSats = strawberry.field(description="Amount paid to the payee, in msat.")
    fee_msat: MilliSats = strawberry.field(description="Routing fee so far, in msat.")
    preimage: str | None = strawberry.field(description="Proof of payment (hex), once SUCCEEDED.")
    failure_reason: str | None = strawberry.field(description="LND's failure reason, when FAILED.")
    attempts: int = strawberry.field(description="HTLC attempts so far.")
    last_htlc_failure: str | None = strawberry.field(description="Failure code of the last failed HTLC attempt.")

    @classmethod
    def of(cls, e: envelope.Event) -> PaymentUpdate:
        p = e.payload
        status = str(p.get("status") or "UNKNOWN")
        return cls(
            id=strawberry.ID(e.id),
            occurred_at=e.occurred_at,
            node_id=strawberry.ID(e.subject or ""),
            payment_hash=str(p.get("paymentHash") or ""),
            status=PaymentStatus.__members__.get(status, PaymentStatus.UNKNOWN),
            amount_msat=_int(p.get("valueMsat")),
            fee_msat=_int(p.get("feeMsat")),
            preimage=p.get("preimage"),
            failure_reason=p.get("failureReason"),
            attempts=_int(p.get("attempts")),
            last_htlc_failure=p.get("lastHtlcFailure"),
        )


@strawberry.type(description="A node's static channel backup was refreshed (`channelBackupUpdated`).")
class ChannelBackupUpdate(Event):
    node_id: strawberry.ID = strawberry.field(description="The Lightning node's id (ours, not the pubkey).")
    channel_points: list[str] = strawberry.field(description="The channels the backup covers.")
    channel_count: int = strawberry.field(description="How many channels it covers.")
    size: int = strawberry.field(description="Size of the backup file in bytes.")
    sha256: str = strawberry.field(description="SHA-256 of the file (hex), to compare with a download.")
    created_at: datetime = strawberry.field(description="When LND produced it.")

    @classmethod
    def of(cls, e: envelope.Event) -> ChannelBackupUpdate:
        p = e.payload
        points = [str(x) for x in (p.get("channelPoints") or [])]
        return cls(
            id=strawberry.ID(e.id),
            occurred_at=e.occurred_at,
            node_id=strawberry.ID(e.subject or ""),
            channel_points=points,
            channel_count=_int(p.get("channelCount"), len(points)),
            size=_int(p.get("size")),
            sha256=str(p.get("sha256") or ""),
            created_at=_time(p.get("createdAt"), e.occurred_at),
        )


@strawberry.type(description="The server's link to a Lightning node went up or down (`lightningNodeStatus`).")
class LightningNodeStatusEvent(Event):
    node_id: strawberry.ID = strawberry.field(description="The Lightning node's id (ours, not the pubkey).")
    state: LinkState = strawberry.field(description="The link's new state.")
    available: bool = strawberry.field(description="True when `state` is UP.")
    error: str | None = strawberry.field(description="Why it is down or failed.")

    @classmethod
    def of(cls, e: envelope.Event) -> LightningNodeStatusEvent:
        p = e.payload
        state = str(p.get("state") or "down")
        return cls(
            id=strawberry.ID(e.id),
            occurred_at=e.occurred_at,
            node_id=strawberry.ID(e.subject or ""),
            state=link_state_of(state),
            available=bool(p.get("available", state == "up")),
            error=p.get("error"),
        )


# -- accounts and the stream itself ---------------------------------------------------------------


@strawberry.type(description="One of the viewer's sessions was signed out (logout); its sockets are closed.")
class SessionRevoked(Event):
    session_id: strawberry.ID | None = strawberry.field(description="The revoked session's id.")


@strawberry.type(
    description="Events were lost and could not be replayed (the replay log was unreachable): resume later "
    "with `events(after: after)`."
)
class EventsGap(Event):
    after: strawberry.ID = strawberry.field(description="The event id to resume from.")


@strawberry.type(
    description="An event of a type this schema version has no typed shape for (forward compatibility); "
    "`type` names it and `payload` carries it as JSON."
)
class OtherEvent(Event):
    type: str = strawberry.field(description="The event type.")
    subject: str | None = strawberry.field(description="The id of the object it is about.")
    payload: JSON = strawberry.field(description="The event's payload as JSON (see docs/events.md).")


def typed_event(e: envelope.Event) -> Event:
    """The typed ``Event`` of one envelope, for ``events(after:)``."""
    t = e.type
    if t == "walletUpdated":
        return WalletUpdate.of(e)
    if t == "transactionReceived":
        return TransactionEvent.of(e)
    if t == "walletSyncProgress":
        return WalletSyncProgressEvent.of(e)
    if t == "portfolioValueChanged":
        return PortfolioValue.of(e)
    if t == "channelEvents":
        event: Event = channel_event_of(e)
        return event
    if t == "invoiceUpdated":
        return InvoiceUpdate.of(e)
    if t == "paymentUpdated":
        return PaymentUpdate.of(e)
    if t == "channelBackupUpdated":
        return ChannelBackupUpdate.of(e)
    if t == "lightningNodeStatus":
        return LightningNodeStatusEvent.of(e)
    if t == "reportProgress":
        return ReportProgressEvent.of(e)
    if t == "sessionRevoked":
        return SessionRevoked(id=strawberry.ID(e.id), occurred_at=e.occurred_at, session_id=_id(e.subject))
    if t == GAP:
        after = str(e.payload.get("after") or "")
        return EventsGap(id=strawberry.ID(e.id), occurred_at=e.occurred_at, after=strawberry.ID(after))
    return OtherEvent(
        id=strawberry.ID(e.id), occurred_at=e.occurred_at, type=t, subject=e.subject, payload=e.payload  # type: ignore[arg-type]
    )


# Every type ``events`` can yield: handed to the schema so the interface's implementations exist
# in the SDL even where no field names them directly.
EVENT_TYPES: tuple[type, ...] = (
    WalletUpdate,
    TransactionEvent,
    WalletSyncProgressEvent,
    PortfolioValue,
    ReportProgressEvent,
    InvoiceUpdate,
    ChannelOpened,
    ChannelClosed,
    ChannelActive,
    ChannelInactive,
    ChannelPending,
    ChannelResolved,
    ChannelOtherUpdate,
    NodeTransaction,
    PaymentUpdate,
    ChannelBackupUpdate,
    LightningNodeStatusEvent,
    SessionRevoked,
    EventsGap,
    OtherEvent,
)
