"""Paying from a user's LND node: decode first, pay (invoice or keysend), follow the payment live.

``pay_invoice`` / ``keysend`` check the stored macaroon for ``offchain:write`` (``FORBIDDEN``
otherwise, before any call), decode the request with LND, validate amount, expiry and fee limit
(``BAD_USER_INPUT`` with the field; nothing is sent), then open ``SendPaymentV2``. Every update
LND streams (in flight → succeeded with preimage and fee / failed with LND's failure reason) is
published as a ``paymentUpdated`` event (subject = node id). The mutation answers with the final
state, or with the latest one if the payment is still in flight after its timeout; the stream
keeps being followed in the background (under the container's supervisor) so the subscription
sees the end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog

from app.errors import BadInput
from app.events.envelope import Event
from app.events.hub import EventHub
from app.lightning import models as m
from app.lightning import paying
from app.lightning.views import NodeView
from app.services import audit
from app.services.lightning import LightningService
from app.tasks import Supervisor

log = structlog.get_logger(__name__)

PAYMENT_UPDATED = "paymentUpdated"
RESULT_GRACE_S = 5.0  # beyond the payment's own timeout, how long the mutation waits for the end


def payment_payload(p: m.Payment) -> dict[str, Any]:
    return {
        "paymentHash": p.payment_hash,
        "status": p.status,
        "valueMsat": str(p.value_msat),
        "feeMsat": str(p.fee_msat),
        "preimage": p.payment_preimage or None,
        "failureReason": None if p.failure_reason == "FAILURE_REASON_NONE" else p.failure_reason,
        "attempts": p.attempts,
        "lastHtlcFailure": p.last_htlc_failure or None,
        "paymentIndex": p.payment_index,
    }


@dataclass(frozen=True, slots=True)
class FeeLimit:
    msat: int | None = None
    percent: Decimal | str | None = None


class LightningPayments:
    def __init__(self, lightning: LightningService, hub: EventHub, supervisor: Supervisor) -> None:
        self.lightning = lightning
        self.hub = hub
        self.supervisor = supervisor

    async def decode_invoice(self, user_id: str, node_id: str, payment_request: str) -> m.DecodedInvoice:
        _node, client = await self.lightning.client(user_id, node_id)
        return await paying.decode_invoice(client, payment_request)

    async def pay_invoice(
        self,
        user_id: str,
        node_id: str,
        *,
        payment_request: str,
        amount_msat: int | None,
        fee_limit: FeeLimit,
        timeout_s: int,
    ) -> m.Payment:
        node, client = await self.lightning.client(user_id, node_id)
        self.lightning._require(node, "PAY")
        inv = await paying.decode_invoice(client, payment_request)
        if inv.amount_msat and amount_msat:
            raise BadInput(
                f"The invoice asks for {inv.amount_msat} msat; leave the amount empty.", field="amountMsat"
            )
        if not inv.amount_msat and not amount_msat:
            raise BadInput("This invoice has no amount: give amountMsat.", field="amountMsat")
        if inv.expires_at <= datetime.now(UTC):
            raise BadInput(
                f"The invoice expired at {inv.expires_at.isoformat()}; ask the payee for a new one.",
                field="paymentRequest",
            )
        if inv.destination == node.pubkey:
            raise BadInput("This invoice is the node's own; a node cannot pay itself.", field="paymentRequest")
        amount = inv.amount_msat or int(amount_msat or 0)
        limit = paying.fee_limit_msat(amount, limit_msat=fee_limit.msat, limit_percent=fee_limit.percent)
        updates = paying.pay_invoice(
            client,
            payment_request,
            amount_msat=None if inv.amount_msat else amount,
            fee_limit=limit,
            timeout_s=timeout_s,
        )
        await audit.AuditLog(self.lightning.store).add("payment.sent", user_id, node_id, detail=f"msat={amount}")
        return await self._follow(node, updates, timeout_s)

    async def keysend(
        self,
        user_id: str,
        node_id: str,
        *,
        destination: str,
        amount_msat: int,
        fee_limit: FeeLimit,
        timeout_s: int,
    ) -> m.Payment:
        node, client = await self.lightning.client(user_id, node_id)
        self.lightning._require(node, "PAY")
        if destination.lower() == node.pubkey:
            raise BadInput("A node cannot pay itself.", field="destination")
        limit = paying.fee_limit_msat(amount_msat, limit_msat=fee_limit.msat, limit_percent=fee_limit.percent)
        req, _hash = paying.keysend_request(destination.lower(), amount_msat, fee_limit=limit, timeout_s=timeout_s)
        await audit.AuditLog(self.lightning.store).add("keysend.sent", user_id, node_id, detail=f"msat={amount_msat}")
        return await self._follow(node, paying.keysend(client, req), timeout_s)

    async def _publish(self, node: NodeView, p: m.Payment) -> None:
        await self.hub.publish(
            Event(type=PAYMENT_UPDATED, user_id=node.user_id, subject=node.id, payload=payment_payload(p))
        )

    async def _follow(self, node: NodeView, updates: AsyncIterator[m.Payment], timeout_s: int) -> m.Payment:
        """The first update (LND's validation errors surface here), then the rest in the background."""
        it = aiter(updates)
        first = await anext(it)  # a refusal by LND raises here: nothing was sent, nothing published
        await self._publish(node, first)
        latest = first
        done = asyncio.Event()

        async def rest() -> None:
            nonlocal latest
            try:
                async for p in it:
                    latest = p
                    await self._publish(node, p)
                    if p.final:
                        break
            except Exception as exc:  # the node went away mid-payment: LND keeps paying; say so
                log.warning("lightning_payment_stream_lost", node_id=node.id, error=type(exc).__name__)
            finally:
                done.set()
                with contextlib.suppress(Exception):
                    await it.aclose()  # type: ignore[attr-defined]

        if not first.final:
            self.supervisor.spawn(f"lnpay:{node.id}:{first.payment_hash}", rest)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s + RESULT_GRACE_S):
                    await done.wait()
        log.info("lightning_payment", node_id=node.id, status=latest.status, reason=latest.failure_reason)
        return latest
