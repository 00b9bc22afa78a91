"""gRPC failures from LND mapped to :mod:`app.errors`.

LND reports most failures as ``UNKNOWN`` with a Go error string (``permission denied``,
``verification failed: signature mismatch after caveat verification``, ``channel not found``...),
so the message matters as much as the status code.
"""

from __future__ import annotations

import grpc

from app.errors import BadInput, DomainError, Forbidden, UpstreamUnavailable
from app.lightning.permissions import METHOD_PERMISSIONS, missing_for


class MacaroonRejected(Forbidden):
    """The node refused the macaroon itself (bad signature, unknown root key, expired caveat)."""


class TlsRejected(UpstreamUnavailable):
    """The TLS handshake failed: the certificate given does not match the node's."""


_MACAROON_MARKERS = (
    "verification failed",
    "signature mismatch",
    "cannot get macaroon",
    "root key with id",
    "expected 1 macaroon",
    "unable to decode macaroon",
    "macaroon",
    "encoding/hex",
    "caveat",
)
_TLS_MARKERS = ("ssl", "tls", "handshake", "certificate", "cert_verify")
# LND answers UNKNOWN with these while it starts or while its wallet is locked: transient.
_STARTING_MARKERS = (
    "waiting to start",
    "rpc services not available",
    "wallet locked",
    "still in the process of starting",
)


def describe_missing(method: str, missing: tuple[str, ...]) -> str:
    perms = ", ".join(missing) or ", ".join(METHOD_PERMISSIONS.get(method, ()))
    return f"The node's macaroon lacks the permission {perms} that {method} needs."


def map_rpc_error(
    exc: grpc.aio.AioRpcError | grpc.RpcError,
    *,
    method: str,
    target: str,
    timeout_s: float | None,
    granted: frozenset[str] | None,
    field: str | None = None,
) -> DomainError:
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else "") or ""
    low = details.lower()
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return UpstreamUnavailable(
            f"The Lightning node at {target} did not answer {method} within {timeout_s or 0:g}s.",
            hint="Check that the node is running and reachable; MBF_LND_TIMEOUT_S sets the limit.",
        )
    if code == grpc.StatusCode.UNAVAILABLE:
        if any(m in low for m in _TLS_MARKERS):
            return TlsRejected(
                f"TLS with the Lightning node at {target} failed: the certificate given does not match "
                f"the node's ({details}).",
                field="tlsCert",
                hint="Use the node's current tls.cert; it must list the host you connect to.",
            )
        return UpstreamUnavailable(f"The Lightning node at {target} is unreachable: {details}")
    if code == grpc.StatusCode.UNKNOWN and any(m in low for m in _STARTING_MARKERS):
        return UpstreamUnavailable(f"The Lightning node at {target} is not ready: {details}")
    if code == grpc.StatusCode.CANCELLED:
        return UpstreamUnavailable(f"The call {method} to the Lightning node at {target} was cancelled: {details}")
    if code == grpc.StatusCode.PERMISSION_DENIED or low.strip() == "permission denied" or "permission denied" in low:
        missing = missing_for(method, granted) if granted is not None else ()
        return Forbidden(describe_missing(method, missing), field="macaroon")
    if code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAUTHENTICATED) and any(m in low for m in _MACAROON_MARKERS):
        return MacaroonRejected(f"The Lightning node rejected the macaroon: {details}", field="macaroon")
    if code in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.OUT_OF_RANGE,
    ):
        return BadInput(f"LND refused {method}: {details}", field=field)
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return UpstreamUnavailable(f"The Lightning node at {target} does not support {method} ({details}).")
    return UpstreamUnavailable(f"The Lightning node at {target} failed {method}: {code.name} {details}")
