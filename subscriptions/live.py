"""The live dashboard's subscriptions (contract: Subscriptions).

``events(after:)`` streams every event of the viewer as a typed :class:`~subscriptions.payloads.Event`
(``id`` to resume with, ``occurredAt``, and the fields of its type); reconnecting with the last id
seen replays what was missed (within retention), then goes live. The typed subscriptions stream
the events of one object of the viewer's (``NOT_FOUND`` for anyone else's) or, for
``priceUpdated``, the public price ticks of one currency, each as its own schema type.

Every field keeps calling :func:`subscriptions.stream.stream` for the auth, ownership and resume
logic; the payload types are in :mod:`subscriptions.payloads`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from app.bitcoin.networks import Network
from app.errors import NotFound
from app.events import envelope
from app.services.portfolios import ALL_ID
from schema.enums import NetworkEnum
from schema.types.lightning import Invoice
from schema.types.portfolios import Price
from schema.types.spend import FeeEstimates
from schema.types.sync import SyncJob
from subscriptions.payloads import (
    ChannelBackupUpdate,
    ChannelEvent,
    Event,
    PaymentUpdate,
    PortfolioValue,
    TransactionEvent,
    WalletUpdate,
    channel_event_of,
    fee_estimates_of,
    invoice_of,
    price_event,
    sync_job_of,
    typed_event,
)
from subscriptions.stream import stream


def _fresh(info: Info) -> None:
    """Forget what the previous event's resolvers loaded: a subscription's context lives as long
    as its socket, and each event must see the wallet, balance and labels as they are now."""
    info.context.loaders.clear()


async def _portfolio(container: Any, user_id: str, portfolio_id: str) -> object:
    if portfolio_id == ALL_ID:  # the implicit all-wallets portfolio publishes no value events
        raise NotFound("No portfolio with this id.")
    return await container.portfolios.get(user_id, portfolio_id)


# The owner-scoped getter of each kind of object a subscription can name (NotFound for an
# unknown or another user's id), and the argument that names it.
Getter = Callable[[Any, str, str], Awaitable[object]]
OWNED: dict[str, tuple[str, Getter]] = {
    "wallet": ("walletId", lambda c, uid, oid: c.wallets.get_wallet(uid, oid)),
    "portfolio": ("portfolioId", _portfolio),
    "lightning node": ("nodeId", lambda c, uid, oid: c.lightning.get_node(uid, oid)),
}


def owner_check(kind: str, object_id: str) -> Any:
    """``NOT_FOUND`` unless the viewer owns ``object_id`` (another user's id looks like no id)."""
    field, get = OWNED[kind]

    async def check(viewer: Any, info: Info) -> None:
        try:
            await get(info.context.container, viewer.user_id, object_id)
        except NotFound:
            raise NotFound(f"No {kind} with this id.", field=field) from None

    return check


async def _typed(info: Info, event_type: str, kind: str, object_id: str) -> AsyncIterator[envelope.Event]:
    check = owner_check(kind, object_id)
    async for e in stream(
        info,
        types={event_type},
        subject=object_id,
        check_owner=lambda viewer: check(viewer, info),
    ):
        _fresh(info)
        yield e


WalletId = strawberry.argument(description="The id of one of your wallets (another user's id: NOT_FOUND).")
PortfolioId = strawberry.argument(
    description="The id of one of your portfolios (not `all`; another user's: NOT_FOUND)."
)
NodeId = strawberry.argument(description="The id of one of your Lightning nodes (ours, not the pubkey).")


@strawberry.type
class LiveSubscription:
    @strawberry.subscription(
        description="Every event of the viewer, typed (select fields with `... on WalletUpdate { ... }` "
        "fragments). With `after` (the last `id` you saw), first what you missed within the retention "
        "window, then live events. Price ticks are not included (see `priceUpdated`)."
    )
    async def events(
        self,
        info: Info,
        after: Annotated[
            str | None, strawberry.argument(description="The last event id you received: resume after it.")
        ] = None,
    ) -> AsyncGenerator[Event, None]:
        async for e in stream(info, types=None, after=after, keep_gaps=True):
            _fresh(info)
            yield typed_event(e)

    @strawberry.subscription(description="Public BTC price ticks of one fiat currency (no sign-in needed).")
    async def price_updated(
        self,
        info: Info,
        currency: Annotated[str, strawberry.argument(description="ISO 4217 code of a quoted currency, e.g. USD.")],
    ) -> AsyncGenerator[Price, None]:
        code = info.context.container.prices.normalise(currency)  # only quoted currencies (BAD_USER_INPUT)
        async for e in stream(info, types={"priceUpdated"}, subject=code, public=True):
            yield price_event(e)

    @strawberry.subscription(
        description="Public fee estimate changes of one network: the new recommendation (fastest, halfHour, "
        "hour, economy, minimum in sat/vB) whenever the chain server's estimates change."
    )
    async def fee_estimates_updated(
        self,
        info: Info,
        network: Annotated[NetworkEnum, strawberry.argument(description="The network to follow.")],  # type: ignore[valid-type]
    ) -> AsyncGenerator[FeeEstimates, None]:
        net = Network(network).value.lower()
        async for e in stream(info, types={"feeEstimatesUpdated"}, subject=net, public=True):
            yield fee_estimates_of(e)

    @strawberry.subscription(
        description="Changes of one wallet: created, renamed, deleted, labels, a sync that moved its balance "
        "or transactions, or a new chain tip."
    )
    async def wallet_updated(
        self, info: Info, wallet_id: Annotated[strawberry.ID, WalletId]
    ) -> AsyncGenerator[WalletUpdate, None]:
        async for e in _typed(info, "walletUpdated", "wallet", str(wallet_id)):
            yield WalletUpdate.of(e)

    @strawberry.subscription(
        description="Transactions new to one wallet (incoming and outgoing; `historical` marks the first "
        "sync's history)."
    )
    async def transaction_received(
        self, info: Info, wallet_id: Annotated[strawberry.ID, WalletId]
    ) -> AsyncGenerator[TransactionEvent, None]:
        async for e in _typed(info, "transactionReceived", "wallet", str(wallet_id)):
            yield TransactionEvent.of(e)

    @strawberry.subscription(
        description="The running sync job of one wallet at each step (phase, counters), ending with "
        "SUCCEEDED or FAILED."
    )
    async def wallet_sync_progress(
        self, info: Info, wallet_id: Annotated[strawberry.ID, WalletId]
    ) -> AsyncGenerator[SyncJob, None]:
        async for e in _typed(info, "walletSyncProgress", "wallet", str(wallet_id)):
            yield await sync_job_of(info, e)

    @strawberry.subscription(description="The value of one portfolio whenever it moves (price ticks, syncs).")
    async def portfolio_value_changed(
        self, info: Info, portfolio_id: Annotated[strawberry.ID, PortfolioId]
    ) -> AsyncGenerator[PortfolioValue, None]:
        async for e in _typed(info, "portfolioValueChanged", "portfolio", str(portfolio_id)):
            yield PortfolioValue.of(e)

    @strawberry.subscription(
        description="Channel updates of one Lightning node (opened, closed, active, inactive, pending, "
        "resolved) and its wallet's on-chain transactions."
    )
    async def channel_events(
        self, info: Info, node_id: Annotated[strawberry.ID, NodeId]
    ) -> AsyncGenerator[ChannelEvent, None]:
        async for e in _typed(info, "channelEvents", "lightning node", str(node_id)):
            yield channel_event_of(e)

    @strawberry.subscription(description="Invoices of one Lightning node as they are added, settled or canceled.")
    async def invoice_updated(
        self, info: Info, node_id: Annotated[strawberry.ID, NodeId]
    ) -> AsyncGenerator[Invoice, None]:
        async for e in _typed(info, "invoiceUpdated", "lightning node", str(node_id)):
            yield invoice_of(e.payload, e.occurred_at)

    @strawberry.subscription(description="Outgoing Lightning payments of one node as they progress.")
    async def payment_updated(
        self, info: Info, node_id: Annotated[strawberry.ID, NodeId]
    ) -> AsyncGenerator[PaymentUpdate, None]:
        async for e in _typed(info, "paymentUpdated", "lightning node", str(node_id)):
            yield PaymentUpdate.of(e)

    @strawberry.subscription(description="Refreshes of one node's static channel backup.")
    async def channel_backup_updated(
        self, info: Info, node_id: Annotated[strawberry.ID, NodeId]
    ) -> AsyncGenerator[ChannelBackupUpdate, None]:
        async for e in _typed(info, "channelBackupUpdated", "lightning node", str(node_id)):
            yield ChannelBackupUpdate.of(e)


# Root fields whose result does not depend on who asks: shared across users by the fan-out.
PUBLIC_FIELDS = frozenset({"priceUpdated", "feeEstimatesUpdated"})
# Root fields with a replay cursor argument: shared between subscribers only when the cursor is
# absent or null (live only); with a cursor each subscriber replays from its own position.
CURSOR_ARGS = {"events": "after"}
