"""Static channel backup root fields: channelBackup (export), verifyChannelBackup."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from schema.context import Context
from schema.types.lightning_backups import ChannelBackup, ChannelBackupVerification, backups_service


def _user(info: Info[Context, Any]) -> str:
    return info.context.require_viewer().user_id


@strawberry.type
class LightningBackupQuery:
    @strawberry.field(
        description="A fresh multi-channel backup from the node (ExportAllChannelBackups), kept encrypted as "
        "the latest and downloadable at downloadUrl. Needs offchain:read."
    )
    async def channel_backup(self, info: Info[Context, Any], node_id: strawberry.ID) -> ChannelBackup:
        return ChannelBackup.of(await backups_service(info).export(_user(info), str(node_id)))


@strawberry.type
class LightningBackupMutation:
    @strawberry.mutation(
        description="Ask the node whether a backup is valid for it (VerifyChanBackup). `backup`: a channel.backup "
        "file in base64; omitted: the latest kept one. Changes nothing."
    )
    async def verify_channel_backup(
        self, info: Info[Context, Any], node_id: strawberry.ID, backup: str | None = None
    ) -> ChannelBackupVerification:
        v = await backups_service(info).verify(_user(info), str(node_id), backup)
        return ChannelBackupVerification.of(v)
