"""The Lightning service's views of stored data (the ``lightning_nodes`` table stays inside the
Lightning area; the GraphQL layer and other areas get these)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class NodeView:
    """A connected LND node without its secrets (the certificate, macaroon and channel backup
    are stored encrypted and never leave the service)."""

    id: str
    user_id: str
    name: str
    host: str
    port: int
    network: str  # MAINNET | TESTNET | SIGNET | REGTEST
    pubkey: str
    alias: str  # as of the last successful GetInfo
    version: str
    permissions: str  # the macaroon's permissions (entity:action, comma-separated)
    created_at: datetime
    last_seen_at: datetime | None
