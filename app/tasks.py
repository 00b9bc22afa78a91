"""A supervised task group owned by the container: background work that restarts and stops cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from app.backoff import Backoff
from app.store.db import background_context

log = structlog.get_logger(__name__)


class Supervisor:
    """Runs named background tasks; long-running loops restart with backoff when they crash.

    ``stop()`` cancels everything and waits, so shutdown never leaves orphan tasks.
    """

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    def spawn(self, name: str, factory: Callable[[], Awaitable[None]], *, restart: bool = False) -> asyncio.Task[None]:
        """Start ``factory()`` under ``name``; a task with that name still running is returned instead."""
        existing = self._tasks.get(name)
        if existing is not None and not existing.done():
            return existing
        # Not in the caller's database snapshot: background work reads the live database.
        task = asyncio.create_task(self._run(name, factory, restart), name=name, context=background_context())
        self._tasks[name] = task
        task.add_done_callback(lambda t, n=name: self._forget(n, t))  # type: ignore[misc]
        return task

    def running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and not task.done()

    def _forget(self, name: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(name) is task:
            del self._tasks[name]

    async def _run(self, name: str, factory: Callable[[], Awaitable[None]], restart: bool) -> None:
        retry = Backoff(0.5, 60.0, jitter=(0.5, 1.5))
        while True:
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background_task_failed", task=name)
                if not restart or self._stopping:
                    return
            await asyncio.sleep(retry.next())

    async def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def __len__(self) -> int:
        return len(self._tasks)
