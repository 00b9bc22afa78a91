"""Lightning payments: decoded invoices and the pay / keysend inputs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.types import Info

from app.lightning import models as m
from app.services.lightning_payments import LightningPayments
from schema.context import Context

if TYPE_CHECKING:
    MilliSats = int
    Sats = int
else:
    from schema.scalars import MilliSats, Sats


def payments_service(info: Info[Context, Any]) -> LightningPayments:
    return info.context.container.lightning_payments


@strawberry.type(description="One hop of a route hint (a way into a private channel of the payee).")
class HopHint:
    node_id: str
    chan_id: str = strawberry.field(description="Short channel id (a string: it exceeds 2^53).")
    fee_base_msat: MilliSats
    fee_proportional_millionths: int
    cltv_expiry_delta: int


@strawberry.type
class InvoiceFeature:
    bit: int
    name: str
    is_required: bool
    is_known: bool


@strawberry.type(description="What a BOLT 11 payment request asks for, as LND reads it (DecodePayReq).")
class DecodedInvoice:
    destination: str = strawberry.field(description="The payee's node public key (from the signature).")
    payment_hash: str
    amount: Sats | None = strawberry.field(description="null: the payer chooses the amount.")
    amount_msat: MilliSats | None
    description: str
    description_hash: str | None
    created_at: datetime
    expiry: int = strawberry.field(description="Seconds after createdAt.")
    expires_at: datetime
    expired: bool
    cltv_expiry: int
    fallback_address: str | None
    payment_addr: str
    route_hints: list[list[HopHint]]
    features: list[InvoiceFeature]

    @classmethod
    def of(cls, d: m.DecodedInvoice, now: datetime) -> DecodedInvoice:
        return cls(
            destination=d.destination,
            payment_hash=d.payment_hash,
            amount=d.amount_msat // 1000 if d.amount_msat else None,
            amount_msat=d.amount_msat or None,
            description=d.description,
            description_hash=d.description_hash or None,
            created_at=d.timestamp,
            expiry=d.expiry_s,
            expires_at=d.expires_at,
            expired=d.expires_at <= now,
            cltv_expiry=d.cltv_expiry,
            fallback_address=d.fallback_address or None,
            payment_addr=d.payment_addr,
            route_hints=[
                [
                    HopHint(
                        node_id=h.node_id,
                        chan_id=str(h.chan_id),
                        fee_base_msat=h.fee_base_msat,
                        fee_proportional_millionths=h.fee_proportional_millionths,
                        cltv_expiry_delta=h.cltv_expiry_delta,
                    )
                    for h in route
                ]
                for route in d.route_hints
            ],
            features=[
                InvoiceFeature(bit=f.bit, name=f.name, is_required=f.is_required, is_known=f.is_known)
                for f in d.features
            ],
        )


@strawberry.input(description="Give exactly one of feeLimitMsat and feeLimitPercent.")
class PayInvoiceInput:
    node_id: strawberry.ID
    payment_request: str
    amount_msat: MilliSats | None = strawberry.field(default=None, description="Only for invoices without amount.")
    fee_limit_msat: MilliSats | None = strawberry.field(
        default=None, description="Most the routing may cost, in msat (0: direct channels only)."
    )
    fee_limit_percent: Decimal | None = strawberry.field(
        default=None, description="Most the routing may cost, in percent of the amount (e.g. \"0.5\")."
    )
    timeout_seconds: int = strawberry.field(default=60, description="LND gives up trying after this (1-3600).")


@strawberry.input(description="A spontaneous payment to a node (keysend); exactly one fee limit.")
class KeysendInput:
    node_id: strawberry.ID
    destination: str = strawberry.field(description="The payee's node public key (66 hex digits).")
    amount_msat: MilliSats
    fee_limit_msat: MilliSats | None = None
    fee_limit_percent: Decimal | None = None
    timeout_seconds: int = 60
