"""The one JSON error shape of every HTTP-level refusal, the same as GraphQL's ``errors[]``.

``{"errors": [{"message": ..., "extensions": {"code": ..., "errorId": <request id>}}]}``
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response


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
