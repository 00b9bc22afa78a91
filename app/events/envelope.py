"""The event envelope: typed, versioned JSON shared by every hub backend and subscription."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.ids import new_id

ENVELOPE_VERSION = 1

# Marker put in a subscriber's queue when events were dropped (slow reader) or may have been
# missed (bus reconnect). ``payload["after"]`` is the cursor to resume from with ``replay``.
GAP = "gap"

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}


def id_time_ms(event_id: str) -> int | None:
    """The millisecond timestamp encoded in an ``app.ids.new_id()`` id, or None if it is not one."""
    if len(event_id) != 26:
        return None
    value = 0
    for ch in event_id[:10]:
        i = _INDEX.get(ch)
        if i is None:
            return None
        value = (value << 5) | i
    return value  # 10 chars = 50 bits = the 48-bit time (the 130-bit text has 2 leading zeros)


def id_floor(ms: int) -> str:
    """The smallest id of millisecond ``ms``: a cursor meaning "everything from that moment on"."""
    value = max(ms, 0) << 80
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_event_id(value: str) -> bool:
    return id_time_ms(value) is not None


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened to one user's data.

    ``type`` names the subscription it feeds (``walletUpdated``, ``transactionReceived``,
    ``walletSyncProgress``, ``priceUpdated``, ``portfolioValueChanged``, ``channelEvents``,
    ``invoiceUpdated``, ``reportProgress``...). ``subject`` is the id of the object it is about
    (wallet id, node id, portfolio id, currency) so subscriptions can filter cheaply.
    ``user_id`` is ``None`` only for public events such as prices, which every user may see.
    """

    type: str
    user_id: str | None
    payload: dict[str, Any]
    subject: str | None = None
    id: str = field(default_factory=new_id)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    version: int = ENVELOPE_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": self.version,
            "id": self.id,
            "type": self.type,
            "userId": self.user_id,
            "subject": self.subject,
            "occurredAt": self.occurred_at.isoformat(),
            "payload": self.payload,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        d = json.loads(raw)
        return cls(
            type=d["type"],
            user_id=d.get("userId"),
            payload=d.get("payload") or {},
            subject=d.get("subject"),
            id=d["id"],
            occurred_at=datetime.fromisoformat(d["occurredAt"]),
            version=int(d.get("v", ENVELOPE_VERSION)),
        )
