"""``GET /psbt/{draft_id}``: a PSBT draft for its owner (bearer token), as a binary ``.psbt`` file
(BIP-174's file format, what Sparrow, Specter, Coldcard and the other signers read from SD cards)
or with ``?format=base64`` as text."""

from __future__ import annotations

import base64

from starlette.requests import Request
from starlette.responses import Response

from app.errors import NotFound
from app.http.downloads import PRIVATE, download_viewer, request_id
from app.http.errors import error_response
from app.security.policy import PSBT_DOWNLOAD


async def download_psbt(request: Request) -> Response:
    viewer = await download_viewer(request, PSBT_DOWNLOAD)
    if isinstance(viewer, Response):
        return viewer
    fmt = request.query_params.get("format", "binary")
    if fmt not in ("binary", "base64"):
        return error_response(400, "format is binary or base64.", "BAD_USER_INPUT", request_id(request))
    try:
        draft = await request.app.state.container.spend.draft(viewer.user_id, request.path_params["draft_id"])
    except NotFound as exc:
        return error_response(404, exc.message, "NOT_FOUND", request_id(request))
    name = f"{draft.txid[:16]}-{draft.kind}"
    if fmt == "base64":
        return Response(
            draft.psbt,
            media_type="text/plain; charset=utf-8",
            headers={**PRIVATE, "content-disposition": f'attachment; filename="{name}.psbt.txt"'},
        )
    return Response(
        base64.b64decode(draft.psbt),
        media_type="application/octet-stream",
        headers={**PRIVATE, "content-disposition": f'attachment; filename="{name}.psbt"'},
    )
