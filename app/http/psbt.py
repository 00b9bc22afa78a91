"""``GET /psbt/{draft_id}``: a PSBT draft for its owner (bearer token), as a binary ``.psbt`` file
(BIP-174's file format, what Sparrow, Specter, Coldcard and the other signers read from SD cards)
or with ``?format=base64`` as text."""

from __future__ import annotations

import base64

from starlette.requests import Request
from starlette.responses import Response

from app.errors import NotFound
from app.http.auth import InvalidCredentials, authenticate
from app.http.errors import error_response
from app.security.policy import PSBT_DOWNLOAD

_HEADERS = {"cache-control": "private, no-store", "x-content-type-options": "nosniff"}


async def download_psbt(request: Request) -> Response:
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
    if viewer.scopes is not None and PSBT_DOWNLOAD not in viewer.scopes:
        return error_response(403, f"This API key lacks the scope {PSBT_DOWNLOAD}.", "FORBIDDEN", request_id)
    fmt = request.query_params.get("format", "binary")
    if fmt not in ("binary", "base64"):
        return error_response(400, "format is binary or base64.", "BAD_USER_INPUT", request_id)
    try:
        draft = await container.spend.draft(viewer.user_id, request.path_params["draft_id"])
    except NotFound as exc:
        return error_response(404, exc.message, "NOT_FOUND", request_id)
    name = f"{draft.txid[:16]}-{draft.kind}"
    if fmt == "base64":
        return Response(
            draft.psbt,
            media_type="text/plain; charset=utf-8",
            headers={**_HEADERS, "content-disposition": f'attachment; filename="{name}.psbt.txt"'},
        )
    return Response(
        base64.b64decode(draft.psbt),
        media_type="application/octet-stream",
        headers={**_HEADERS, "content-disposition": f'attachment; filename="{name}.psbt"'},
    )
