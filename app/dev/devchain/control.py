"""The HTTP control endpoint: mine, send, reorg, replace, block timer, status."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.dev.devchain.chain import RejectError
from app.dev.devchain.state import ScenarioError

if TYPE_CHECKING:
    from app.dev.devchain.runner import DevChain


async def _params(request: Request) -> dict[str, Any]:
    data: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if body.strip():
        try:
            parsed = json.loads(body)
        except ValueError:
            raise ScenarioError("body must be JSON") from None
        if not isinstance(parsed, dict):
            raise ScenarioError("body must be a JSON object")
        data.update(parsed)
    return data


def _int(data: dict[str, Any], key: str, default: int | None = None) -> int:
    v = data.get(key, default)
    if v is None:
        raise ScenarioError(f"{key} is required")
    try:
        return int(v)
    except (TypeError, ValueError):
        raise ScenarioError(f"{key} must be an integer") from None


def build_control_app(dc: DevChain) -> Starlette:
    def wrap(fn: Any) -> Any:
        async def handler(request: Request) -> Response:
            try:
                return JSONResponse(await fn(await _params(request)))
            except (ScenarioError, RejectError, ValueError) as e:
                return JSONResponse({"error": str(e)}, status_code=400)

        return handler

    async def status(_p: dict[str, Any]) -> Any:
        return dc.info

    async def mine(p: dict[str, Any]) -> Any:
        n = _int(p, "n", 1)
        if not 1 <= n <= 1000:
            raise ScenarioError("n must be between 1 and 1000")
        hashes = await dc.mine(n)
        return {"blocks": hashes, "height": dc.state.chain.height}

    async def send(p: dict[str, Any]) -> Any:
        address = p.get("address")
        if not isinstance(address, str):
            raise ScenarioError("address is required")
        txid = await dc.send(address, _int(p, "sats"))
        return {"txid": txid}

    async def reorg(p: dict[str, Any]) -> Any:
        drop = p.get("drop", True)
        if isinstance(drop, str):
            drop = drop.lower() not in ("0", "false", "no")
        return await dc.reorg(_int(p, "depth", 3), drop=bool(drop))

    async def replace(p: dict[str, Any]) -> Any:
        old = p.get("txid")
        new = await dc.replace(old if isinstance(old, str) else None)
        return {"txid": new}

    async def timer(p: dict[str, Any]) -> Any:
        seconds = float(p.get("seconds", 0))
        dc.set_block_interval(seconds if seconds > 0 else None)
        return {"blockInterval": dc.block_interval}

    async def fees(p: dict[str, Any]) -> Any:
        raw = p.get("estimates")
        if raw is not None and not isinstance(raw, dict):
            raise ScenarioError("estimates must be an object of target -> sat/vB (or null for the defaults)")
        try:
            rates = None if raw is None else {int(k): float(v) for k, v in raw.items()}
        except (TypeError, ValueError):
            raise ScenarioError("estimates must map integer targets to numbers") from None
        served = await dc.set_fees(rates)
        return {"estimates": {str(t): r for t, r in sorted(served.items())}}

    return Starlette(
        routes=[
            Route("/status", wrap(status), methods=["GET"]),
            Route("/mine", wrap(mine), methods=["POST"]),
            Route("/send", wrap(send), methods=["POST"]),
            Route("/reorg", wrap(reorg), methods=["POST"]),
            Route("/replace", wrap(replace), methods=["POST"]),
            Route("/timer", wrap(timer), methods=["POST"]),
            Route("/fees", wrap(fees), methods=["POST"]),
        ]
    )
