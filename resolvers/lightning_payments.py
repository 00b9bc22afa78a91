"""Lightning payment root fields: decodeInvoice, payInvoice, keysend (progress on paymentUpdated)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.types import Info

from app.services.lightning_payments import FeeLimit
from schema.context import Context
from schema.types.lightning import Payment
from schema.types.lightning_payments import DecodedInvoice, KeysendInput, PayInvoiceInput, payments_service


def _user(info: Info[Context, Any]) -> str:
    return info.context.require_viewer().user_id


@strawberry.type
class LightningPaymentQuery:
    @strawberry.field(description="Read a BOLT 11 payment request with the node (LND DecodePayReq) before paying it.")
    async def decode_invoice(
        self, info: Info[Context, Any], node_id: strawberry.ID, payment_request: str
    ) -> DecodedInvoice:
        d = await payments_service(info).decode_invoice(_user(info), str(node_id), payment_request)
        return DecodedInvoice.of(d, datetime.now(UTC))


@strawberry.type
class LightningPaymentMutation:
    @strawberry.mutation(
        description="Pay a BOLT 11 invoice (routerrpc SendPaymentV2). Answers with the final state, or the "
        "latest if still in flight after timeoutSeconds; every update is sent on paymentUpdated(nodeId). "
        "Needs offchain:write."
    )
    async def pay_invoice(self, info: Info[Context, Any], input: PayInvoiceInput) -> Payment:
        p = await payments_service(info).pay_invoice(
            _user(info),
            str(input.node_id),
            payment_request=input.payment_request,
            amount_msat=input.amount_msat,
            fee_limit=FeeLimit(msat=input.fee_limit_msat, percent=input.fee_limit_percent),
            timeout_s=input.timeout_seconds,
        )
        return Payment.of(p)

    @strawberry.mutation(description="A spontaneous payment to a node's public key (keysend). Needs offchain:write.")
    async def keysend(self, info: Info[Context, Any], input: KeysendInput) -> Payment:
        p = await payments_service(info).keysend(
            _user(info),
            str(input.node_id),
            destination=input.destination,
            amount_msat=input.amount_msat,
            fee_limit=FeeLimit(msat=input.fee_limit_msat, percent=input.fee_limit_percent),
            timeout_s=input.timeout_seconds,
        )
        return Payment.of(p)
