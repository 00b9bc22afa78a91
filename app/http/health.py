"""Liveness and readiness endpoints."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse


async def healthz(request: Request) -> JSONResponse:
    """The process is alive and serving; says nothing about dependencies."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers and is at the migration head; other parts reported per component."""
    ready, components = await request.app.state.container.readiness()
    return JSONResponse(
        {"status": "ready" if ready else "unready", "components": components}, status_code=200 if ready else 503
    )
