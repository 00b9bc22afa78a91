"""The event envelope: typed, versioned JSON shared by every hub backend and subscription."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.ids import new_id

ENVELOPE_VERSION = 1


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

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": self.version,
                "id": self.id,
                "type": self.type,
                "userId": self.user_id,
                "subject": self.subject,
                "occurredAt": self.occurred_at.isoformat(),
                "payload": self.payload,
            },
            separators=(",", ":"),
            default=str,
        )

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
