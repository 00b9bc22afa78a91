"""LND's message and service definitions, vendored.

``app/lightning/_vendor/lnd/`` holds ``lightning.proto`` and ``router.proto`` with their generated
``*_pb2`` / ``*_pb2_grpc`` modules as the ``lnd-grpc-client`` 0.6.0 wheel ships them (MIT licence
beside them); nothing is compiled at install time, so the runtime needs only ``grpcio`` and ``protobuf``.
"""

from __future__ import annotations

from typing import Any

from app.lightning._vendor.lnd import LND_VERSION as _LND_VERSION
from app.lightning._vendor.lnd import lightning_pb2 as _ln
from app.lightning._vendor.lnd import lightning_pb2_grpc as _lnrpc
from app.lightning._vendor.lnd import router_pb2 as _router
from app.lightning._vendor.lnd import router_pb2_grpc as _routerrpc

PROTO_LND_VERSION: str = _LND_VERSION
"""Where the vendored ``.proto`` files come from."""

ln: Any = _ln
"""``lnrpc`` messages (``ln.GetInfoRequest()``...)."""

lnrpc: Any = _lnrpc
"""``LightningStub``, ``LightningServicer``, ``add_LightningServicer_to_server``."""

router: Any = _router
"""``routerrpc`` messages (``router.SendPaymentRequest()``...)."""

routerrpc: Any = _routerrpc
"""``RouterStub``, ``RouterServicer``, ``add_RouterServicer_to_server``."""

SERVICE = "lnrpc.Lightning"
ROUTER_SERVICE = "routerrpc.Router"


def full_method(name: str, service: str = SERVICE) -> str:
    """``GetInfo`` -> ``/lnrpc.Lightning/GetInfo`` (the name LND's permission table uses)."""
    return f"/{service}/{name}"
