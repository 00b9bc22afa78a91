"""Observable signals that tests wait on instead of sleeping.

A subscription sends nothing back until its first event, so "the server has registered it" is
read from the event hub's subscriber count: the number of live readers of the hub, which grows
when a subscription's resolver has passed its auth and ownership checks and subscribed (and
shrinks when one ends). In-process servers read it from the hub; other processes from the
``events.subscribers`` figure of their ``/readyz``. Every wait has a timeout only as a failure
bound: on a fast machine it returns as soon as the signal is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from app.events.envelope import Event
from tests.support.server import LiveServer

WAIT_S = 15.0  # failure bound only
_POLL_S = 0.005


async def until(
    condition: Callable[[], bool | Awaitable[bool]], what: str, wait_s: float = WAIT_S
) -> None:
    """Return once ``condition()`` is true; fail with ``what`` if it is not within ``wait_s``."""
    try:
        async with asyncio.timeout(wait_s):
            while True:
                ok = condition()
                if inspect.isawaitable(ok):
                    ok = await ok
                if ok:
                    return
                await asyncio.sleep(_POLL_S)  # poll interval while re-reading an observable figure
    except TimeoutError:
        raise AssertionError(f"timed out after {wait_s} s waiting for: {what}") from None


def hub_subscribers(server: LiveServer) -> int:
    """Live readers of the server's event hub (what ``/readyz`` reports as ``events.subscribers``)."""
    return server.container.hub.fanout.count()


@contextlib.asynccontextmanager
async def registered(server: LiveServer, n: int, wait_s: float = WAIT_S) -> AsyncIterator[None]:
    """Wrap the ``subscribe`` calls of ``n`` new hub readers; returns once the server has them all.

    Subscriptions that share one execution (same document, variables and viewer) are one reader.
    """
    before = hub_subscribers(server)
    yield
    await until(lambda: hub_subscribers(server) >= before + n, f"{n} more hub subscriber(s) than {before}", wait_s)


async def readyz_subscribers(base_url: str, token: str) -> int:
    """``events.subscribers`` from another process's ``/readyz`` (details need an admin's ``token``)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
        body = (await http.get("/readyz", headers={"authorization": f"Bearer {token}"})).json()
    return int(body["components"]["events"]["subscribers"])


@contextlib.asynccontextmanager
async def registered_at(base_url: str, n: int, *, token: str, wait_s: float = WAIT_S) -> AsyncIterator[None]:
    """:func:`registered` for a server in another process, read through its ``/readyz`` as an admin."""
    before = await readyz_subscribers(base_url, token)
    yield

    async def enough() -> bool:
        return await readyz_subscribers(base_url, token) >= before + n

    await until(enough, f"{n} more hub subscriber(s) than {before} on {base_url}", wait_s)


def on_published(hub: Any, handler: Callable[[Event], Awaitable[None]]) -> None:
    """Await ``handler`` with every event the process publishes on ``hub``, before the event is
    published: a handler that waits holds the publisher (a sync, say) right there. Domain events go
    through the hub only, so this sees what a subscriber would, in the order it would."""
    publish = hub.publish

    async def intercept(event: Event) -> None:
        await handler(event)
        await publish(event)

    hub.publish = intercept
