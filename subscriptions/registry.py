"""The connection registry of one GraphQL app: every live WebSocket, the per-user connection
limit, token lifetime (4403 at expiry, on a ``sessionRevoked`` event, or when the periodic
re-check finds the session gone) and keep-alive pings, driven by one sweeper task."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
import weakref
from typing import TYPE_CHECKING, Any

import structlog

from subscriptions.fanout import SharedExecutions

if TYPE_CHECKING:
    from app.config import Settings
    from app.container import Container
    from subscriptions.transport import LiveHandler

log = structlog.get_logger(__name__)

REVOCATION_EVENT = "sessionRevoked"


class LiveConnections:
    """The WebSocket connections of one app: built by the composition root (``app/main.py``,
    kept on ``app.state.live``) and handed to the GraphQL view, whose handlers reach it
    through :meth:`of`."""

    recheck_s = 5.0

    def __init__(self, settings: Settings, container: Container, schema: Any) -> None:
        self.settings = settings
        self.container = container
        self.schema = schema
        self.shared = SharedExecutions(schema)
        self.all: set[LiveHandler] = set()
        # Sockets not (yet) signed in, by client address: capped per address and in total.
        self.anonymous: dict[str, set[Any]] = {}
        self.anonymous_count = 0
        self.by_user: dict[str, set[LiveHandler]] = {}
        # (expiry, seq, weak handler): closed connections must not stay referenced until their
        # token's expiry; the heap is compacted when mostly stale.
        self._expiry: list[tuple[float, int, weakref.ref[LiveHandler]]] = []
        self._seq = itertools.count()
        self._rearm = asyncio.Event()
        self._sweeper: asyncio.Task[None] | None = None

    @staticmethod
    def of(view: Any) -> LiveConnections:
        """The registry the composition root handed to the GraphQL view (``GraphQLApp.live``)."""
        live: LiveConnections = view.live
        return live

    # -- connections --------------------------------------------------------------------

    def add(self, handler: LiveHandler) -> bool:
        """Track a new socket; False (close it with 4429) when anonymous sockets are at their caps."""
        self.all.add(handler)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep(), name="ws-sweeper")
        client = getattr(getattr(handler.websocket, "ws", None), "client", None)
        ip = client.host if client is not None else "unknown"
        mine = self.anonymous.setdefault(ip, set())
        if len(mine) >= self.settings.ws_max_anonymous_per_ip or (
            self.anonymous_count >= self.settings.ws_max_anonymous_total
        ):
            if not mine:
                del self.anonymous[ip]
            return False
        mine.add(handler)
        self.anonymous_count += 1
        handler.anonymous_ip = ip  # type: ignore[attr-defined]
        return True

    def _release_anonymous(self, handler: Any) -> None:
        ip = getattr(handler, "anonymous_ip", None)
        if ip is None:
            return
        handler.anonymous_ip = None
        mine = self.anonymous.get(ip)
        if mine is not None and handler in mine:
            mine.discard(handler)
            self.anonymous_count -= 1
            if not mine:
                del self.anonymous[ip]

    def admit(self, handler: LiveHandler, viewer: Any) -> bool:
        """Register an authenticated connection; False when the user is at the limit."""
        mine = self.by_user.setdefault(viewer.user_id, set())
        if len(mine) >= self.settings.ws_max_connections_per_user:
            return False
        mine.add(handler)
        self._release_anonymous(handler)  # signed in: counted per user from now on
        expires = viewer.expires_at.timestamp()
        heapq.heappush(self._expiry, (expires, next(self._seq), weakref.ref(handler)))
        self._rearm.set()
        session_id = viewer.session_id

        def on_revoked(event: Any) -> None:
            if event.subject in (session_id, None):
                handler.close_soon(4403, "Token revoked")

        handler.revocation = self.container.hub.fanout.listen(viewer.user_id, on_revoked, types={REVOCATION_EVENT})
        return True

    def remove(self, handler: LiveHandler) -> None:
        self.all.discard(handler)
        self._release_anonymous(handler)
        viewer = handler.viewer
        if viewer is not None:
            mine = self.by_user.get(viewer.user_id)
            if mine is not None:
                mine.discard(handler)
                if not mine:
                    del self.by_user[viewer.user_id]
        if handler.revocation is not None:
            handler.revocation.close()
            handler.revocation = None
        if len(self._expiry) > 2 * len(self.all) + 64:
            self._expiry = [e for e in self._expiry if e[2]() in self.all]
            heapq.heapify(self._expiry)

    async def _sweep(self) -> None:
        """Keep-alive pings, token expiry and revocation re-checks for every connection."""
        keepalive = self.settings.ws_keepalive_s
        next_ping = time.time() + keepalive
        next_check = time.time() + self.recheck_s
        while self.all:
            now = time.time()
            while self._expiry and self._expiry[0][0] <= now:
                _, _, ref = heapq.heappop(self._expiry)
                h = ref()
                if h is not None and h in self.all:
                    h.close_soon(4403, "Token expired")
            if now >= next_ping:
                next_ping = now + keepalive
                for h in list(self.all):
                    if h.connection_acknowledged:
                        h.enqueue('{"type":"ping"}')
            if now >= next_check:
                next_check = now + self.recheck_s
                await self._recheck_sessions()
            deadline = min(next_ping, next_check, self._expiry[0][0] if self._expiry else next_ping)
            self._rearm.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - time.time())):
                    await self._rearm.wait()
        self._sweeper = None

    async def _recheck_sessions(self) -> None:
        sessions: dict[str, list[LiveHandler]] = {}
        for h in self.all:
            if h.viewer is not None:
                sessions.setdefault(h.viewer.session_id, []).append(h)
        for session_id, handlers in sessions.items():
            try:
                active = await self.container.accounts.session_active(session_id)
            except Exception:  # database trouble: keep the connections, check again later
                log.warning("ws_session_recheck_failed", exc_info=True)
                return
            if not active:
                for h in handlers:
                    h.close_soon(4403, "Token revoked or expired")
