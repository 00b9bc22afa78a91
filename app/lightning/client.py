"""An LND client over ``grpc.aio`` with LND's own message definitions.

One long-lived TLS channel per node (the node's certificate as the only trust root) with the
macaroon sent as the ``macaroon`` metadata header on every call. Unary calls carry a deadline;
streams do not. Every gRPC failure leaves as an :mod:`app.errors` domain error (see
:mod:`app.lightning.errors`). Before a call, the macaroon's decoded permissions are checked
locally, so a read-only macaroon asked to open a channel fails with ``Forbidden`` naming the
missing permission without a round trip.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import grpc
from cryptography import x509

from app.errors import BadInput, DomainError, Forbidden, UpstreamUnavailable
from app.lightning import macaroon as mac
from app.lightning import models as m
from app.lightning import newer
from app.lightning.errors import describe_missing, map_rpc_error
from app.lightning.permissions import ROUTER_METHODS, Capabilities, capabilities_from, missing_for
from app.lightning.proto import ln, lnrpc, routerrpc
from app.lightning.validation import validate_host, validate_macaroon, validate_port, validate_tls_cert
from app.observability.metrics import lnd_call

_TXID = re.compile(r"^[0-9a-fA-F]{64}$")
_PUBKEY = re.compile(r"^0[23][0-9a-fA-F]{64}$")
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
OnOpen = Callable[[], Awaitable[None]]


def target_name_override(cert_pem: bytes, host: str) -> str | None:
    """The name to verify the node's certificate against when ``host`` is not in it.

    LND's self-signed ``tls.cert`` lists ``localhost``, the machine's names and IPs; users often
    reach the node by another address (NAT, Docker, a VPN). When the given certificate is
    self-signed (it is then the only trusted root, so only the node holding its key can complete
    the handshake), we verify against a name the certificate does list instead of failing.
    CA-issued certificates are verified against ``host`` as usual.
    """
    try:
        leaf = x509.load_pem_x509_certificates(cert_pem)[0]
        if leaf.issuer != leaf.subject:
            return None
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return None
    names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    ips = [str(i) for i in san.get_values_for_type(x509.IPAddress)]
    if host in ips or any(fnmatch.fnmatch(host, n.lower()) for n in names):
        return None
    return names[0] if names else (ips[0] if ips else None)


class _MacaroonAuth(grpc.AuthMetadataPlugin):
    def __init__(self, macaroon_hex: str) -> None:
        self._md = (("macaroon", macaroon_hex),)

    def __call__(self, context: grpc.AuthMetadataContext, callback: grpc.AuthMetadataPluginCallback) -> None:
        callback(self._md, None)


def _ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _ns(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


_NEWER_PAYMENT_STATUSES = {newer.PAYMENT_STATUS_INITIATED: "INITIATED"}
"""``lnrpc.Payment.PaymentStatus`` values of newer LND releases than the vendored definitions."""


def payment_from(p: Any) -> m.Payment:
    """``lnrpc.Payment`` -> :class:`m.Payment` (LND >= 0.18 adds the INITIATED status; kept as is)."""
    htlcs = list(p.htlcs)
    failed = [h for h in htlcs if h.HasField("failure") and h.failure.code]
    settled = next((h for h in htlcs if h.status == ln.HTLCAttempt.HTLCStatus.Value("SUCCEEDED")), None)
    try:
        status = ln.Payment.PaymentStatus.Name(p.status)
    except ValueError:  # LND >= 0.18's INITIATED (4) is newer than the vendored definitions
        status = _NEWER_PAYMENT_STATUSES.get(p.status, "UNKNOWN")
    try:
        reason = ln.PaymentFailureReason.Name(p.failure_reason)
    except ValueError:
        reason = f"FAILURE_REASON_{p.failure_reason}"
    preimage = p.payment_preimage if p.payment_preimage.strip("0") else ""
    return m.Payment(
        payment_hash=p.payment_hash,
        value_msat=p.value_msat,
        fee_msat=p.fee_msat,
        status=status,
        created_at=_ns(p.creation_time_ns) if p.creation_time_ns else _ts(p.creation_date),
        payment_request=p.payment_request,
        payment_preimage=preimage,
        payment_index=p.payment_index,
        failure_reason=reason,
        attempts=len(htlcs),
        last_htlc_failure=ln.Failure.FailureCode.Name(failed[-1].failure.code) if failed else "",
        hops=len(settled.route.hops) if settled else 0,
    )


def parse_channel_point(text: str, *, field: str = "channelPoint") -> Any:
    """``<funding txid>:<output index>`` -> ``lnrpc.ChannelPoint``."""
    txid, sep, idx = (text or "").strip().partition(":")
    if not sep or not _TXID.match(txid) or not idx.isdigit() or int(idx) > 0xFFFFFFFF:
        raise BadInput(f"'{text}' is not a channel point; expected <funding txid>:<output index>.", field=field)
    return ln.ChannelPoint(funding_txid_str=txid.lower(), output_index=int(idx))


def channel_point_str(cp: Any) -> str:
    if cp.WhichOneof("funding_txid") == "funding_txid_bytes":
        txid = bytes(reversed(cp.funding_txid_bytes)).hex()
    else:
        txid = cp.funding_txid_str
    return f"{txid}:{cp.output_index}"


def parse_peer(address: str, *, field: str = "peer") -> tuple[str, str | None]:
    """``pubkey@host:port`` (or just ``pubkey`` for a peer already connected)."""
    pub, _, host = (address or "").strip().partition("@")
    if not _PUBKEY.match(pub):
        raise BadInput(
            f"'{address}' does not start with a node public key (66 hex digits).",
            field=field,
            hint="Use pubkey@host:port",
        )
    if host:
        h, sep, port = host.rpartition(":")
        if not sep:
            h, port = host, "9735"
        try:
            validate_host(h, field=field)
            validate_port(int(port), field=field)
        except ValueError:
            raise BadInput(f"'{host}' is not host:port.", field=field) from None
        return pub.lower(), f"{h}:{port}"
    return pub.lower(), None


class LndClient:
    """Access to one LND node. Create inside the event loop that will use it; ``await close()``."""

    def __init__(
        self,
        host: str,
        port: int,
        tls_cert_pem: str | bytes,
        macaroon_hex: str,
        *,
        timeout_s: float = 10.0,
        min_reconnect_backoff_s: float = 0.5,
        max_reconnect_backoff_s: float = 10.0,
    ) -> None:
        self.host = validate_host(host)
        self.port = validate_port(port)
        self._cert = validate_tls_cert(tls_cert_pem)
        self.macaroon = validate_macaroon(macaroon_hex)
        self._macaroon_hex = self.macaroon.hex()
        self.timeout_s = timeout_s
        h = f"[{self.host}]" if ":" in self.host else self.host
        self.target = f"{h}:{self.port}"
        try:
            perms: frozenset[str] | None = self.macaroon.permissions
        except mac.MacaroonError:
            perms = None
        self.permissions = perms
        self.capabilities: Capabilities = capabilities_from(perms or ())
        creds = grpc.composite_channel_credentials(
            grpc.ssl_channel_credentials(root_certificates=self._cert),
            grpc.metadata_call_credentials(_MacaroonAuth(self._macaroon_hex), name="macaroon"),
        )
        override = target_name_override(self._cert, self.host)
        self._channel = grpc.aio.secure_channel(
            self.target,
            creds,
            options=[
                *([("grpc.ssl_target_name_override", override)] if override else []),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.initial_reconnect_backoff_ms", int(min_reconnect_backoff_s * 1000)),
                ("grpc.min_reconnect_backoff_ms", int(min_reconnect_backoff_s * 1000)),
                ("grpc.max_reconnect_backoff_ms", int(max_reconnect_backoff_s * 1000)),
                ("grpc.keepalive_time_ms", 60_000),
                ("grpc.keepalive_timeout_ms", 20_000),
            ],
        )
        self._stub = lnrpc.LightningStub(self._channel)
        self._router = routerrpc.RouterStub(self._channel)
        self._alias_cache: dict[str, str] = {}

    async def close(self) -> None:
        await self._channel.close(grace=None)

    async def __aenter__(self) -> LndClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- plumbing --------------------------------------------------------------------------

    def _stub_for(self, method: str) -> Any:
        return self._router if method in ROUTER_METHODS else self._stub

    def _check(self, method: str) -> None:
        if self.permissions is not None:
            missing = missing_for(method, self.permissions)
            if missing:
                raise Forbidden(describe_missing(method, missing), field="macaroon")

    def _map(self, exc: grpc.RpcError, method: str, field: str | None = None) -> DomainError:
        return map_rpc_error(
            exc, method=method, target=self.target, timeout_s=self.timeout_s, granted=self.permissions, field=field
        )

    async def call(self, method: str, request: Any, *, timeout_s: float | None = None, field: str | None = None) -> Any:
        """One unary RPC by name with a deadline; errors mapped."""
        self._check(method)
        try:
            with lnd_call(method):
                return await getattr(self._stub_for(method), method)(request, timeout=timeout_s or self.timeout_s)
        except grpc.RpcError as exc:
            raise self._map(exc, method, field) from None

    async def stream(
        self, method: str, request: Any, *, field: str | None = None, on_open: OnOpen | None = None
    ) -> AsyncGenerator[Any, None]:
        """A server stream by name (no deadline); errors mapped. Cancelling the iterator cancels the call.

        ``on_open`` is awaited once the request has reached the node (the stream is established).
        """
        self._check(method)
        call = getattr(self._stub_for(method), method)(request)
        try:
            if on_open is not None:
                await call.wait_for_connection()
                await on_open()
            async for item in call:
                yield item
        except grpc.RpcError as exc:
            raise self._map(exc, method, field) from None
        finally:
            call.cancel()

    # -- reads -----------------------------------------------------------------------------

    async def get_info(self) -> m.NodeInfo:
        r = await self.call("GetInfo", ln.GetInfoRequest())
        chain = r.chains[0] if r.chains else None
        return m.NodeInfo(
            pubkey=r.identity_pubkey,
            alias=r.alias,
            version=r.version,
            color=r.color,
            block_height=r.block_height,
            block_hash=r.block_hash,
            synced_to_chain=r.synced_to_chain,
            synced_to_graph=r.synced_to_graph,
            num_peers=r.num_peers,
            num_active_channels=r.num_active_channels,
            num_inactive_channels=r.num_inactive_channels,
            num_pending_channels=r.num_pending_channels,
            network=chain.network if chain else ("testnet" if r.testnet else "mainnet"),
            chain=chain.chain if chain else "bitcoin",
            uris=tuple(r.uris),
        )

    async def node_alias(self, pubkey: str) -> str:
        """The alias from the graph (GetNodeInfo), cached; empty when the node is not in the graph."""
        if pubkey not in self._alias_cache:
            try:
                r = await self.call("GetNodeInfo", ln.NodeInfoRequest(pub_key=pubkey, include_channels=False))
                self._alias_cache[pubkey] = r.node.alias
            except BadInput:
                self._alias_cache[pubkey] = ""
        return self._alias_cache[pubkey]

    async def local_policy(self, chan_id: int, our_pubkey: str) -> m.ChannelPolicy | None:
        try:
            edge = await self.call("GetChanInfo", ln.ChanInfoRequest(chan_id=chan_id))
        except BadInput:
            return None
        pol = edge.node1_policy if edge.node1_pub == our_pubkey else edge.node2_policy
        return m.ChannelPolicy(
            base_fee_msat=pol.fee_base_msat,
            fee_rate_ppm=pol.fee_rate_milli_msat,
            time_lock_delta=pol.time_lock_delta,
            min_htlc_msat=pol.min_htlc,
            max_htlc_msat=pol.max_htlc_msat,
            disabled=pol.disabled,
        )

    def _channel_from(self, c: Any, alias: str, policy: m.ChannelPolicy | None) -> m.Channel:
        return m.Channel(
            channel_point=c.channel_point,
            chan_id=c.chan_id,
            remote_pubkey=c.remote_pubkey,
            peer_alias=alias,
            capacity=c.capacity,
            local_balance=c.local_balance,
            remote_balance=c.remote_balance,
            commit_fee=c.commit_fee,
            active=c.active,
            private=c.private,
            initiator=c.initiator,
            uptime_s=c.uptime,
            lifetime_s=c.lifetime,
            unsettled_balance=c.unsettled_balance,
            total_sent=c.total_satoshis_sent,
            total_received=c.total_satoshis_received,
            local_policy=policy,
        )

    async def list_channels(
        self, *, active: bool | None = None, with_policy: bool = True, our_pubkey: str | None = None
    ) -> list[m.Channel]:
        req = ln.ListChannelsRequest(active_only=active is True, inactive_only=active is False, peer_alias_lookup=True)
        r = await self.call("ListChannels", req)
        chans = list(r.channels)
        for c in chans:
            if not c.peer_alias and c.remote_pubkey not in self._alias_cache:
                await self.node_alias(c.remote_pubkey)
        out = [self._channel_from(c, c.peer_alias or self._alias_cache.get(c.remote_pubkey, ""), None) for c in chans]
        if with_policy and out:
            out = await self.with_policies(out, our_pubkey or (await self.get_info()).pubkey)
        return out

    async def with_policies(self, channels: list[m.Channel], our_pubkey: str) -> list[m.Channel]:
        """The channels with ``local_policy`` filled from GetChanInfo (8 calls at a time)."""
        sem = asyncio.Semaphore(8)

        async def one(c: m.Channel) -> m.Channel:
            async with sem:
                return dataclasses.replace(c, local_policy=await self.local_policy(c.chan_id, our_pubkey))

        return list(await asyncio.gather(*(one(c) for c in channels)))

    async def pending_channels(self) -> list[m.PendingChannel]:
        r = await self.call("PendingChannels", ln.PendingChannelsRequest())
        out: list[m.PendingChannel] = []

        def base(kind: str, ch: Any, **kw: Any) -> m.PendingChannel:
            return m.PendingChannel(
                kind=kind,
                channel_point=ch.channel_point,
                remote_pubkey=ch.remote_node_pub,
                capacity=ch.capacity,
                local_balance=ch.local_balance,
                remote_balance=ch.remote_balance,
                private=ch.private,
                **kw,
            )

        for p in r.pending_open_channels:
            out.append(base("OPENING", p.channel, commit_fee=p.commit_fee))
        for w in r.waiting_close_channels:
            out.append(base("CLOSING", w.channel, closing_txid=w.closing_txid or None, limbo_balance=w.limbo_balance))
        for c in r.pending_closing_channels:
            out.append(base("CLOSING", c.channel, closing_txid=c.closing_txid or None))
        for f in r.pending_force_closing_channels:
            out.append(
                base(
                    "FORCE_CLOSING",
                    f.channel,
                    closing_txid=f.closing_txid or None,
                    limbo_balance=f.limbo_balance,
                    maturity_height=f.maturity_height,
                    blocks_til_maturity=f.blocks_til_maturity,
                )
            )
        return out

    @staticmethod
    def _closed_from(c: Any) -> m.ClosedChannel:
        return m.ClosedChannel(
            channel_point=c.channel_point,
            chan_id=c.chan_id,
            remote_pubkey=c.remote_pubkey,
            capacity=c.capacity,
            settled_balance=c.settled_balance,
            time_locked_balance=c.time_locked_balance,
            close_height=c.close_height,
            closing_txid=c.closing_tx_hash,
            close_type=ln.ChannelCloseSummary.ClosureType.Name(c.close_type),
            open_initiator=ln.Initiator.Name(c.open_initiator),
            close_initiator=ln.Initiator.Name(c.close_initiator),
        )

    async def closed_channels(self) -> list[m.ClosedChannel]:
        r = await self.call("ClosedChannels", ln.ClosedChannelsRequest())
        return [self._closed_from(c) for c in r.channels]

    async def balance(self) -> m.NodeBalance:
        w, c = await asyncio.gather(
            self.call("WalletBalance", ln.WalletBalanceRequest()),
            self.call("ChannelBalance", ln.ChannelBalanceRequest()),
        )
        return m.NodeBalance(
            onchain_confirmed=w.confirmed_balance,
            onchain_unconfirmed=w.unconfirmed_balance,
            onchain_total=w.total_balance,
            onchain_locked=w.locked_balance,
            channel_local=c.local_balance.sat,
            channel_remote=c.remote_balance.sat,
            channel_pending_open_local=c.pending_open_local_balance.sat,
            channel_unsettled_local=c.unsettled_local_balance.sat,
        )

    async def forwarding_history(
        self, start: datetime, end: datetime, *, page_size: int = 10_000, max_events: int = 200_000
    ) -> m.ForwardingSummary:
        """Every forward in ``[start, end)``, paged through LND's index offset, with totals."""
        if end <= start:
            raise BadInput("The period must end after it starts.", field="to")
        events: list[m.Forward] = []
        offset = 0
        while True:
            r = await self.call(
                "ForwardingHistory",
                ln.ForwardingHistoryRequest(
                    start_time=int(start.timestamp()),
                    end_time=int(end.timestamp()),
                    index_offset=offset,
                    num_max_events=page_size,
                    peer_alias_lookup=True,
                ),
            )
            for e in r.forwarding_events:
                events.append(
                    m.Forward(
                        at=_ns(e.timestamp_ns) if e.timestamp_ns else _ts(e.timestamp),
                        chan_id_in=e.chan_id_in,
                        chan_id_out=e.chan_id_out,
                        amt_in_msat=e.amt_in_msat or e.amt_in * 1000,
                        amt_out_msat=e.amt_out_msat or e.amt_out * 1000,
                        fee_msat=e.fee_msat or e.fee * 1000,
                        peer_alias_in=e.peer_alias_in,
                        peer_alias_out=e.peer_alias_out,
                    )
                )
            if len(r.forwarding_events) < page_size or len(events) >= max_events:
                break
            offset = r.last_offset_index
        stats: dict[int, dict[str, int]] = {}
        aliases: dict[int, str] = {}
        for f in events:
            aliases.setdefault(f.chan_id_in, f.peer_alias_in)
            aliases.setdefault(f.chan_id_out, f.peer_alias_out)
            i = stats.setdefault(f.chan_id_in, {"fee": 0, "vin": 0, "vout": 0, "cin": 0, "cout": 0})
            i["vin"] += f.amt_in_msat
            i["cin"] += 1
            o = stats.setdefault(f.chan_id_out, {"fee": 0, "vin": 0, "vout": 0, "cin": 0, "cout": 0})
            o["vout"] += f.amt_out_msat
            o["cout"] += 1
            o["fee"] += f.fee_msat  # the fee is earned on the outgoing channel
        per = tuple(
            m.ChannelForwardingStats(
                chan_id=cid,
                peer_alias=aliases.get(cid, ""),
                fee_msat=s["fee"],
                volume_in_msat=s["vin"],
                volume_out_msat=s["vout"],
                count_in=s["cin"],
                count_out=s["cout"],
            )
            for cid, s in sorted(stats.items(), key=lambda kv: -kv[1]["fee"])
        )
        return m.ForwardingSummary(
            start=start,
            end=end,
            events=tuple(events),
            total_fee_msat=sum(f.fee_msat for f in events),
            total_volume_msat=sum(f.amt_out_msat for f in events),
            per_channel=per,
        )

    @staticmethod
    def _invoice_from(i: Any) -> m.Invoice:
        return m.Invoice(
            payment_hash=bytes(i.r_hash).hex(),
            memo=i.memo,
            value_msat=i.value_msat or i.value * 1000,
            amt_paid_msat=i.amt_paid_msat,
            state=ln.Invoice.InvoiceState.Name(i.state),
            payment_request=i.payment_request,
            created_at=_ts(i.creation_date),
            settled_at=_ts(i.settle_date) if i.settle_date else None,
            expiry_s=i.expiry,
            add_index=i.add_index,
            settle_index=i.settle_index,
            private=i.private,
            is_keysend=i.is_keysend,
        )

    async def list_invoices(self, *, index_offset: int = 0, limit: int = 100, reverse: bool = False) -> m.InvoicePage:
        r = await self.call(
            "ListInvoices",
            ln.ListInvoiceRequest(index_offset=index_offset, num_max_invoices=limit, reversed=reverse),
        )
        return m.InvoicePage(
            invoices=tuple(self._invoice_from(i) for i in r.invoices),
            first_index_offset=r.first_index_offset,
            last_index_offset=r.last_index_offset,
        )

    async def lookup_invoice(self, payment_hash: str) -> m.Invoice:
        if not _TXID.match(payment_hash or ""):
            raise BadInput("A payment hash is 64 hex digits.", field="paymentHash")
        r = await self.call("LookupInvoice", ln.PaymentHash(r_hash=bytes.fromhex(payment_hash)), field="paymentHash")
        return self._invoice_from(r)

    async def list_payments(self, *, index_offset: int = 0, limit: int = 100, reverse: bool = False) -> m.PaymentPage:
        r = await self.call(
            "ListPayments",
            ln.ListPaymentsRequest(
                index_offset=index_offset,
                max_payments=limit,
                reversed=reverse,
                include_incomplete=True,
                count_total_payments=True,
            ),
        )
        pays = tuple(payment_from(p) for p in r.payments)
        return m.PaymentPage(
            payments=pays,
            first_index_offset=r.first_index_offset,
            last_index_offset=r.last_index_offset,
            total=r.total_num_payments,
        )

    async def list_peers(self, *, with_node_info: bool = False) -> list[m.Peer]:
        """ListPeers; ``with_node_info`` adds alias and announced addresses from GetNodeInfo (8 at a time)."""
        r = await self.call("ListPeers", ln.ListPeersRequest())
        peers = [
            m.Peer(
                pubkey=p.pub_key,
                address=p.address,
                inbound=p.inbound,
                ping_time_us=p.ping_time,
                sat_sent=p.sat_sent,
                sat_recv=p.sat_recv,
            )
            for p in r.peers
        ]
        if not with_node_info or not peers:
            return peers
        sem = asyncio.Semaphore(8)

        async def one(p: m.Peer) -> m.Peer:
            async with sem:
                try:
                    n = await self.call("GetNodeInfo", ln.NodeInfoRequest(pub_key=p.pubkey, include_channels=False))
                except BadInput:  # not in the graph (yet): no alias
                    return p
            self._alias_cache[p.pubkey] = n.node.alias
            return dataclasses.replace(p, alias=n.node.alias, addresses=tuple(a.addr for a in n.node.addresses))

        return list(await asyncio.gather(*(one(p) for p in peers)))

    async def graph_nodes(self) -> list[m.GraphNode]:
        """Every node of the public channel graph (DescribeGraph), with its channel count and capacity."""
        g = await self.call("DescribeGraph", ln.ChannelGraphRequest(include_unannounced=False))
        chans: dict[str, list[int]] = {}
        for e in g.edges:
            for pub in (e.node1_pub, e.node2_pub):
                c = chans.setdefault(pub, [0, 0])
                c[0] += 1
                c[1] += e.capacity
        return [
            m.GraphNode(
                pubkey=n.pub_key,
                alias=n.alias,
                color=n.color,
                addresses=tuple(a.addr for a in n.addresses),
                last_update=n.last_update,
                channels=chans.get(n.pub_key, [0, 0])[0],
                capacity=chans.get(n.pub_key, [0, 0])[1],
            )
            for n in g.nodes
        ]

    async def liquidity(self, channels: list[m.Channel] | None = None) -> list[m.Liquidity]:
        chans = channels if channels is not None else await self.list_channels(with_policy=False)
        return [
            m.Liquidity(
                chan_id=c.chan_id,
                channel_point=c.channel_point,
                peer_alias=c.peer_alias,
                outbound=c.local_balance,
                inbound=c.remote_balance,
                capacity=c.capacity,
                active=c.active,
            )
            for c in chans
        ]

    # -- writes ----------------------------------------------------------------------------

    async def connect_peer(self, address: str, *, timeout_s: float | None = None) -> m.Peer | None:
        """Connect ``pubkey@host:port``; an already connected peer is not an error."""
        pub, hostport = parse_peer(address)
        if hostport is None:
            raise BadInput("Give the peer as pubkey@host:port to connect to it.", field="peer")
        try:
            await self.call(
                "ConnectPeer",
                ln.ConnectPeerRequest(addr=ln.LightningAddress(pubkey=pub, host=hostport), perm=False, timeout=10),
                timeout_s=timeout_s,
                field="peer",
            )
        except BadInput as exc:
            if "already connected" not in exc.message:
                raise
        for p in await self.list_peers():
            if p.pubkey == pub:
                return p
        return None

    async def open_channel(
        self,
        peer: str,
        capacity: int,
        *,
        push_amount: int = 0,
        private: bool = False,
        sat_per_vbyte: int | None = None,
        connect: bool = True,
    ) -> m.PendingOpen:
        """Connect to the peer if an address is given, then OpenChannelSync (returns once funded)."""
        pub, hostport = parse_peer(peer)
        if capacity <= 0:
            raise BadInput("Capacity must be a positive number of sats.", field="capacity")
        if push_amount < 0:
            raise BadInput("The push amount cannot be negative.", field="pushAmount")
        if sat_per_vbyte is not None and sat_per_vbyte <= 0:
            raise BadInput("The fee rate must be at least 1 sat/vB.", field="satPerVbyte")
        self._check("OpenChannelSync")
        if hostport and connect:
            await self.connect_peer(peer)
        req = ln.OpenChannelRequest(
            node_pubkey=bytes.fromhex(pub),
            local_funding_amount=capacity,
            push_sat=push_amount,
            private=private,
            sat_per_vbyte=sat_per_vbyte or 0,
        )
        try:
            cp = await self.call("OpenChannelSync", req, timeout_s=max(self.timeout_s, 30.0), field="capacity")
        except BadInput as exc:
            low = exc.message.lower()
            if "not online" in low or "not connected" in low:
                exc.field = "peer"
            elif "push" in low:
                exc.field = "pushAmount"
            elif "fee" in low and "rate" in low:
                exc.field = "satPerVbyte"
            raise
        txid = bytes(reversed(cp.funding_txid_bytes)).hex() if cp.funding_txid_bytes else cp.funding_txid_str
        return m.PendingOpen(funding_txid=txid, output_index=cp.output_index)

    async def close_channel(
        self, channel_point: str, *, force: bool = False, sat_per_vbyte: int | None = None
    ) -> m.PendingClose:
        """CloseChannel until LND reports the closing transaction broadcast (``close_pending``)."""
        cp = parse_channel_point(channel_point)
        if force and sat_per_vbyte:
            raise BadInput(
                "A force close uses the fee fixed in the commitment; leave satPerVbyte empty.", field="satPerVbyte"
            )
        req = ln.CloseChannelRequest(channel_point=cp, force=force, sat_per_vbyte=sat_per_vbyte or 0)
        stream = self.stream("CloseChannel", req, field="channelPoint")
        try:
            async with asyncio.timeout(max(self.timeout_s, 30.0)):
                async for upd in stream:
                    kind = upd.WhichOneof("update")
                    if kind == "close_pending":
                        return m.PendingClose(
                            channel_point=channel_point,
                            closing_txid=bytes(reversed(upd.close_pending.txid)).hex(),
                            force=force,
                        )
                    if kind == "chan_close":
                        return m.PendingClose(
                            channel_point=channel_point,
                            closing_txid=bytes(reversed(upd.chan_close.closing_txid)).hex(),
                            force=force,
                        )
        except TimeoutError:
            raise UpstreamUnavailable(f"The Lightning node at {self.target} did not start closing in time.") from None
        finally:
            await stream.aclose()
        raise UpstreamUnavailable(f"The Lightning node at {self.target} ended the close stream without an update.")

    async def update_channel_policy(
        self,
        *,
        channel_point: str | None,
        base_fee_msat: int,
        fee_rate_ppm: int,
        time_lock_delta: int,
    ) -> list[m.PolicyUpdateFailure]:
        """One channel (``channel_point``) or every channel (``None``). Returns LND's failed updates."""
        if base_fee_msat < 0:
            raise BadInput("The base fee cannot be negative.", field="baseFeeMsat")
        if fee_rate_ppm < 0:
            raise BadInput("The fee rate cannot be negative.", field="feeRatePpm")
        if time_lock_delta <= 0:
            raise BadInput("The time-lock delta must be positive.", field="timeLockDelta")
        kw: dict[str, Any] = {
            "base_fee_msat": base_fee_msat,
            "fee_rate_ppm": fee_rate_ppm,
            "time_lock_delta": time_lock_delta,
        }
        if channel_point:
            kw["chan_point"] = parse_channel_point(channel_point)
        else:
            kw["global"] = True
        r = await self.call("UpdateChannelPolicy", ln.PolicyUpdateRequest(**kw), field="timeLockDelta")
        return [
            m.PolicyUpdateFailure(
                channel_point=f"{f.outpoint.txid_str or bytes(reversed(f.outpoint.txid_bytes)).hex()}"
                f":{f.outpoint.output_index}",
                reason=ln.UpdateFailure.Name(f.reason),
                message=f.update_error,
            )
            for f in r.failed_updates
        ]

    async def add_invoice(
        self, *, amount_msat: int, memo: str = "", expiry_s: int = 86_400, private: bool = False
    ) -> m.AddedInvoice:
        if amount_msat < 0:
            raise BadInput("The amount cannot be negative.", field="amount")
        if expiry_s <= 0:
            raise BadInput("The expiry must be a positive number of seconds.", field="expiry")
        r = await self.call(
            "AddInvoice",
            ln.Invoice(memo=memo, value_msat=amount_msat, expiry=expiry_s, private=private),
            field="amount",
        )
        return m.AddedInvoice(
            payment_hash=bytes(r.r_hash).hex(),
            payment_request=r.payment_request,
            add_index=r.add_index,
            payment_addr=bytes(r.payment_addr).hex(),
        )

    # -- streams ---------------------------------------------------------------------------

    async def channel_events(self, on_open: OnOpen | None = None) -> AsyncIterator[m.ChannelEvent]:
        async for u in self.stream("SubscribeChannelEvents", ln.ChannelEventSubscription(), on_open=on_open):
            kind = ln.ChannelEventUpdate.UpdateType.Name(u.type)
            which = u.WhichOneof("channel")
            if which == "open_channel":
                c = u.open_channel
                yield m.ChannelEvent(kind, c.channel_point, channel=self._channel_from(c, c.peer_alias or "", None))
            elif which == "closed_channel":
                cc = self._closed_from(u.closed_channel)
                yield m.ChannelEvent(kind, cc.channel_point, closed=cc)
            elif which == "pending_open_channel":
                p = u.pending_open_channel
                yield m.ChannelEvent(kind, f"{bytes(reversed(p.txid)).hex()}:{p.output_index}")
            elif which in ("active_channel", "inactive_channel", "fully_resolved_channel"):
                yield m.ChannelEvent(kind, channel_point_str(getattr(u, which)))
            else:
                yield m.ChannelEvent(kind, "")

    async def invoice_updates(
        self, *, add_index: int = 0, settle_index: int = 0, on_open: OnOpen | None = None
    ) -> AsyncIterator[m.Invoice]:
        """Invoices added after ``add_index`` / settled after ``settle_index`` (replayed by LND), then live."""
        req = ln.InvoiceSubscription(add_index=add_index, settle_index=settle_index)
        async for i in self.stream("SubscribeInvoices", req, on_open=on_open):
            yield self._invoice_from(i)

    async def transactions(self, on_open: OnOpen | None = None) -> AsyncIterator[m.ChainTransaction]:
        async for t in self.stream("SubscribeTransactions", ln.GetTransactionsRequest(), on_open=on_open):
            yield m.ChainTransaction(
                txid=t.tx_hash,
                amount=t.amount,
                confirmations=t.num_confirmations,
                block_height=t.block_height,
                total_fees=t.total_fees,
                at=_ts(t.time_stamp),
                label=t.label,
            )
