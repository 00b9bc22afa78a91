"""devlnd's payments: DecodePayReq, SendPaymentV2 / TrackPaymentV2 streams, keysend, as LND does them.

A payment goes to a node of the simulated network: a direct channel peer (no fee), or any other
known node through the first-hop channel with the most outbound liquidity (the first hop's fee
policy applies). Like LND's router: no route within the fee limit → ``FAILURE_REASON_NO_ROUTE``;
not enough outbound liquidity in total → ``FAILURE_REASON_INSUFFICIENT_BALANCE``; the payee does
not know the payment hash → an HTLC failed with ``INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS`` and
``FAILURE_REASON_INCORRECT_PAYMENT_DETAILS``; ``fail_route`` makes the next payments' HTLCs fail
with ``TEMPORARY_CHANNEL_FAILURE`` (then ``NO_ROUTE``). LND ≥ 0.18 reports ``INITIATED`` before
the first HTLC; the version string devlnd reports decides.

Invoices issued by the simulated peers (:meth:`PaymentEngine.peer_invoice`) are signed with the
peer's key, so they decode to that peer and the simulation knows their preimages.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc

from app.dev.devlnd import bolt11
from app.dev.devlnd.state import LndError
from app.lightning import newer
from app.lightning.proto import ln

if TYPE_CHECKING:
    from app.dev.devlnd.state import NodeState, SimChannel

KEYSEND_RECORD = 5482373484
FEATURE_NAMES = {
    8: "tlv-onion",
    9: "tlv-onion",
    14: "payment-addr",
    15: "payment-addr",
    16: "multi-path",
    17: "multi-path",
}
_STATUS = ln.Payment.PaymentStatus.Value
_REASON = ln.PaymentFailureReason.Value
_HTLC = ln.HTLCAttempt.HTLCStatus.Value


class AlreadyExists(LndError):
    """Answered with gRPC ``ALREADY_EXISTS`` like LND's router server does."""

    grpc_code = grpc.StatusCode.ALREADY_EXISTS


class NotFoundError(LndError):
    """Answered with gRPC ``NOT_FOUND``."""

    grpc_code = grpc.StatusCode.NOT_FOUND


def version_at_least(version: str, major: int, minor: int) -> bool:
    try:
        parts = version.split("-")[0].split(".")
        return (int(parts[0]), int(parts[1])) >= (major, minor)
    except (ValueError, IndexError):
        return True


@dataclass
class _Tracked:
    payment: Any  # ln.Payment, updated in place
    queues: set[asyncio.Queue[Any]] = field(default_factory=set)


