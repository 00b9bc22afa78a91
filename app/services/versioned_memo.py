"""Answers of one user kept while the user's data version has not moved: a repeated read of the
same portfolio figures runs no SQL statement at all.

The version (``app/events/versions.py``) moves with every event of the user (each commit that
changes the user's data publishes one after it commits, in every process through the hub), with
every mutation (``dataChanged``) and with every public event (price ticks). Rules that keep an
answer from ever being older than what the user's next read must see:

* the stamp (version and day) is taken *before* anything is read, and an answer is kept only when
  the version is still that stamp's when it is stored, and the database snapshot it was computed
  from began after the version's last move (``Store.snapshot_opened_at``): a snapshot opened
  before a commit whose event then arrived would otherwise be kept under the newer version;
* nothing is kept or answered while the hub is not linked (events of other processes may be
  missed), and a ``gap`` moves every version;
* an answer lives at most ``ttl_s`` seconds whatever happens: the bound on changes no event
  announces (an operator's CLI command run without Redis against a running server);
* a new day is a new stamp (periods end today).

Values that can change without an event (the spot price cached by ``PriceService``, the fee rate)
are not covered: the caller keeps them with the answer and compares them on every hit.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from app.events.versions import DataVersions
from app.store.db import Store

USERS = 256
PER_USER = 64


@dataclass(frozen=True, slots=True)
class Stamp:
    versions: tuple[int, int, int]
    day: date


@dataclass
class _Kept:
    stamp: Stamp
    values: OrderedDict[Hashable, tuple[Any, float]] = field(default_factory=OrderedDict)


class VersionedMemo:
    def __init__(
        self,
        versions: DataVersions,
        linked: Callable[[], bool],
        store: Store,
        *,
        ttl_s: float = 30.0,
        users: int = USERS,
        per_user: int = PER_USER,
    ) -> None:
        self.versions = versions
        self.linked = linked
        self.store = store
        self.ttl_s = ttl_s
        self.max_users = users
        self.per_user = per_user
        self._users: OrderedDict[str, _Kept] = OrderedDict()
        self.hits = 0  # tests, bench
        self.kept = 0

    def stamp(self, user_id: str) -> Stamp | None:
        """The user's stamp now (take it before reading); None: nothing may be kept or answered."""
        if self.ttl_s <= 0 or not self.linked():
            return None
        return Stamp(self.versions.of(user_id), datetime.now(UTC).date())

    def get(self, user_id: str, key: Hashable) -> Any | None:
        now = self.stamp(user_id)
        kept = self._users.get(user_id)
        if now is None or kept is None or kept.stamp != now:
            return None
        entry = kept.values.get(key)
        if entry is None:
            return None
        value, stored = entry
        if time.monotonic() - stored > self.ttl_s:
            del kept.values[key]
            return None
        self._users.move_to_end(user_id)
        kept.values.move_to_end(key)
        self.hits += 1
        return value

    def put(self, user_id: str, stamp: Stamp | None, key: Hashable, value: Any) -> None:
        """Keep ``value``, computed from what was read after ``stamp`` was taken, if it still holds."""
        if stamp is None or self.stamp(user_id) != stamp:
            return  # the version moved while it was computed (or the hub is unlinked)
        opened = self.store.snapshot_opened_at()
        if opened is not None and not self.versions.moved_at(user_id) < opened:
            return  # the snapshot may predate the commit that last moved the version
        kept = self._users.get(user_id)
        if kept is None or kept.stamp != stamp:
            kept = self._users[user_id] = _Kept(stamp)
        self._users.move_to_end(user_id)
        kept.values[key] = (value, time.monotonic())
        kept.values.move_to_end(key)
        while len(kept.values) > self.per_user:
            kept.values.popitem(last=False)
        while len(self._users) > self.max_users:
            self._users.popitem(last=False)
        self.kept += 1

    def forget(self, user_id: str | None = None) -> None:
        """Drop a user's answers (every user's: ``None``)."""
        if user_id is None:
            self._users.clear()
        else:
            self._users.pop(user_id, None)
