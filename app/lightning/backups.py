"""Static channel backups over LND: ExportAllChannelBackups, VerifyChanBackup, SubscribeChannelBackups.

The multi-channel backup (``multi_chan_backup``) is exactly what LND writes to its
``channel.backup`` file and what ``lncli restorechanbackup --multi_file`` reads back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from app.errors import BadInput
from app.lightning import models as m
from app.lightning import newer
from app.lightning.client import LndClient, OnOpen, channel_point_str
from app.lightning.proto import ln


def _snapshot(s: Any) -> m.ChannelBackupSnapshot:
    multi = s.multi_chan_backup
    return m.ChannelBackupSnapshot(
        multi=bytes(multi.multi_chan_backup),
        channel_points=tuple(channel_point_str(cp) for cp in multi.chan_points),
    )


async def export_all(client: LndClient) -> m.ChannelBackupSnapshot:
    return _snapshot(await client.call("ExportAllChannelBackups", ln.ChanBackupExportRequest()))


async def verify(client: LndClient, multi: bytes) -> tuple[str, ...] | None:
    """The channel points LND found in the backup (LND ≥ 0.19), ``None`` when it only says "valid" (0.17, 0.18).

    An invalid backup raises ``BadInput`` (field ``backup``) with LND's reason.
    """
    if not multi:
        raise BadInput("The backup is empty.", field="backup")
    req = ln.ChanBackupSnapshot(multi_chan_backup=ln.MultiChanBackup(multi_chan_backup=multi))
    r = await client.call("VerifyChanBackup", req, field="backup")
    points = newer.reread(r, newer.VerifyChanBackupResponse).chan_points  # a field newer than the vendored ones
    return tuple(points) if points else None


async def updates(client: LndClient, on_open: OnOpen | None = None) -> AsyncIterator[m.ChannelBackupSnapshot]:
    async for s in client.stream("SubscribeChannelBackups", ln.ChannelBackupSubscription(), on_open=on_open):
        yield _snapshot(s)
