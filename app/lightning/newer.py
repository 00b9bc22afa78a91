"""LND message definitions newer than the vendored ones (``lnd-grpc-client`` 0.6.0 = LND 0.17).

Protobuf is forward compatible: a field the vendored definitions do not know arrives intact as an
unknown field, and re-parsing the same bytes with a definition that knows it reads it. The few
newer fields this client uses are declared here, field by field as in LND's current
``lightning.proto`` (the compatibility test compares them with the definitions LND ships today,
from the npm package ``lightning``), in a private descriptor pool so they never clash with the
vendored ``lnrpc`` names.

- ``VerifyChanBackupResponse.chan_points`` (LND 0.19): the channel points found in a backup.
- ``Payment.PaymentStatus.INITIATED = 4`` (LND 0.18): a payment registered, no HTLC sent yet.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PAYMENT_STATUS_INITIATED = 4
"""``lnrpc.Payment.PaymentStatus.INITIATED`` (LND >= 0.18)."""

_F = descriptor_pb2.FieldDescriptorProto


def _pool() -> descriptor_pool.DescriptorPool:
    file = descriptor_pb2.FileDescriptorProto(name="mbf/lnd_newer.proto", package="lnrpc", syntax="proto3")
    msg = file.message_type.add(name="VerifyChanBackupResponse")
    msg.field.add(name="chan_points", number=1, type=_F.TYPE_STRING, label=_F.LABEL_REPEATED, json_name="chanPoints")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return pool


_POOL = _pool()

VerifyChanBackupResponse: Any = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName("lnrpc.VerifyChanBackupResponse")
)
"""``lnrpc.VerifyChanBackupResponse`` as LND >= 0.19 defines it."""


def reread(message: Any, newer: Any) -> Any:
    """``message`` (a vendored-definition message) read again with the ``newer`` definition."""
    return newer.FromString(message.SerializeToString())
