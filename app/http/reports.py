"""``GET /reports/{id}/download``: a finished report file, for its owner (bearer token) only."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from app.errors import NotFound
from app.http.downloads import PRIVATE, download_viewer, request_id
from app.http.errors import error_response
from app.security.policy import REPORT_DOWNLOAD


async def download_report(request: Request) -> Response:
    viewer = await download_viewer(request, REPORT_DOWNLOAD)
    if isinstance(viewer, Response):
        return viewer
    try:
        path, media, name = await request.app.state.container.reports.file(
            viewer.user_id, request.path_params["report_id"]
        )
    except NotFound as exc:
        return error_response(404, exc.message, "NOT_FOUND", request_id(request))
    return FileResponse(path, media_type=media, filename=name, headers=PRIVATE)
