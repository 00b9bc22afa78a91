"""Keep an LND server stream alive: restart it with exponential backoff when the node drops.

A :class:`StreamSupervisor` owns one task. It opens the stream through a factory that returns
a fresh async iterator each time (the factory gets a callback to await once the stream is
established), hands every item to ``on_item``, and when the stream fails with
:class:`UpstreamUnavailable` (node down, restarted, network gone) it waits
``min(max_backoff, initial * 2**attempt)`` with jitter and opens it again. Reaching the node
again resets the backoff. A permission or macaroon failure (``Forbidden``) stops it for good:
retrying cannot fix that. Anything else, including LND's own start-up errors, is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Generic, TypeVar

import structlog

from app.backoff import Backoff
from app.errors import DomainError, Forbidden
from app.observability.metrics import lnd_stream_state
from app.store.db import background_context

T = TypeVar("T")
log = structlog.get_logger(__name__)


class LinkState(StrEnum):
    """State of the server's live link (its streams) to a Lightning node."""

    IDLE = "idle"  # no stream started (yet) for the node in this process
    STARTING = "starting"
    UP = "up"
    DOWN = "down"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass
class StreamStatus:
    state: str = "starting"  # starting | up | down | stopped | failed
    restarts: int = 0
    last_error: str | None = None
    since: datetime = field(default_factory=lambda: datetime.now(UTC))


class StreamSupervisor(Generic[T]):
    def __init__(
        self,
        name: str,
        open_stream: Callable[[Callable[[], Awaitable[None]]], AsyncIterator[T]],
        on_item: Callable[[T], Awaitable[None]],
        *,
        on_state: Callable[[StreamStatus], Awaitable[None]] | None = None,
        initial_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        healthy_after_s: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self._open = open_stream
        self._on_item = on_item
        self._on_state = on_state
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self.healthy_after_s = healthy_after_s
        self._rng = rng or random.Random()
        self._retry = Backoff(initial_backoff_s, max_backoff_s, jitter=(0.5, 1.0), rng=self._rng)
        self.status = StreamStatus()
        self._task: asyncio.Task[None] | None = None
        self._up = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"lnd-stream:{self.name}", context=background_context())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._set("stopped", None)

    async def wait_up(self) -> None:
        await self._up.wait()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _opened(self) -> None:
        await self._set("up", None)

    async def _set(self, state: str, error: str | None) -> None:
        changed = state != self.status.state
        if changed:
            lnd_stream_state(self.name, self.status.state, state)
        self.status.state = state
        self.status.last_error = error
        if changed:
            self.status.since = datetime.now(UTC)
            if state == "up":
                self._up.set()
            else:
                self._up.clear()
            if self._on_state is not None:
                try:
                    await self._on_state(self.status)
                except Exception:
                    log.exception("lnd_stream_state_callback_failed", stream=self.name)

    def backoff(self, attempt: int) -> float:
        return self._retry.delay(attempt)

    async def _run(self) -> None:
        self._retry.reset()
        loop = asyncio.get_running_loop()
        while True:
            opened = loop.time()
            stream = self._open(self._opened)
            try:
                await self._consume(stream)
                err: str | None = "the node ended the stream"
            except Forbidden as exc:  # the macaroon does not allow it: retrying cannot help
                await self._set("failed", exc.message)
                log.warning("lnd_stream_forbidden", stream=self.name, error=exc.message)
                return
            except DomainError as exc:
                err = exc.message
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("lnd_stream_handler_failed", stream=self.name)
                err = f"{type(exc).__name__}: {exc}"
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()
            if self.status.state == "up" or loop.time() - opened >= self.healthy_after_s:
                self._retry.reset()
            await self._set("down", err)
            delay = self._retry.next()
            self.status.restarts += 1
            log.info("lnd_stream_down", stream=self.name, error=err, retry_in_s=round(delay, 2))
            await asyncio.sleep(delay)

    async def _consume(self, stream: AsyncIterator[T]) -> None:
        async for item in stream:
            if self.status.state != "up":
                await self._set("up", None)
            await self._on_item(item)
