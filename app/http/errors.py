"""The one JSON error shape of every HTTP-level refusal, the same as GraphQL's ``errors[]``.

``{"errors": [{"message": ..., "extensions": {"code": ..., "errorId": <request id>}}]}``
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response

log = structlog.get_logger(__name__)


def error_response(
    status: int, message: str, code: str, request_id: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    ext: dict[str, Any] = {"code": code}
    if request_id:
        ext["errorId"] = request_id
    return Response(
        json.dumps({"errors": [{"message": message, "extensions": ext}]}),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


async def internal_error(request: Request, exc: Exception) -> Response:
    """What no route answered (say, the database gone while a bearer token is checked): the
    contract's ``INTERNAL`` error under the request id, never Starlette's plain-text 500. The
    traceback is logged under that id."""
    rid: str | None = request.scope.get("state", {}).get("request_id")
    log.error("http_unhandled_error", error_id=rid, error=type(exc).__name__, exc_info=exc)
    return error_response(500, f"Internal error (id {rid}); it has been logged.", "INTERNAL", rid)
