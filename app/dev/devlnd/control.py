"""devlnd's HTTP control endpoint: settle an invoice, pay into the node, mine, fail routes, auto-settle.

``mbf devlnd --control-url URL --settle HASH`` (and ``--pay-in``, ``--mine``, ``--fail-route``,
``--auto-settle``) posts here; a demo or a person at a terminal drives the node without code.
Every answer is JSON; a bad request is ``400 {"error": …}`` and changes nothing.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.dev.devlnd.state import LndError

if TYPE_CHECKING:
    from app.dev.devlnd.node import DevLnd

_HASH = re.compile(r"^[0-9a-fA-F]{64}$")


class ControlError(ValueError):
    pass


async def _params(request: Request) -> dict[str, Any]:
    data: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if body.strip():
        try:
            parsed = json.loads(body)
        except ValueError:
            raise ControlError("body must be JSON") from None
        if not isinstance(parsed, dict):
            raise ControlError("body must be a JSON object")
        data.update(parsed)
    return data


def _int(data: dict[str, Any], key: str, lo: int, hi: int, default: int | None = None) -> int:
    v = data.get(key, default)
    if v is None:
        raise ControlError(f"{key} is required")
    try:
        n = int(v)
    except (TypeError, ValueError):
        raise ControlError(f"{key} must be an integer") from None
    if not lo <= n <= hi:
        raise ControlError(f"{key} must be between {lo} and {hi}")
    return n


def _bool(data: dict[str, Any], key: str) -> bool:
    v = data.get(key, True)
    if isinstance(v, bool):
        return v
    if str(v).lower() in ("1", "true", "on", "yes"):
        return True
    if str(v).lower() in ("0", "false", "off", "no"):
        return False
    raise ControlError(f"{key} must be true or false")


def _invoice_json(inv: Any) -> dict[str, Any]:
    return {
        "paymentHash": bytes(inv.r_hash).hex(),
        "paymentRequest": inv.payment_request,
        "valueMsat": inv.value_msat,
        "state": "SETTLED" if inv.settled else "OPEN",
        "addIndex": inv.add_index,
        "settleIndex": inv.settle_index,
    }


def build_control_app(node: DevLnd) -> Starlette:
    def wrap(fn: Any) -> Any:
        async def handler(request: Request) -> Response:
            try:
                return JSONResponse(fn(await _params(request)))
            except (ControlError, LndError) as e:
                return JSONResponse({"error": str(e)}, status_code=400)

        return handler

    def status(_p: dict[str, Any]) -> Any:
        st = node.state
        return {
            **{k: v for k, v in node.info().items() if k != "tlsCert"},
            "blockHeight": st.height,
            "failRoute": node.payments.fail_route,
            "autoSettleSeconds": node.auto_settle_s,
            "openInvoices": sum(not i.settled for i in st.invoices),
        }

    def settle(p: dict[str, Any]) -> Any:
        h = str(p.get("paymentHash") or p.get("hash") or "")
        if not _HASH.match(h):
            raise ControlError("paymentHash must be 64 hex digits")
        return _invoice_json(node.settle_invoice(h.lower()))

    def pay_in(p: dict[str, Any]) -> Any:
        sats = _int(p, "sats", 1, 100_000_000)
        return _invoice_json(node.pay_in(sats, memo=str(p.get("memo") or "pay-in")))

    def mine(p: dict[str, Any]) -> Any:
        n = _int(p, "n", 1, 1000, 1)
        node.mine(n)
        return {"blockHeight": node.state.height}

    def fail_route(p: dict[str, Any]) -> Any:
        node.payments.fail_route = _bool(p, "on")
        return {"failRoute": node.payments.fail_route}

    def auto_settle(p: dict[str, Any]) -> Any:
        seconds = _int(p, "seconds", 0, 86_400)
        node.auto_settle_s = seconds or None
        return {"autoSettleSeconds": node.auto_settle_s}

    def invoice(p: dict[str, Any]) -> Any:
        sats = _int(p, "sats", 0, 100_000_000)
        peer = str(p.get("peer") or "alice")
        return {"paymentRequest": node.peer_invoice(peer, sats * 1000, str(p.get("memo") or ""))}

    return Starlette(
        routes=[
            Route("/status", wrap(status), methods=["GET"]),
            Route("/settle", wrap(settle), methods=["POST"]),
            Route("/pay-in", wrap(pay_in), methods=["POST"]),
            Route("/mine", wrap(mine), methods=["POST"]),
            Route("/fail-route", wrap(fail_route), methods=["POST"]),
            Route("/auto-settle", wrap(auto_settle), methods=["POST"]),
            Route("/invoice", wrap(invoice), methods=["POST"]),
        ]
    )
