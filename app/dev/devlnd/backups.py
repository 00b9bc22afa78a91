"""devlnd's static channel backups: ExportAllChannelBackups, VerifyChanBackup, SubscribeChannelBackups.

The packed multi-channel backup is, as in LND, an opaque encrypted blob: here a version byte,
a nonce and the channel points sealed with ChaCha20-Poly1305 under a key derived from the node
key (LND derives its SCB key from the wallet's key chain). Only this node can open it, and a
changed byte fails verification with LND's message.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from app.dev.devlnd.payments import version_at_least
from app.dev.devlnd.state import LndError
from app.lightning import newer
from app.lightning.proto import ln

if TYPE_CHECKING:
    from app.dev.devlnd.state import NodeState, SimChannel

_VERSION = b"\x00"


def _key(state: NodeState) -> bytes:
    return hashlib.sha256(state.node_secret + b"devlnd static channel backup").digest()


def backed_up(state: NodeState) -> list[SimChannel]:
    """The channels a backup covers: open and pending-open (LND backs up from funding on)."""
    return [c for c in state.channels if c.status in ("open", "pending_open")]


def pack(state: NodeState, channels: list[SimChannel]) -> bytes:
    nonce = os.urandom(12)
    body = "\n".join(c.channel_point for c in channels).encode()
    return _VERSION + nonce + ChaCha20Poly1305(_key(state)).encrypt(nonce, body, _VERSION)


def unpack(state: NodeState, blob: bytes) -> list[str]:
    if len(blob) < 1 + 12 + 16 or blob[:1] != _VERSION:
        raise LndError("invalid multi channel backup: unable to unpack multi backup: unknown version")
    try:
        body = ChaCha20Poly1305(_key(state)).decrypt(blob[1:13], blob[13:], _VERSION)
    except InvalidTag:
        raise LndError("invalid multi channel backup: chacha20poly1305: message authentication failed") from None
    return [p for p in body.decode().split("\n") if p]


def snapshot(state: NodeState) -> Any:
    chans = backed_up(state)
    return ln.ChanBackupSnapshot(
        single_chan_backups=ln.ChannelBackups(
            chan_backups=[ln.ChannelBackup(chan_point=c.point_pb(), chan_backup=pack(state, [c])) for c in chans]
        ),
        multi_chan_backup=ln.MultiChanBackup(
            chan_points=[c.point_pb() for c in chans], multi_chan_backup=pack(state, chans)
        ),
    )


def verify(state: NodeState, req: Any) -> Any:
    singles = list(req.single_chan_backups.chan_backups)
    multi = bytes(req.multi_chan_backup.multi_chan_backup)
    if singles and multi:
        raise LndError("either a Single or Multi channel backup can be specified, not both")
    if not singles and not multi:
        raise LndError("either a Single or Multi channel backup must be specified")
    if singles:
        if len(singles) > 1:
            raise LndError("only one Single is accepted at a time")
        try:
            points = unpack(state, bytes(singles[0].chan_backup))
        except LndError as exc:
            raise LndError(str(exc).replace("invalid multi channel backup", "invalid single channel backup")) from None
    else:
        points = unpack(state, multi)
    if not version_at_least(state.version, 0, 19):
        return ln.VerifyChanBackupResponse()  # LND < 0.19 answers an empty message on success
    # 0.19 lists the channel points: a field newer than the vendored definitions, on the same wire.
    return newer.VerifyChanBackupResponse(chan_points=points)
