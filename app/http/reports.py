"""``GET /reports/{id}/download``: a finished report file, for its owner (bearer token) only."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from app.errors import NotFound
from app.http.auth import InvalidCredentials, authenticate
from app.http.errors import error_response
from app.security.policy import REPORT_DOWNLOAD


async def download_report(request: Request) -> Response:
    container = request.app.state.container
    request_id = request.scope.get("state", {}).get("request_id")
    try:
        auth = await authenticate(container.accounts, request.headers.get("authorization") or None)
    except InvalidCredentials:
        auth = None
    if auth is None:
        return error_response(
            401,
            "Send the same bearer token as for /graphql.",
            "UNAUTHENTICATED",
            request_id,
            headers={"www-authenticate": "Bearer"},
        )
    viewer = auth.viewer
    if viewer.scopes is not None and REPORT_DOWNLOAD not in viewer.scopes:
        return error_response(403, f"This API key lacks the scope {REPORT_DOWNLOAD}.", "FORBIDDEN", request_id)
    try:
        path, media, name = await container.reports.file(viewer.user_id, request.path_params["report_id"])
    except NotFound as exc:
        return error_response(404, exc.message, "NOT_FOUND", request_id)
    return FileResponse(
        path,
        media_type=media,
        filename=name,
        headers={"cache-control": "private, no-store", "x-content-type-options": "nosniff"},
    )
