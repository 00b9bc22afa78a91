"""Liveness and readiness endpoints.

``/readyz`` answers every caller with the overall status and each component's status word, which
is what a load balancer or orchestrator needs. The details behind them (engines, counts, node ids,
error class names) describe the deployment, so only an admin's credential sees them.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from app.http.auth import authenticate


async def healthz(request: Request) -> JSONResponse:
    """The process is alive and serving; says nothing about dependencies."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers and is at the migration head; other parts reported per component."""
    container = request.app.state.container
    ready, components = await container.readiness()
    if not await _is_admin(request):
        components = {name: {"status": part.get("status")} for name, part in components.items()}
    return JSONResponse(
        {"status": "ready" if ready else "unready", "components": components}, status_code=200 if ready else 503
    )


async def _is_admin(request: Request) -> bool:
    """Whether the request carries an admin's credential; a bad or missing one is simply not an admin
    (a probe is never refused for its header, and the answer says nothing about the credential)."""
    header = request.headers.get("authorization")
    if header is None:
        return False
    try:
        auth = await authenticate(request.app.state.container.accounts, header)
    except Exception:  # InvalidCredentials, or the database is down: readiness still answers, without details
        return False
    return auth is not None and auth.viewer.is_admin
