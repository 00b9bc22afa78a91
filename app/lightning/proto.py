"""LND's message and service definitions, taken from the ``lndgrpc`` package (``lnd-grpc-client``).

Only the generated ``*_pb2`` / ``*_pb2_grpc`` modules are used, never that package's client
classes. Importing ``lndgrpc.compiled`` runs ``lndgrpc/__init__.py``, which imports its clients
and, as an import-time side effect, sets ``GRPC_SSL_CIPHER_SUITES=HIGH+ECDSA`` for the whole
process. We undo that change right after the import so this module leaves the environment as
it found it (LND's certificates are ECDSA anyway; gRPC's defaults accept them).

Checked with protobuf 7.36 (upb) and grpcio 1.85: the generated code (protoc 3.x style,
``reflection.GeneratedProtocolMessageType``) loads and round-trips messages.
"""

from __future__ import annotations

import os
from typing import Any

_ENV = "GRPC_SSL_CIPHER_SUITES"
_before = os.environ.get(_ENV)
try:
    from lndgrpc.compiled import lightning_pb2 as _ln
    from lndgrpc.compiled import lightning_pb2_grpc as _lnrpc
finally:
    if _before is None:
        os.environ.pop(_ENV, None)
    else:
        os.environ[_ENV] = _before

ln: Any = _ln
"""``lnrpc`` messages (``ln.GetInfoRequest()``...)."""

lnrpc: Any = _lnrpc
"""``LightningStub``, ``LightningServicer``, ``add_LightningServicer_to_server``."""

SERVICE = "lnrpc.Lightning"


def full_method(name: str) -> str:
    """``GetInfo`` -> ``/lnrpc.Lightning/GetInfo`` (the name LND's permission table uses)."""
    return f"/{SERVICE}/{name}"
