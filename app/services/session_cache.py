"""Bearer token → viewer, remembered for a few seconds so a request does not read the database
to authenticate.

Correctness comes from the event hub, not from the time limit: every revocation (logout, a
revoked session or API key, a password change, a reset second factor) publishes
``sessionRevoked`` after its commit, and every change of an account's own fields (role, second
factor, password) or existence publishes ``accountChanged`` (the cached viewer carries the
account's fields: ``{ viewer { ... } }`` is answered from it); this cache, watching every event
the process receives (from Redis, every process's), drops the entries at once. When events may
have been missed (the shared bus is down, a ``gap``) it drops everything and answers nothing from
memory until the bus is back. Expiry is checked on every hit. The time limit (``MBF_SESSION_CACHE_TTL_S``) only
bounds what a change made outside any server's hub (a CLI without Redis) can leave behind.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from app.events.envelope import GAP, Event

if TYPE_CHECKING:
    from app.services.accounts import Viewer

REVOKED = "sessionRevoked"  # subject: the session (or API key) id
ACCOUNT_CHANGED = "accountChanged"  # a field of the account changed (role, 2FA, password) or it was deleted


class SessionCache:
    """An LRU of ``token hash → (viewer, cached at)``, indexed by session and by user for revocation."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000, *, linked: Callable[[], bool] = lambda: True) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.linked = linked
        self._entries: OrderedDict[str, tuple[Viewer, float]] = OrderedDict()
        self._by_session: dict[str, set[str]] = {}
        self._by_user: dict[str, set[str]] = {}
        self._generation = 0  # moves on every drop, so a lookup that raced a revocation is not stored
        self._cleared = 0  # moves when everything is dropped (lost events)
        self._account_moves: dict[str, int] = {}  # per user: how often the account's fields changed
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0 and self.linked()

    @property
    def generation(self) -> int:
        return self._generation

    def account_stamp(self, user_id: str) -> int:
        """Moves whenever the user's account fields may have changed (here or in another process):
        a viewer's copy of them (:attr:`Viewer.account`) is current while its stamp equals this."""
        return self._cleared + self._account_moves.get(user_id, 0)

    def get(self, key: str, now: datetime) -> Viewer | None:
        if not self.enabled:
            return None
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        viewer, stored = entry
        if time.monotonic() - stored > self.ttl_s or viewer.expires_at <= now:
            self._forget(key)
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return viewer

    def put(self, key: str, viewer: Viewer, generation: int) -> None:
        """Remember ``viewer``, unless something was revoked since ``generation`` was read."""
        if not self.enabled or generation != self._generation:
            return
        self._forget(key)
        self._entries[key] = (viewer, time.monotonic())
        self._by_session.setdefault(viewer.session_id, set()).add(key)
        self._by_user.setdefault(viewer.user_id, set()).add(key)
        while len(self._entries) > self.max_entries:
            self._forget(next(iter(self._entries)))

    def _forget(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        viewer = entry[0]
        for index, value in ((self._by_session, viewer.session_id), (self._by_user, viewer.user_id)):
            keys = index.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[value]

    def drop_session(self, session_id: str) -> None:
        self._generation += 1
        for key in list(self._by_session.get(session_id, ())):
            self._forget(key)

    def drop_user(self, user_id: str) -> None:
        self._generation += 1
        self._account_moves[user_id] = self._account_moves.get(user_id, 0) + 1
        for key in list(self._by_user.get(user_id, ())):
            self._forget(key)

    def clear(self) -> None:
        self._generation += 1
        self._cleared += 1
        self._entries.clear()
        self._by_session.clear()
        self._by_user.clear()

    def on_event(self, event: Event) -> None:
        """The hub watcher: revocations and account changes from any process."""
        if event.type == REVOKED:
            if event.subject:
                self.drop_session(event.subject)
            elif event.user_id:
                self.drop_user(event.user_id)
        elif event.type == ACCOUNT_CHANGED and event.user_id:
            self.drop_user(event.user_id)
        elif event.type == GAP:
            self.clear()

    def __len__(self) -> int:
        return len(self._entries)
