"""Paying over LND's router: ``DecodePayReq``, ``SendPaymentV2`` (invoice or keysend), ``TrackPaymentV2``.

``SendPaymentV2`` is a server stream of ``lnrpc.Payment`` snapshots: LND ≥ 0.18 first reports
``INITIATED``, then ``IN_FLIGHT`` with the HTLC attempts, and ends with ``SUCCEEDED`` (preimage,
fee) or ``FAILED`` (``failure_reason``). LND 0.17 starts at ``IN_FLIGHT``. Both are yielded as
:class:`app.lightning.models.Payment` as they come.

Fee limits: the router takes an absolute ``fee_limit_msat`` (0 means *no fee at all*, i.e. only
a direct channel); a percentage is turned into msat of the amount here, as ``lncli`` does.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from app.errors import BadInput
from app.lightning import models as m
from app.lightning.client import LndClient, payment_from
from app.lightning.proto import ln, router

KEYSEND_RECORD = 5482373484  # the TLV type of the keysend preimage (``record.KeySendType``)
MAX_TIMEOUT_S = 3600
_PUBKEY = re.compile(r"^0[23][0-9a-fA-F]{64}$")
_HASH = re.compile(r"^[0-9a-fA-F]{64}$")


def clean_payment_request(text: str) -> str:
    pr = (text or "").strip()
    if pr.lower().startswith("lightning:"):
        pr = pr[10:]
    if not pr or not pr.lower().startswith("ln") or len(pr) > 7089:
        raise BadInput("This is not a BOLT 11 payment request (it starts with ln…).", field="paymentRequest")
    return pr


async def decode_invoice(client: LndClient, payment_request: str) -> m.DecodedInvoice:
    """LND's own reading of the payment request (so it matches what LND will pay)."""
    pr = clean_payment_request(payment_request)
    r = await client.call("DecodePayReq", ln.PayReqString(pay_req=pr), field="paymentRequest")
    return m.DecodedInvoice(
        destination=r.destination,
        payment_hash=r.payment_hash,
        amount_msat=r.num_msat or r.num_satoshis * 1000,
        timestamp=datetime.fromtimestamp(r.timestamp, UTC),
        expiry_s=r.expiry,
        description=r.description,
        description_hash=r.description_hash,
        fallback_address=r.fallback_addr,
        cltv_expiry=r.cltv_expiry,
        route_hints=tuple(
            tuple(
                m.HopHint(
                    node_id=h.node_id,
                    chan_id=h.chan_id,
                    fee_base_msat=h.fee_base_msat,
                    fee_proportional_millionths=h.fee_proportional_millionths,
                    cltv_expiry_delta=h.cltv_expiry_delta,
                )
                for h in hint.hop_hints
            )
            for hint in r.route_hints
        ),
        payment_addr=bytes(r.payment_addr).hex(),
        features=tuple(
            m.InvoiceFeature(bit=bit, name=f.name, is_required=f.is_required, is_known=f.is_known)
            for bit, f in sorted(r.features.items())
        ),
    )


def fee_limit_msat(amount_msat: int, *, limit_msat: int | None, limit_percent: str | Decimal | None) -> int:
    """The absolute fee limit: one of ``limit_msat`` / ``limit_percent`` (of the amount), rounded down."""
    if (limit_msat is None) == (limit_percent is None):
        raise BadInput(
            "Give exactly one fee limit: feeLimitMsat or feeLimitPercent.",
            field="feeLimitMsat",
            hint="feeLimitPercent: \"0.5\" allows up to 0.5% of the amount in routing fees.",
        )
    if limit_msat is not None:
        if limit_msat < 0:
            raise BadInput("The fee limit cannot be negative.", field="feeLimitMsat")
        return int(limit_msat)
    try:
        pct = Decimal(str(limit_percent))
    except InvalidOperation:
        raise BadInput(f"'{limit_percent}' is not a percentage.", field="feeLimitPercent") from None
    if not pct.is_finite() or pct < 0 or pct > 100:
        raise BadInput("The fee limit percentage must be between 0 and 100.", field="feeLimitPercent")
    return int(Decimal(amount_msat) * pct / 100)


def _timeout(timeout_s: int) -> int:
    if not 1 <= timeout_s <= MAX_TIMEOUT_S:
        raise BadInput(f"The timeout must be 1 to {MAX_TIMEOUT_S} seconds.", field="timeoutSeconds")
    return timeout_s


async def pay_invoice(
    client: LndClient,
    payment_request: str,
    *,
    amount_msat: int | None,
    fee_limit: int,
    timeout_s: int,
) -> AsyncIterator[m.Payment]:
    """SendPaymentV2 for a payment request; yields every update until the final one."""
    pr = clean_payment_request(payment_request)
    if amount_msat is not None and amount_msat <= 0:
        raise BadInput("The amount must be positive.", field="amountMsat")
    req = router.SendPaymentRequest(
        payment_request=pr,
        amt_msat=amount_msat or 0,
        fee_limit_msat=fee_limit,
        timeout_seconds=_timeout(timeout_s),
        no_inflight_updates=False,
    )
    async for p in client.stream("SendPaymentV2", req, field="paymentRequest"):
        yield payment_from(p)


def keysend_request(
    destination: str, amount_msat: int, *, fee_limit: int, timeout_s: int, preimage: bytes | None = None
) -> tuple[Any, str]:
    """A spontaneous payment: our preimage in the keysend record, its hash as the payment hash."""
    if not _PUBKEY.match(destination or ""):
        raise BadInput("The destination is a node public key (66 hex digits).", field="destination")
    if amount_msat <= 0:
        raise BadInput("The amount must be positive.", field="amountMsat")
    pre = preimage or secrets.token_bytes(32)
    payment_hash = hashlib.sha256(pre).digest()
    req = router.SendPaymentRequest(
        dest=bytes.fromhex(destination),
        amt_msat=amount_msat,
        payment_hash=payment_hash,
        dest_custom_records={KEYSEND_RECORD: pre},
        fee_limit_msat=fee_limit,
        timeout_seconds=_timeout(timeout_s),
        final_cltv_delta=40,
    )
    return req, payment_hash.hex()


async def keysend(client: LndClient, request: Any) -> AsyncIterator[m.Payment]:
    async for p in client.stream("SendPaymentV2", request, field="destination"):
        yield payment_from(p)


async def track_payment(client: LndClient, payment_hash: str) -> AsyncIterator[m.Payment]:
    """TrackPaymentV2: the payment's current state, then its updates until final."""
    if not _HASH.match(payment_hash or ""):
        raise BadInput("A payment hash is 64 hex digits.", field="paymentHash")
    req = router.TrackPaymentRequest(payment_hash=bytes.fromhex(payment_hash), no_inflight_updates=False)
    async for p in client.stream("TrackPaymentV2", req, field="paymentHash"):
        yield payment_from(p)
