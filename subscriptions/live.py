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

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from app.errors import NotFound
from app.events.envelope import Event
from subscriptions.stream import stream

# Owner-scoped tables of the objects a subscription can name (every user table has id, user_id).
OWNED_TABLES = {
    "wallet": "wallets",
    "portfolio": "portfolios",
    "lightning node": "lightning_nodes",
}


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


def owner_check(kind: str, object_id: str) -> Any:
    """``NOT_FOUND`` unless the viewer owns ``object_id`` (another user's id looks like no id)."""
    table = OWNED_TABLES[kind]

    async def check(viewer: Any, info: Info) -> None:
        store = info.context.container.store
        # `table` comes from OWNED_TABLES above, never from input.
        query = sa.text(f"SELECT 1 FROM {table} WHERE id = :id AND user_id = :uid")
        try:
            async with store.read() as s:
                conn = await s.connection()
                found = (await conn.execute(query, {"id": object_id, "uid": viewer.user_id})).first()
        except sa.exc.DBAPIError:  # the area's table does not exist yet
            found = None
        if found is None:
            raise NotFound(f"No {kind} with this id.", field=f"{kind.split()[-1]}Id")

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
        code = currency.strip().upper()
        async for e in stream(info, types={"priceUpdated"}, subject=code, public=True):
            yield LiveEvent.of(e)

    @strawberry.subscription
    async def wallet_updated(
        self, info: Info, wallet_id: strawberry.ID
    ) -> AsyncGenerator[LiveEvent, None]:
        async for e in _typed(info, "walletUpdated", "wallet", str(wallet_id)):
            yield e

    @strawberry.subscription
    async def transaction_received(
        self, info: Info, wallet_id: strawberry.ID
    ) -> AsyncGenerator[LiveEvent, None]:
        async for e in _typed(info, "transactionReceived", "wallet", str(wallet_id)):
            yield e

    @strawberry.subscription
    async def wallet_sync_progress(
        self, info: Info, wallet_id: strawberry.ID
    ) -> AsyncGenerator[LiveEvent, None]:
        async for e in _typed(info, "walletSyncProgress", "wallet", str(wallet_id)):
            yield e

    @strawberry.subscription
    async def portfolio_value_changed(
        self, info: Info, portfolio_id: strawberry.ID
    ) -> AsyncGenerator[LiveEvent, None]:
        async for e in _typed(info, "portfolioValueChanged", "portfolio", str(portfolio_id)):
            yield e

    @strawberry.subscription
    async def channel_events(
        self, info: Info, node_id: strawberry.ID
    ) -> AsyncGenerator[LiveEvent, None]:
        async for e in _typed(info, "channelEvents", "lightning node", str(node_id)):
            yield e

    @strawberry.subscription
    async def invoice_updated(
        self, info: Info, node_id: strawberry.ID
    ) -> AsyncGenerator[LiveEvent, None]:
        async for e in _typed(info, "invoiceUpdated", "lightning node", str(node_id)):
            yield e


# Root fields whose result does not depend on who asks: shared across users by the fan-out.
PUBLIC_FIELDS = frozenset({"priceUpdated"})
# Root fields with a replay cursor argument: shared between subscribers only when the cursor is
# absent or null (live only); with a cursor each subscriber replays from its own position.
CURSOR_ARGS = {"events": "after"}
