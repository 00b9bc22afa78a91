"""Per-process data versions, moved by the event hub: what the response cache and the analytics'
answers are kept under.

Every commit that changes a user's data publishes an event of that user after it commits (syncs,
tip moves, renames, labels, portfolios, sessions...), and after every mutation the GraphQL layer
publishes ``dataChanged`` for the viewer (a public event never shown to clients; ``subject`` = the
user): either moves that user's version. Any other public event (a price tick, fee estimates) moves
the public version. A ``gap`` (events may have been missed) moves the epoch and forgets the users.
Every process receives every event (Redis between processes), so the versions agree everywhere.

Each move also records when it happened (``time.monotonic()``, :meth:`DataVersions.moved_at`), so
that an answer computed from a database snapshot opened *after* the user's last move can be kept
under the current version, and one whose snapshot may predate it is not.
"""

from __future__ import annotations

import time

from app.events.envelope import GAP, Event

DATA_CHANGED = "dataChanged"  # internal, public: subject = the user whose data a mutation changed


class DataVersions:
    """Per-process versions moved by the hub's events."""

    def __init__(self) -> None:
        self.users: dict[str, int] = {}
        self.public = 0
        self.epoch = 0
        self._user_moved: dict[str, float] = {}
        self._shared_moved = 0.0  # the public version or the epoch

    def of(self, user_id: str) -> tuple[int, int, int]:
        return (self.epoch, self.public, self.users.get(user_id, 0))

    def moved_at(self, user_id: str) -> float:
        """When ``of(user_id)`` last moved (monotonic seconds; 0.0: not since this process started)."""
        return max(self._shared_moved, self._user_moved.get(user_id, 0.0))

    def bump_user(self, user_id: str) -> None:
        self.users[user_id] = self.users.get(user_id, 0) + 1
        self._user_moved[user_id] = time.monotonic()

    def on_event(self, event: Event) -> None:
        if event.type == GAP:
            self.epoch += 1
            self.users.clear()
            self._user_moved.clear()
            self._shared_moved = time.monotonic()
        elif event.user_id is not None:
            self.bump_user(event.user_id)
        elif event.type == DATA_CHANGED and event.subject:
            self.bump_user(event.subject)
        else:
            self.public += 1
            self._shared_moved = time.monotonic()
