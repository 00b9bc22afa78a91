"""What every file download (reports, PSBT drafts, channel backups) shares: the bearer token
checked through the one auth seam (:mod:`app.http.auth`), an API key's scope, the contract's
error shape, and headers that keep a user's file out of shared caches."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.http.auth import InvalidCredentials, authenticate
from app.http.errors import error_response
from app.services.accounts import Viewer

PRIVATE = {"cache-control": "private, no-store", "x-content-type-options": "nosniff"}
"""Headers of every downloaded file."""


def request_id(request: Request) -> str | None:
    rid: str | None = request.scope.get("state", {}).get("request_id")
    return rid


async def download_viewer(request: Request, scope: str) -> Viewer | Response:
    """The viewer of a download request whose credential holds ``scope``, or the 401/403 to send."""
    try:
        auth = await authenticate(request.app.state.container.accounts, request.headers.get("authorization") or None)
    except InvalidCredentials:
        auth = None
    if auth is None:
        return error_response(
            401,
            "Send the same bearer token as for /graphql.",
            "UNAUTHENTICATED",
            request_id(request),
            headers={"www-authenticate": "Bearer"},
        )
    if auth.viewer.scopes is not None and scope not in auth.viewer.scopes:
        return error_response(403, f"This API key lacks the scope {scope}.", "FORBIDDEN", request_id(request))
    return auth.viewer