class PaymentEngine:
    def __init__(self, state: NodeState) -> None:
        self.s = state
        self.fail_route = False
        self.hop_delay_s = 0.05  # simulated time an HTLC takes to settle or fail
        self.preimages: dict[bytes, bytes] = {}  # payment hash -> preimage, for invoices of simulated peers
        self.tracked: dict[str, _Tracked] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- invoices of other nodes -----------------------------------------------------------------

    def peer_invoice(self, pubkey: str, amount_msat: int, memo: str = "", expiry: int = 3600) -> str:
        """A payment request issued by a simulated node (signed with its key)."""
        peer = self.s.directory.get(pubkey) or next((p for p in self.s.directory.values() if p.alias == pubkey), None)
        if peer is None:
            raise LndError(f"unknown node {pubkey}")
        preimage = self.s.rng.randbytes(32)
        r_hash = hashlib.sha256(preimage).digest()
        self.preimages[r_hash] = preimage
        return bolt11.encode(
            self.s.network,
            amount_msat,
            int(time.time()),
            r_hash,
            memo,
            expiry,
            self.s.rng.randbytes(32),
            node_secret=peer.secret,
        )

    # -- DecodePayReq ----------------------------------------------------------------------------

    def _decode(self, text: str) -> bolt11.Invoice:
        try:
            inv = bolt11.decode(text)
        except bolt11.InvoiceError as exc:
            raise LndError(str(exc)) from None
        if inv.network != self.s.network:
            raise LndError(f"invoice not for current active network '{self.s.network}'")
        return inv

    def decode_pay_req(self, text: str) -> Any:
        inv = self._decode(text)
        return ln.PayReq(
            destination=inv.payee,
            payment_hash=inv.payment_hash.hex(),
            num_satoshis=inv.amount_msat // 1000,
            timestamp=inv.timestamp,
            expiry=inv.expiry,
            description=inv.description,
            description_hash=inv.description_hash.hex(),
            fallback_addr=inv.fallback_address,
            cltv_expiry=inv.min_final_cltv_expiry,
            route_hints=[
                ln.RouteHint(
                    hop_hints=[
                        ln.HopHint(
                            node_id=h.node_id,
                            chan_id=h.chan_id,
                            fee_base_msat=h.fee_base_msat,
                            fee_proportional_millionths=h.fee_proportional_millionths,
                            cltv_expiry_delta=h.cltv_expiry_delta,
                        )
                        for h in route
                    ]
                )
                for route in inv.route_hints
            ],
            payment_addr=inv.payment_secret,
            num_msat=inv.amount_msat,
            features={
                b: ln.Feature(name=FEATURE_NAMES.get(b, "unknown"), is_required=b % 2 == 0, is_known=b in FEATURE_NAMES)
                for b in inv.features
            },
        )

    # -- SendPaymentV2 ---------------------------------------------------------------------------

    def start(self, req: Any) -> str:
        """Validate like LND's ``extractIntentFromSendRequest``, record the payment, start it."""
        preimage: bytes | None = None
        pay_req = ""
        if req.payment_request:
            if req.dest:
                raise LndError("dest and payment_request cannot appear together")
            if req.payment_hash:
                raise LndError("payment_hash and payment_request cannot appear together")
            if req.final_cltv_delta:
                raise LndError("final_cltv_delta and payment_request cannot appear together")
            inv = self._decode(req.payment_request)
            valid_until = inv.timestamp + inv.expiry
            if time.time() > valid_until:
                raise LndError(
                    "invoice expired. Valid until "
                    + time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(valid_until))
                )
            if not inv.payment_secret:
                raise LndError("payment request must contain either a payment address or blinded paths")
            req_amt = req.amt_msat or req.amt * 1000
            if inv.amount_msat == 0:
                if req_amt == 0:
                    raise LndError("amount must be specified when paying a zero amount invoice")
                amount = req_amt
            else:
                if req_amt:
                    raise LndError("amount must not be specified when paying a non-zero amount invoice")
                amount = inv.amount_msat
            dest, payment_hash, pay_req = inv.payee, inv.payment_hash, req.payment_request
        else:
            dest_b = bytes(req.dest)
            if len(dest_b) != 33:
                raise LndError(f"invalid vertex length of {len(dest_b)}")
            dest = dest_b.hex()
            amount = req.amt_msat or req.amt * 1000
            if amount == 0:
                raise LndError("amount must be specified")
            preimage = req.dest_custom_records.get(KEYSEND_RECORD)
            payment_hash = bytes(req.payment_hash)
            if len(payment_hash) != 32:
                raise LndError("invalid payment hash length")
        if dest == self.s.pubkey and not req.allow_self_payment:
            raise LndError("self-payments not allowed")
        key = payment_hash.hex()
        old = self.tracked.get(key)
        if old is not None:
            if old.payment.status == _STATUS("SUCCEEDED"):
                raise AlreadyExists("invoice is already paid")
            if old.payment.status in (_STATUS("IN_FLIGHT"), newer.PAYMENT_STATUS_INITIATED):
                raise AlreadyExists("payment is in transition")
            self.s.payments.remove(old.payment)
        now = time.time()
        # LND >= 0.18 reports INITIATED first (a value newer than the vendored enum: sent by number).
        initiated = version_at_least(self.s.version, 0, 18)
        p = ln.Payment(
            payment_hash=key,
            value=amount // 1000,
            value_sat=amount // 1000,
            value_msat=amount,
            creation_date=int(now),
            creation_time_ns=int(now * 1e9),
            payment_preimage="0" * 64,
            payment_request=pay_req,
            status=newer.PAYMENT_STATUS_INITIATED if initiated else _STATUS("IN_FLIGHT"),
            payment_index=max((q.payment_index for q in self.s.payments), default=0) + 1,
            failure_reason=_REASON("FAILURE_REASON_NONE"),
        )
        self.s.payments.append(p)
        tracked = self.tracked[key] = _Tracked(p)
        fee_limit = req.fee_limit_msat or req.fee_limit_sat * 1000
        task = asyncio.get_running_loop().create_task(
            self._run(tracked, dest, amount, fee_limit, preimage, max(1, req.timeout_seconds or 60))
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return key

    def _route(self, dest: str, amount_msat: int, fee_limit_msat: int) -> tuple[SimChannel | None, int, str]:
        """(first-hop channel, fee msat, failure reason if none)."""
        active = [c for c in self.s.open_channels() if c.active]
        need = -(-amount_msat // 1000)
        if sum(c.local_balance for c in active) < need:
            return None, 0, "FAILURE_REASON_INSUFFICIENT_BALANCE"
        direct = [c for c in active if c.remote_pubkey == dest and c.local_balance >= need]
        if direct:
            return max(direct, key=lambda c: c.local_balance), 0, ""
        known = dest in self.s.directory or dest in getattr(self.s, "graph_nodes", {})
        if not known:
            return None, 0, "FAILURE_REASON_NO_ROUTE"
        best: tuple[SimChannel, int] | None = None
        for c in active:
            pol = c.remote_policy
            fee = pol.base_fee_msat + amount_msat * pol.fee_rate_ppm // 1_000_000
            fits = c.local_balance * 1000 >= amount_msat + fee and fee <= fee_limit_msat
            if fits and (best is None or fee < best[1]):
                best = (c, fee)
        if best is None:
            return None, 0, "FAILURE_REASON_NO_ROUTE"
        return best[0], best[1], ""

    def _publish(self, t: _Tracked) -> None:
        snap = ln.Payment()
        snap.CopyFrom(t.payment)
        for q in list(t.queues):
            q.put_nowait(snap)

    def _fail(self, t: _Tracked, reason: str) -> None:
        t.payment.status = _STATUS("FAILED")
        t.payment.failure_reason = _REASON(reason)
        self._publish(t)

    async def _run(
        self, t: _Tracked, dest: str, amount: int, fee_limit: int, keysend_preimage: bytes | None, timeout_s: int
    ) -> None:
        p = t.payment
        await asyncio.sleep(0)  # the caller subscribes first
        self._publish(t)
        deadline = time.monotonic() + timeout_s
        attempt_id = 0
        while True:
            chan, fee, reason = self._route(dest, amount, fee_limit)
            if chan is None:
                self._fail(t, reason)
                return
            attempt_id += 1
            hops = [ln.Hop(chan_id=chan.chan_id, pub_key=chan.remote_pubkey, amt_to_forward_msat=amount, fee_msat=fee)]
            if chan.remote_pubkey != dest:
                hops.append(ln.Hop(chan_id=self.s.rng.getrandbits(48) << 16, pub_key=dest, amt_to_forward_msat=amount))
            htlc = p.htlcs.add(
                attempt_id=attempt_id,
                status=_HTLC("IN_FLIGHT"),
                route=ln.Route(
                    total_amt_msat=amount + fee,
                    total_fees_msat=fee,
                    total_amt=(amount + fee) // 1000,
                    total_fees=fee // 1000,
                    hops=hops,
                ),
                attempt_time_ns=time.time_ns(),
            )
            p.status = _STATUS("IN_FLIGHT")
            self._publish(t)
            await asyncio.sleep(self.hop_delay_s)
            htlc.resolve_time_ns = time.time_ns()
            h = bytes.fromhex(p.payment_hash)
            preimage = keysend_preimage if keysend_preimage is not None else self.preimages.get(h)
            if self.fail_route:
                htlc.status = _HTLC("FAILED")
                htlc.failure.CopyFrom(
                    ln.Failure(code=ln.Failure.FailureCode.Value("TEMPORARY_CHANNEL_FAILURE"), failure_source_index=1)
                )
                self._publish(t)
                if attempt_id >= 2 or time.monotonic() >= deadline:
                    late = time.monotonic() >= deadline
                    self._fail(t, "FAILURE_REASON_TIMEOUT" if late else "FAILURE_REASON_NO_ROUTE")
                    return
                continue
            if preimage is None or hashlib.sha256(preimage).digest() != h:
                htlc.status = _HTLC("FAILED")
                htlc.failure.CopyFrom(
                    ln.Failure(
                        code=ln.Failure.FailureCode.Value("INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS"),
                        failure_source_index=len(hops),
                    )
                )
                self._fail(t, "FAILURE_REASON_INCORRECT_PAYMENT_DETAILS")
                return
            cost = -(-(amount + fee) // 1000)
            chan.local_balance -= cost
            chan.remote_balance += cost
            chan.total_sent += cost
            htlc.status = _HTLC("SUCCEEDED")
            htlc.preimage = preimage
            p.status = _STATUS("SUCCEEDED")
            p.payment_preimage = preimage.hex()
            p.fee_msat, p.fee_sat, p.fee = fee, fee // 1000, fee // 1000
            self._publish(t)
            return

    async def updates(self, payment_hash: str, *, include_current: bool) -> AsyncIterator[Any]:
        """Snapshots of one payment until it is final (TrackPaymentV2 starts with the current one)."""
        t = self.tracked.get(payment_hash)
        if t is None:
            p = next((q for q in self.s.payments if q.payment_hash == payment_hash), None)
            if p is None:
                raise NotFoundError("payment isn't initiated")
            yield p
            return
        q: asyncio.Queue[Any] = asyncio.Queue()
        t.queues.add(q)
        try:
            if include_current:
                snap = ln.Payment()
                snap.CopyFrom(t.payment)
                if snap.status in (_STATUS("SUCCEEDED"), _STATUS("FAILED")):
                    yield snap
                    return
                yield snap
            while True:
                snap = await q.get()
                yield snap
                if snap.status in (_STATUS("SUCCEEDED"), _STATUS("FAILED")):
                    return
        finally:
            t.queues.discard(q)

    def subscribe_new(self, payment_hash: str) -> asyncio.Queue[Any]:
        q: asyncio.Queue[Any] = asyncio.Queue()
        self.tracked[payment_hash].queues.add(q)
        return q

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
