"""``GET /lightning/{node_id}/channel-backup``: the node's latest static channel backup, for its owner only.

The body is LND's ``channel.backup`` file (the packed multi-channel backup); authenticated with
the same bearer token as /graphql (an API key needs ``lightning:read``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.errors import NotFound
from app.http.errors import error_response
from app.security.tokens import bearer_from_header

SCOPE = "lightning:read"


async def download_channel_backup(request: Request) -> Response:
    container = request.app.state.container
    request_id = request.scope.get("state", {}).get("request_id")
    token = bearer_from_header(request.headers.get("authorization"))
    viewer = await container.accounts.authenticate(token) if token else None
    if viewer is None:
        return error_response(
            401,
            "Send the same bearer token as for /graphql.",
            "UNAUTHENTICATED",
            request_id,
            headers={"www-authenticate": "Bearer"},
        )
    if viewer.scopes is not None and SCOPE not in viewer.scopes:
        return error_response(403, f"This API key lacks the scope {SCOPE}.", "FORBIDDEN", request_id)
    try:
        body, name = await container.lightning_backups.file(viewer.user_id, request.path_params["node_id"])
    except NotFound as exc:
        return error_response(404, exc.message, "NOT_FOUND", request_id)
    return Response(
        body,
        media_type="application/octet-stream",
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "private, no-store",
            "x-content-type-options": "nosniff",
        },
    )
