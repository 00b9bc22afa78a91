"""The live dashboard's subscriptions (contract: Subscriptions).

``events(after:)`` streams every event of the viewer, each with its ``id``; reconnecting with the
last id seen replays what was missed (within retention), then goes live. The typed subscriptions
stream the events of one object of the viewer's (``NOT_FOUND`` for anyone else's) or, for
``priceUpdated``, the public price ticks of one currency.

Each yields a :class:`LiveEvent` (the envelope: id, type, subject, occurredAt, payload). An area
that wants a richer type for its subscription replaces its field here, keeping the name, and
keeps calling :func:`subscriptions.stream.stream` for the auth, ownership and resume logic.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from app.bitcoin.networks import Network
from app.errors import NotFound
from app.events.envelope import Event
from app.services.portfolios import ALL_ID
from schema.types.wallets import NetworkEnum
from subscriptions.stream import stream


@strawberry.type(description="One event of the viewer's (or a public one, such as a price tick).")
class LiveEvent:
    id: strawberry.ID = strawberry.field(description="Pass it to `events(after:)` to resume.")
    type: str = strawberry.field(
        description="walletUpdated, transactionReceived, walletSyncProgress, priceUpdated, "
        "portfolioValueChanged, channelEvents, invoiceUpdated, ... or `gap` when events were "
        "lost and could not be replayed (resume with `events(after: payload.after)`)."
    )
    subject: str | None = strawberry.field(description="The id of the object it is about.")
    occurred_at: datetime
    payload: JSON

    @classmethod
    def of(cls, e: Event) -> LiveEvent:
        return cls(
            id=strawberry.ID(e.id),
            type=e.type,
            subject=e.subject,
            occurred_at=e.occurred_at,
            payload=e.payload,  # type: ignore[arg-type]
        )


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


async def _typed(
    info: Info, event_type: str, kind: str, object_id: str
) -> AsyncGenerator[LiveEvent, None]:
    check = owner_check(kind, object_id)
    async for e in stream(
        info,
        types={event_type},
        subject=object_id,
        check_owner=lambda viewer: check(viewer, info),
    ):
        yield LiveEvent.of(e)


def _wallet_events(event_type: str) -> Any:
    async def resolve(self: Any, info: Info, wallet_id: strawberry.ID) -> AsyncGenerator[LiveEvent, None]:
        async for e in _typed(info, event_type, "wallet", str(wallet_id)):
            yield e

    return strawberry.subscription(resolve)


def _portfolio_events(event_type: str) -> Any:
    async def resolve(
        self: Any, info: Info, portfolio_id: strawberry.ID
    ) -> AsyncGenerator[LiveEvent, None]:
        async for e in _typed(info, event_type, "portfolio", str(portfolio_id)):
            yield e

    return strawberry.subscription(resolve)


def _node_events(event_type: str) -> Any:
    async def resolve(self: Any, info: Info, node_id: strawberry.ID) -> AsyncGenerator[LiveEvent, None]:
        async for e in _typed(info, event_type, "lightning node", str(node_id)):
            yield e

    return strawberry.subscription(resolve)


@strawberry.type
class LiveSubscription:
    @strawberry.subscription(
        description="Every event of the viewer. With `after` (the last id you saw), first what "
        "you missed within the retention window, then live events."
    )
    async def events(
        self, info: Info, after: str | None = None
    ) -> AsyncGenerator[LiveEvent, None]:
        async for e in stream(info, types=None, after=after, keep_gaps=True):
            yield LiveEvent.of(e)

    @strawberry.subscription(description="Public price ticks of one fiat currency (e.g. USD).")
    async def price_updated(self, info: Info, currency: str) -> AsyncGenerator[LiveEvent, None]:
        code = info.context.container.prices.normalise(currency)  # only quoted currencies (BAD_USER_INPUT)
        async for e in stream(info, types={"priceUpdated"}, subject=code, public=True):
            yield LiveEvent.of(e)

    @strawberry.subscription(
        description="Public fee estimate changes of one network: the new recommendation (fastest, halfHour, "
        "hour, economy, minimum in sat/vB) whenever the chain server's estimates change."
    )
    async def fee_estimates_updated(
        self,
        info: Info,
        network: NetworkEnum,  # type: ignore[valid-type]
    ) -> AsyncGenerator[LiveEvent, None]:
        net = Network(network).value.lower()
        async for e in stream(info, types={"feeEstimatesUpdated"}, subject=net, public=True):
            yield LiveEvent.of(e)

    wallet_updated = _wallet_events("walletUpdated")
    transaction_received = _wallet_events("transactionReceived")
    wallet_sync_progress = _wallet_events("walletSyncProgress")
    portfolio_value_changed = _portfolio_events("portfolioValueChanged")
    channel_events = _node_events("channelEvents")
    invoice_updated = _node_events("invoiceUpdated")
    payment_updated = _node_events("paymentUpdated")
    channel_backup_updated = _node_events("channelBackupUpdated")


# Root fields whose result does not depend on who asks: shared across users by the fan-out.
PUBLIC_FIELDS = frozenset({"priceUpdated", "feeEstimatesUpdated"})
# Root fields with a replay cursor argument: shared between subscribers only when the cursor is
# absent or null (live only); with a cursor each subscriber replays from its own position.
CURSOR_ARGS = {"events": "after"}
