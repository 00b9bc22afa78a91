"""Shared by the development-tool commands (`mbf devchain`, `mbf devlnd`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

T = TypeVar("T")


async def serve_until_signal(
    server: AbstractAsyncContextManager[T], ready: Callable[[T], dict[str, Any]]
) -> None:
    """Enter ``server``, print ``ready(it)`` as one JSON line on stdout, then serve until
    SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with server as running:
        sys.stdout.write(json.dumps(ready(running)) + "\n")
        sys.stdout.flush()
        await stop.wait()
