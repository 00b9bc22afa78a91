"""``GET /lightning/{node_id}/channel-backup``: the node's latest static channel backup, for its owner only.

The body is LND's ``channel.backup`` file (the packed multi-channel backup); authenticated with
the same bearer token as /graphql (an API key needs ``lightning:read``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.errors import NotFound
from app.http.downloads import PRIVATE, download_viewer, request_id
from app.http.errors import error_response

SCOPE = "lightning:read"


async def download_channel_backup(request: Request) -> Response:
    viewer = await download_viewer(request, SCOPE)
    if isinstance(viewer, Response):
        return viewer
    try:
        body, name = await request.app.state.container.lightning_backups.file(
            viewer.user_id, request.path_params["node_id"]
        )
    except NotFound as exc:
        return error_response(404, exc.message, "NOT_FOUND", request_id(request))
    return Response(
        body,
        media_type="application/octet-stream",
        headers={**PRIVATE, "content-disposition": f'attachment; filename="{name}"'},
    )
