"""Response cache for repeated reads: the exact bytes of a query's answer, keyed by who asks, what,
and the version of their data.

Key: (session, user, document hash, operation name, variables, the user's data version, the
public version). Each process keeps the versions in memory and moves them from the event hub
(every process receives every event; Redis between processes):

- an event of a user (published after every commit that changes that user's data: syncs, tip
  moves, renames, labels, portfolios, sessions...) moves that user's version;
- after every mutation the GraphQL layer moves the viewer's version itself and publishes an
  internal ``dataChanged`` (public, never shown to clients; ``subject`` = the user) so the other
  processes move it too, and waits for it to reach Redis before answering: the client's next
  read, on any process, cannot find the older answer;
- a public event (a price tick) moves the public version: price-dependent answers expire with
  the tick;
- a ``gap`` (events may have been missed: Redis lost) empties everything, and while the shared bus
  is down nothing is answered from memory.

Versions are read before the query runs and the answer is stored under them, so an answer that
raced a commit is stored under the old version and never found again. Only queries are cached, only
for a signed-in viewer, only when every root field reads the database's user data (``CACHEABLE``:
not the live Lightning node, sessions, audit log...), only answers without errors; entries also
expire after ``MBF_RESPONSE_CACHE_TTL_S`` as a bound on changes no event announces (an operator's
CLI change without Redis).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from graphql import FieldNode, OperationDefinitionNode, OperationType, parse

from app.events.envelope import GAP, Event
from app.events.versions import DATA_CHANGED, DataVersions
from app.jsonfast import canonical

Shape = Literal["cacheable", "query", "mutation", "other"]
__all__ = ["CACHEABLE", "DATA_CHANGED", "DataVersions", "Lookup", "ResponseCache"]

# Root fields whose answers depend only on the database rows of the viewer (and the public
# prices), every change of which is announced by an event.
CACHEABLE = frozenset({"__typename", "viewer", "wallets", "wallet", "portfolios", "portfolio", "price", "priceHistory"})


@dataclass(frozen=True, slots=True)
class Lookup:
    """The key a request was looked up under, and whether it may be stored."""

    key: tuple[Any, ...]
    user_id: str


class ResponseCache:
    def __init__(
        self,
        *,
        ttl_s: float,
        max_entries: int,
        max_entry_bytes: int = 2_000_000,
        linked: Callable[[], bool] = lambda: True,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.max_entry_bytes = max_entry_bytes
        self.linked = linked
        self.versions = DataVersions()
        self._entries: OrderedDict[tuple[Any, ...], tuple[bytes, float]] = OrderedDict()
        self._shapes: OrderedDict[tuple[str, str | None], Shape] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0 and self.max_entries > 0 and self.linked()

    def on_event(self, event: Event) -> None:
        self.versions.on_event(event)
        if event.type == GAP:
            self._entries.clear()

    def shape(self, digest: str, text: str, operation_name: str | None) -> Shape:
        """``cacheable`` for a query whose root fields are all in :data:`CACHEABLE`, else what the
        operation is (decided once per document and operation name)."""
        memo_key = (digest, operation_name)
        known = self._shapes.get(memo_key)
        if known is None:
            known = self._shapes[memo_key] = _shape(text, operation_name)
            while len(self._shapes) > 10_000:
                self._shapes.popitem(last=False)
        return known

    def lookup(
        self, session_id: str, user_id: str, digest: str, operation_name: str | None, variables: Any
    ) -> tuple[bytes | None, Lookup]:
        key = (session_id, user_id, digest, operation_name, canonical(variables or {}), self.versions.of(user_id))
        entry = self._entries.get(key)
        if entry is not None:
            body, stored = entry
            if time.monotonic() - stored <= self.ttl_s:
                self._entries.move_to_end(key)
                self.hits += 1
                return body, Lookup(key, user_id)
            del self._entries[key]
        self.misses += 1
        return None, Lookup(key, user_id)

    def store(self, lookup: Lookup, body: bytes) -> None:
        if not self.enabled or len(body) > self.max_entry_bytes:
            return
        self._entries[lookup.key] = (body, time.monotonic())
        self._entries.move_to_end(lookup.key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def _shape(text: str, operation_name: str | None) -> Shape:
    try:
        document = parse(text)
    except Exception:
        return "other"
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [op for op in operations if op.name is not None and op.name.value == operation_name]
    if len(operations) != 1:
        return "other"
    op = operations[0]
    if op.operation is OperationType.MUTATION:
        return "mutation"
    if op.operation is not OperationType.QUERY:
        return "other"
    if op.directives or "@defer" in text or "@stream" in text:
        return "query"
    for selection in op.selection_set.selections:
        # Fragments at the root are rare: not cached rather than resolved here.
        if not isinstance(selection, FieldNode) or selection.name.value not in CACHEABLE:
            return "query"
    return "cacheable"
