"""Static channel backups of a node: the latest multi-channel backup and its verification."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from app.services.lightning_backups import LightningBackups, StoredBackup, Verification
from schema.context import Context


def backups_service(info: Info[Context, Any]) -> LightningBackups:
    return info.context.container.lightning_backups


@strawberry.type(description="A multi-channel static channel backup (LND's channel.backup file).")
class ChannelBackup:
    node_id: strawberry.ID
    created_at: datetime
    channel_points: list[str]
    channel_count: int
    size: int = strawberry.field(description="Bytes.")
    sha256: str
    download_url: str = strawberry.field(
        description="GET with the same bearer token: the latest backup as channel.backup "
        "(lncli restorechanbackup --multi_file)."
    )
    base64: str = strawberry.field(description="The file itself, base64.")

    @classmethod
    def of(cls, b: StoredBackup) -> ChannelBackup:
        return cls(
            node_id=strawberry.ID(b.node_id),
            created_at=b.created_at,
            channel_points=list(b.channel_points),
            channel_count=len(b.channel_points),
            size=len(b.multi),
            sha256=b.sha256,
            download_url=f"/lightning/{b.node_id}/channel-backup",
            base64=base64.b64encode(b.multi).decode(),
        )


@strawberry.type
class ChannelBackupVerification:
    valid: bool
    channel_points: list[str] | None = strawberry.field(
        description="The channels LND can restore from it (LND >= 0.19; null on older nodes)."
    )
    message: str

    @classmethod
    def of(cls, v: Verification) -> ChannelBackupVerification:
        return cls(
            valid=v.valid,
            channel_points=list(v.channel_points) if v.channel_points is not None else None,
            message=v.message,
        )
