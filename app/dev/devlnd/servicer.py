"""LND's ``lnrpc.Lightning`` service (the part MyBitcoinFuture uses) over the simulated node.

Subclasses the generated ``LightningServicer`` (app/lightning/proto.py); RPCs not implemented here answer
``UNIMPLEMENTED`` like any unknown method. Every RPC first checks the macaroon the way LND does
(HMAC chain against the root key, first-party caveats, then the method's required permissions)
and fails with LND's messages as gRPC ``UNKNOWN`` (LND returns plain Go errors).
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import grpc

from app.dev.devlnd import backups
from app.dev.devlnd.state import LndError, _txid_bytes
from app.lightning import macaroon as mac
from app.lightning.permissions import missing_for
from app.lightning.proto import ln, lnrpc, routerrpc

if TYPE_CHECKING:
    from app.dev.devlnd.node import DevLnd

_HEX = re.compile(r"^[0-9a-fA-F]*$")


def _unary(name: str) -> Callable[..., Any]:
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def handler(self: DevLndServicer, request: Any, context: grpc.aio.ServicerContext) -> Any:
            await self.authorize(context, name)
            try:
                result = fn(self, request, context)
                if asyncio.iscoroutine(result):
                    result = await result
                return result
            except LndError as exc:
                await context.abort(getattr(exc, "grpc_code", grpc.StatusCode.UNKNOWN), str(exc))

        return handler

    return deco


def _stream(name: str) -> Callable[..., Any]:
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def handler(self: DevLndServicer, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            await self.authorize(context, name)
            try:
                async for item in fn(self, request, context):
                    yield item
            except LndError as exc:
                await context.abort(getattr(exc, "grpc_code", grpc.StatusCode.UNKNOWN), str(exc))

        return handler

    return deco


class DevLndServicer(lnrpc.LightningServicer):
    def __init__(self, node: DevLnd) -> None:
        self.node = node
        self.state = node.state

    # -- macaroon checks like LND's rpcperms interceptor ---------------------------------------

    async def authorize(self, context: grpc.aio.ServicerContext, method: str) -> None:
        self.node.calls[method] += 1
        if self.node.starting:
            await context.abort(grpc.StatusCode.UNKNOWN, "waiting to start, RPC services not available")
        if self.node.latency_s:
            await asyncio.sleep(self.node.latency_s)
        values = [v for k, v in context.invocation_metadata() or () if k == "macaroon"]
        if len(values) != 1:
            await context.abort(grpc.StatusCode.UNKNOWN, f"expected 1 macaroon, got {len(values)}")
        text = values[0] if isinstance(values[0], str) else values[0].decode()
        if not _HEX.match(text) or len(text) % 2:
            bad = next((ch for ch in text if ch not in "0123456789abcdefABCDEF"), None)
            msg = (
                f"encoding/hex: invalid byte: U+{ord(bad):04X} {bad!r}"
                if bad
                else "encoding/hex: odd length hex string"
            )
            await context.abort(grpc.StatusCode.UNKNOWN, msg)
        try:
            m = mac.decode(bytes.fromhex(text))
            mid = m.id
        except mac.MacaroonError as exc:
            await context.abort(grpc.StatusCode.UNKNOWN, f"unable to unmarshal macaroon: {exc}")
            return
        root = self.node.root_keys.get(mid.storage_id)
        if root is None:
            await context.abort(
                grpc.StatusCode.UNKNOWN,
                f"cannot get macaroon: root key with id {mid.storage_id.decode(errors='replace')} doesn't exist",
            )
            return
        if not mac.verify_signature(m, root):
            await context.abort(
                grpc.StatusCode.UNKNOWN, "verification failed: signature mismatch after caveat verification"
            )
        for cav in m.caveats:
            cond = cav.condition
            if cond.startswith("time-before "):
                try:
                    deadline = datetime.fromisoformat(cond.split(" ", 1)[1].replace("Z", "+00:00"))
                except ValueError:
                    deadline = datetime.min.replace(tzinfo=UTC)
                if datetime.now(UTC) >= deadline:
                    await context.abort(grpc.StatusCode.UNKNOWN, "verification failed: macaroon has expired")
            else:
                await context.abort(
                    grpc.StatusCode.UNKNOWN,
                    f'verification failed: caveat "{cond}" not satisfied: caveat not recognized',
                )
        if missing_for(method, m.permissions):
            await context.abort(grpc.StatusCode.UNKNOWN, "permission denied")

    # -- node ------------------------------------------------------------------------------

    @_unary("GetInfo")
    def GetInfo(self, request: Any, context: Any) -> Any:
        return self.state.get_info(self.node.host, self.node.port)

    @_unary("GetNodeInfo")
    def GetNodeInfo(self, request: Any, context: Any) -> Any:
        return self.state.node_info(request.pub_key)

    @_unary("DescribeGraph")
    def DescribeGraph(self, request: Any, context: Any) -> Any:
        return self.state.describe_graph()

    @_unary("GetChanInfo")
    def GetChanInfo(self, request: Any, context: Any) -> Any:
        return self.state.chan_info(request.chan_id)

    @_unary("WalletBalance")
    def WalletBalance(self, request: Any, context: Any) -> Any:
        return self.state.wallet_balance()

    @_unary("ChannelBalance")
    def ChannelBalance(self, request: Any, context: Any) -> Any:
        return self.state.channel_balance()

    @_unary("ListChannels")
    def ListChannels(self, request: Any, context: Any) -> Any:
        if not self.node.alias_lookup:  # LND before 0.16 has no peer_alias_lookup
            request.peer_alias_lookup = False
        return self.state.list_channels(request)

    @_unary("PendingChannels")
    def PendingChannels(self, request: Any, context: Any) -> Any:
        return self.state.pending_channels()

    @_unary("ClosedChannels")
    def ClosedChannels(self, request: Any, context: Any) -> Any:
        return self.state.closed_channels(request)

    @_unary("ForwardingHistory")
    def ForwardingHistory(self, request: Any, context: Any) -> Any:
        return self.state.forwarding_history(request)

    @_unary("FeeReport")
    def FeeReport(self, request: Any, context: Any) -> Any:
        return self.state.fee_report()

    @_unary("ListPeers")
    def ListPeers(self, request: Any, context: Any) -> Any:
        return self.state.list_peers()

    @_unary("ConnectPeer")
    def ConnectPeer(self, request: Any, context: Any) -> Any:
        self.state.connect_peer(request.addr.pubkey, request.addr.host)
        return ln.ConnectPeerResponse()

    @_unary("ListInvoices")
    def ListInvoices(self, request: Any, context: Any) -> Any:
        return self.state.list_invoices(request)

    @_unary("LookupInvoice")
    def LookupInvoice(self, request: Any, context: Any) -> Any:
        r_hash = request.r_hash or (bytes.fromhex(request.r_hash_str) if request.r_hash_str else b"")
        return self.state.lookup_invoice(r_hash)

    @_unary("AddInvoice")
    def AddInvoice(self, request: Any, context: Any) -> Any:
        added = self.state.add_invoice(request)
        self.node.invoice_added(bytes(added.r_hash))
        return added

    @_unary("ListPayments")
    def ListPayments(self, request: Any, context: Any) -> Any:
        return self.state.list_payments(request)

    @_unary("DecodePayReq")
    def DecodePayReq(self, request: Any, context: Any) -> Any:
        return self.node.payments.decode_pay_req(request.pay_req)

    @_unary("ExportAllChannelBackups")
    def ExportAllChannelBackups(self, request: Any, context: Any) -> Any:
        return backups.snapshot(self.state)

    @_unary("VerifyChanBackup")
    def VerifyChanBackup(self, request: Any, context: Any) -> Any:
        return backups.verify(self.state, request)

    @_unary("BakeMacaroon")
    def BakeMacaroon(self, request: Any, context: Any) -> Any:
        return ln.BakeMacaroonResponse(macaroon=self.node.bake_macaroon(request))

    @_unary("UpdateChannelPolicy")
    def UpdateChannelPolicy(self, request: Any, context: Any) -> Any:
        return self.state.update_policy(request)

    @_unary("OpenChannelSync")
    def OpenChannelSync(self, request: Any, context: Any) -> Any:
        ch = self.state.open_channel(request)
        return ch.point_pb()

    @_stream("OpenChannel")
    async def OpenChannel(self, request: Any, context: Any) -> AsyncIterator[Any]:
        ch = self.state.open_channel(request)
        q = self.state.wait_open(ch)
        yield ln.OpenStatusUpdate(
            chan_pending=ln.PendingUpdate(txid=_txid_bytes(ch.funding_txid), output_index=ch.output_index),
            pending_chan_id=self.state.rng.randbytes(32),
        )
        yield await q.get()

    @_stream("CloseChannel")
    async def CloseChannel(self, request: Any, context: Any) -> AsyncIterator[Any]:
        ch, q = self.state.close_channel(request)
        yield ln.CloseStatusUpdate(close_pending=ln.PendingUpdate(txid=_txid_bytes(ch.closing_txid), output_index=0))
        yield await q.get()

    # -- subscriptions -------------------------------------------------------------------------

    async def _listen(self, kind: str, context: Any, replay: list[Any] | None = None) -> AsyncIterator[Any]:
        q: asyncio.Queue[Any] = asyncio.Queue()
        self.state.listeners[kind].add(q)
        try:
            await context.send_initial_metadata(())
            for item in replay or []:
                yield item
            while True:
                yield await q.get()
        finally:
            self.state.listeners[kind].discard(q)

    @_stream("SubscribeChannelEvents")
    async def SubscribeChannelEvents(self, request: Any, context: Any) -> AsyncIterator[Any]:
        async for item in self._listen("channel", context):
            yield item

    @_stream("SubscribeInvoices")
    async def SubscribeInvoices(self, request: Any, context: Any) -> AsyncIterator[Any]:
        replay = []
        if request.add_index:
            replay += [i for i in self.state.invoices if i.add_index > request.add_index]
        if request.settle_index:
            replay += sorted(
                (i for i in self.state.invoices if i.settle_index > request.settle_index), key=lambda i: i.settle_index
            )
        async for item in self._listen("invoice", context, replay):
            yield item

    @_stream("SubscribeChannelBackups")
    async def SubscribeChannelBackups(self, request: Any, context: Any) -> AsyncIterator[Any]:
        """A new snapshot whenever the set of backed-up channels changes (opened, confirmed, closed)."""
        changed = {
            ln.ChannelEventUpdate.UpdateType.Value(k)
            for k in ("PENDING_OPEN_CHANNEL", "OPEN_CHANNEL", "CLOSED_CHANNEL", "FULLY_RESOLVED_CHANNEL")
        }
        async for ev in self._listen("channel", context):
            if ev.type in changed:
                yield backups.snapshot(self.state)

    @_stream("SubscribeTransactions")
    async def SubscribeTransactions(self, request: Any, context: Any) -> AsyncIterator[Any]:
        async for item in self._listen("tx", context):
            yield item


class DevRouterServicer(routerrpc.RouterServicer):
    """``routerrpc.Router``: SendPaymentV2 and TrackPaymentV2 over devlnd's payment engine."""

    def __init__(self, main: DevLndServicer) -> None:
        self.main = main
        self.engine = main.node.payments

    async def authorize(self, context: grpc.aio.ServicerContext, method: str) -> None:
        await self.main.authorize(context, method)

    @_stream("SendPaymentV2")
    async def SendPaymentV2(self, request: Any, context: Any) -> AsyncIterator[Any]:
        key = self.engine.start(request)
        q = self.engine.subscribe_new(key)
        await context.send_initial_metadata(())
        while True:
            snap = await q.get()
            yield snap
            if snap.status in (ln.Payment.PaymentStatus.Value("SUCCEEDED"), ln.Payment.PaymentStatus.Value("FAILED")):
                return

    @_stream("TrackPaymentV2")
    async def TrackPaymentV2(self, request: Any, context: Any) -> AsyncIterator[Any]:
        async for snap in self.engine.updates(bytes(request.payment_hash).hex(), include_current=True):
            yield snap
