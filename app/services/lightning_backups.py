"""Static channel backups (SCB) of users' LND nodes: export, verify, keep the latest, download.

The latest multi-channel backup of each node is kept encrypted with the user's other secrets
(the container's Keyring, aad = owner id) in ``lightning_nodes.channel_backup_enc``. It is
refreshed on every export and by the node's ``SubscribeChannelBackups`` stream (a new snapshot
whenever a channel opens or closes), each refresh published as ``channelBackupUpdated``
(subject = node id). ``GET /lightning/{nodeId}/channel-backup`` downloads it as LND's
``channel.backup`` file (``lncli restorechanbackup --multi_file``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlmodel import select

from app.errors import BadInput, NotFound
from app.events.envelope import Event
from app.events.hub import EventHub
from app.lightning import backups
from app.lightning import models as m
from app.security.crypto import Keyring
from app.services.lightning import LightningService
from app.store.db import Store
from app.store.models.base import utcnow
from app.store.models.lightning import LightningNode

log = structlog.get_logger(__name__)

CHANNEL_BACKUP_UPDATED = "channelBackupUpdated"
MAX_BACKUP_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoredBackup:
    node_id: str
    created_at: datetime
    channel_points: tuple[str, ...]
    multi: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.multi).hexdigest()

    def summary(self) -> dict[str, object]:
        return {
            "channelPoints": list(self.channel_points),
            "channelCount": len(self.channel_points),
            "size": len(self.multi),
            "sha256": self.sha256,
            "createdAt": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Verification:
    valid: bool
    channel_points: tuple[str, ...] | None  # None: LND < 0.19 does not list them
    message: str


class LightningBackups:
    def __init__(self, lightning: LightningService, store: Store, keyring: Keyring, hub: EventHub) -> None:
        self.lightning = lightning
        self.store = store
        self.keyring = keyring
        self.hub = hub
        lightning.backup_sink = self._on_snapshot

    async def export(self, user_id: str, node_id: str) -> StoredBackup:
        """A fresh multi-channel backup from the node (ExportAllChannelBackups), kept as the latest."""
        node, client = await self.lightning.client(user_id, node_id)
        snap = await backups.export_all(client)
        return await self._save(node.id, node.user_id, snap)

    async def latest(self, user_id: str, node_id: str) -> StoredBackup:
        row = await self.lightning.stored_node(user_id, node_id)
        if not row.channel_backup_enc or row.channel_backup_at is None:
            raise NotFound("No channel backup of this node yet: query channelBackup(nodeId) to make one.")
        data = json.loads(self.keyring.decrypt(row.channel_backup_enc, aad=row.user_id))
        return StoredBackup(
            node_id=row.id,
            created_at=row.channel_backup_at,
            channel_points=tuple(data["channelPoints"]),
            multi=base64.b64decode(data["multi"]),
        )

    async def file(self, user_id: str, node_id: str) -> tuple[bytes, str]:
        """The latest backup as LND's channel.backup file, and a file name for it."""
        b = await self.latest(user_id, node_id)
        node = await self.lightning.get_node(user_id, node_id)
        safe = "".join(ch for ch in (node.alias or node.name) if ch.isalnum() or ch in "-_")[:40] or "node"
        return b.multi, f"channel-{safe}-{b.created_at.strftime('%Y%m%dT%H%M%SZ')}.backup"

    async def verify(self, user_id: str, node_id: str, backup_b64: str | None) -> Verification:
        """Ask the node whether a backup (base64; default: the latest kept one) is valid for it."""
        if backup_b64 is None:
            multi = (await self.latest(user_id, node_id)).multi
        else:
            if len(backup_b64) > MAX_BACKUP_BYTES * 4 // 3 + 4:
                raise BadInput("The backup is too large.", field="backup")
            try:
                multi = base64.b64decode(backup_b64.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise BadInput("The backup must be base64 (of a channel.backup file).", field="backup") from None
            if not multi:
                raise BadInput("The backup is empty.", field="backup")
        _node, client = await self.lightning.client(user_id, node_id)
        try:
            points = await backups.verify(client, multi)
        except BadInput as exc:
            if exc.field != "backup":
                raise
            return Verification(valid=False, channel_points=None, message=exc.message)
        n = f"{len(points)} channel(s)" if points is not None else "its channels"
        return Verification(valid=True, channel_points=points, message=f"The node can restore {n} from this backup.")

    async def _save(self, node_id: str, user_id: str, snap: m.ChannelBackupSnapshot) -> StoredBackup:
        now = utcnow()
        blob = json.dumps({"multi": base64.b64encode(snap.multi).decode(), "channelPoints": list(snap.channel_points)})
        async with self.store.write() as s:
            row = (
                await s.exec(select(LightningNode).where(LightningNode.id == node_id, LightningNode.user_id == user_id))
            ).first()
            if row is None:
                raise NotFound("No lightning node with this id.", field="nodeId")
            row.channel_backup_enc = self.keyring.encrypt(blob, aad=user_id)
            row.channel_backup_at = now
            s.add(row)
        return StoredBackup(node_id=node_id, created_at=now, channel_points=snap.channel_points, multi=snap.multi)

    async def _on_snapshot(self, node_id: str, user_id: str, snap: m.ChannelBackupSnapshot) -> None:
        try:
            stored = await self._save(node_id, user_id, snap)
        except NotFound:
            return  # the node was disconnected meanwhile
        log.info("lightning_channel_backup_updated", node_id=node_id, channels=len(snap.channel_points))
        await self.hub.publish(
            Event(type=CHANNEL_BACKUP_UPDATED, user_id=user_id, subject=node_id, payload=stored.summary())
        )
