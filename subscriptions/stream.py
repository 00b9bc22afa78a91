"""The helper every subscription uses: the viewer's events of some types, replayed then live.

    @strawberry.subscription
    async def wallet_updated(self, info: Info, wallet_id: strawberry.ID) -> AsyncGenerator[X]:
        async for event in stream(info, types={"walletUpdated"}, subject=wallet_id,
                                  check_owner=lambda viewer: wallets.get(viewer.user_id, wallet_id)):
            yield X.from_event(event)

* The viewer must be signed in (``UNAUTHENTICATED`` otherwise) unless ``public=True``.
* ``check_owner(viewer)`` runs before anything is streamed; it raises ``NotFound`` for an object
  of another user (its error reaches the client as ``NOT_FOUND`` and no event is ever sent).
* Topics are per user: only the viewer's own events (plus public ones when ``public``) can come
  out, whatever the arguments say; ``subject`` narrows to one object.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any

from strawberry.types import Info

from app.errors import BadInput
from app.events.envelope import GAP, Event, is_event_id
from app.events.follow import follow
from app.events.hub import EventHub

OwnerCheck = Callable[[Any], Awaitable[Any]]


def hub_of(info: Info) -> EventHub:
    return info.context.container.hub


async def stream(
    info: Info,
    *,
    types: Collection[str] | None,
    subject: str | None = None,
    check_owner: OwnerCheck | None = None,
    after: str | None = None,
    public: bool = False,
    keep_gaps: bool = False,
) -> AsyncIterator[Event]:
    """Yield the matching events; ``after`` (an event id) replays what came after it first."""
    hub = hub_of(info)
    settings = info.context.container.settings
    if after is not None and not is_event_id(after):
        raise BadInput("`after` must be an event id received earlier.", field="after")
    if public:
        user_id = None
    else:
        viewer = info.context.require_viewer()
        user_id = viewer.user_id
        if check_owner is not None:
            await check_owner(viewer)

    def accept(e: Event) -> bool:
        return subject is None or e.subject == subject

    async for event in follow(
        hub,
        user_id,
        after=after,
        types=types,
        accept=accept,
        include_public=public,
        maxsize=settings.subscriber_queue_size,
    ):
        if event.type == GAP and not keep_gaps:
            continue
        yield event
