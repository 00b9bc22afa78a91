"""Lightning: users' LND nodes, their reads and writes, and their live streams.

* ``connect`` validates host, certificate and macaroon, calls GetInfo, records the network and
  the macaroon's capabilities, and stores certificate and macaroon encrypted (aad = owner id).
  Nothing is saved when any step fails.
* One :class:`LndClient` (one gRPC channel) per node, kept for the life of the service.
* Per node, three supervised streams (channel events, invoices, on-chain transactions) publish
  ``channelEvents`` / ``invoiceUpdated`` events (subject = node id) and reopen with backoff when
  the node drops. The invoice stream resumes from the stored add/settle indexes, so invoices
  added or settled while the node (or this server) was away are replayed by LND.
* Writes check the macaroon's capabilities first: ``Forbidden`` names the missing permission.
* Another user's node id answers ``NotFound``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlmodel import col, select

from app.config import Settings
from app.errors import BadInput, Conflict, DomainError, Forbidden, NotFound, UpstreamUnavailable
from app.events.envelope import Event
from app.events.hub import EventHub
from app.lightning import backups
from app.lightning import models as m
from app.lightning.address_policy import UNREACHABLE, UNREACHABLE_HINT, AddressPolicy
from app.lightning.client import LndClient
from app.lightning.errors import MacaroonRejected, TlsRejected
from app.lightning.permissions import CAPABILITY_PERMISSIONS, Capabilities, capabilities_from
from app.lightning.streams import StreamStatus, StreamSupervisor
from app.lightning.validation import validate_host, validate_macaroon, validate_port, validate_tls_cert
from app.lightning.views import NodeView
from app.security.crypto import Keyring
from app.services import audit
from app.store.db import Store, Tx
from app.store.models.base import utcnow
from app.store.models.lightning import LightningNode
from app.store.paging import Page, Window, page_of, paginate_list

log = structlog.get_logger(__name__)

NETWORKS = ("MAINNET", "TESTNET", "SIGNET", "REGTEST")
MAX_NODES_PER_USER = 50
CHANNEL_EVENTS = "channelEvents"
INVOICE_UPDATED = "invoiceUpdated"
NODE_STATUS = "lightningNodeStatus"
_WHAT = {
    "CREATE_INVOICES": "creating invoices",
    "PAY": "paying",
    "CONNECT_PEERS": "connecting to peers",
    "OPEN_CHANNELS": "opening channels",
    "CLOSE_CHANNELS": "closing channels",
    "UPDATE_CHANNEL_POLICY": "updating channel fees",
}

ClientFactory = Callable[..., LndClient]


@dataclass(frozen=True, slots=True)
class ConnectNodeInput:
    name: str
    host: str
    port: int
    tls_cert: str
    macaroon: str
    network: str


@dataclass(frozen=True, slots=True)
class NodeStatus:
    available: bool | None  # None: not known yet (streams not up yet)
    state: str
    last_error: str | None
    since: datetime | None


@dataclass
class _Runtime:
    node_id: str
    user_id: str
    client: LndClient
    streams: dict[str, StreamSupervisor[Any]] = field(default_factory=dict)
    add_index: int = 0
    settle_index: int = 0


def node_network(lnd_network: str) -> str:
    """LND's ``chains[0].network`` (``mainnet``, ``testnet``, ``testnet4``, ``signet``, ``regtest``...) -> ours."""
    low = lnd_network.lower()
    return "TESTNET" if low.startswith("testnet") else low.upper()


# -- owner-scoped queries ---------------------------------------------------------------------


async def _owned(s: Tx, user_id: str, node_id: str) -> LightningNode:
    row = (
        await s.exec(select(LightningNode).where(LightningNode.id == node_id, LightningNode.user_id == user_id))
    ).first()
    if row is None:
        raise NotFound("No Lightning node with this id.", field="nodeId")
    return row


async def _list_owned(s: Tx, user_id: str) -> list[LightningNode]:
    q = select(LightningNode).where(LightningNode.user_id == user_id).order_by(col(LightningNode.created_at))
    return list((await s.exec(q)).all())


def node_view(row: LightningNode) -> NodeView:
    return NodeView(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        host=row.host,
        port=row.port,
        network=row.network,
        pubkey=row.pubkey,
        alias=row.alias,
        version=row.version,
        permissions=row.permissions,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
    )


def _capabilities(permissions: str) -> Capabilities:
    """What a node's stored macaroon permissions (comma-separated) allow."""
    return capabilities_from(p for p in permissions.split(",") if p)


# -- event payloads ---------------------------------------------------------------------------


def channel_event_payload(ev: m.ChannelEvent) -> dict[str, Any]:
    out: dict[str, Any] = {"type": ev.type, "channelPoint": ev.channel_point}
    if ev.channel is not None:
        c = ev.channel
        out["channel"] = {
            "chanId": str(c.chan_id),
            "remotePubkey": c.remote_pubkey,
            "peerAlias": c.peer_alias,
            "capacity": c.capacity,
            "localBalance": c.local_balance,
            "remoteBalance": c.remote_balance,
            "active": c.active,
            "private": c.private,
            "commitFee": c.commit_fee,
            "unsettledBalance": c.unsettled_balance,
            "totalSent": c.total_sent,
            "totalReceived": c.total_received,
            "initiator": c.initiator,
            "uptime": c.uptime_s,
            "lifetime": c.lifetime_s,
        }
    if ev.closed is not None:
        cc = ev.closed
        out["closed"] = {
            "chanId": str(cc.chan_id),
            "closeType": cc.close_type,
            "closingTxid": cc.closing_txid,
            "settledBalance": cc.settled_balance,
            "timeLockedBalance": cc.time_locked_balance,
            "capacity": cc.capacity,
            "closeHeight": cc.close_height,
            "remotePubkey": cc.remote_pubkey,
            "openInitiator": cc.open_initiator,
            "closeInitiator": cc.close_initiator,
        }
    return out


def invoice_payload(inv: m.Invoice) -> dict[str, Any]:
    return {
        "paymentHash": inv.payment_hash,
        "state": inv.state,
        "memo": inv.memo,
        "valueMsat": str(inv.value_msat),
        "amtPaidMsat": str(inv.amt_paid_msat),
        "addIndex": inv.add_index,
        "settleIndex": inv.settle_index,
        "paymentRequest": inv.payment_request,
        "settledAt": inv.settled_at.isoformat() if inv.settled_at else None,
        "createdAt": inv.created_at.isoformat(),
        "expiry": inv.expiry_s,
        "private": inv.private,
        "isKeysend": inv.is_keysend,
    }


def transaction_payload(tx: m.ChainTransaction) -> dict[str, Any]:
    return {
        "type": "ONCHAIN_TRANSACTION",
        "txid": tx.txid,
        "amount": tx.amount,
        "confirmations": tx.confirmations,
        "blockHeight": tx.block_height,
        "label": tx.label,
    }


class LightningService:
    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        hub: EventHub,
        settings: Settings,
        *,
        client_factory: ClientFactory = LndClient,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.hub = hub
        self.settings = settings
        self._factory = client_factory
        self._backoff = (settings.lnd_stream_min_backoff_s, settings.lnd_stream_max_backoff_s)
        self._runtimes: dict[str, _Runtime] = {}
        # Receives each SubscribeChannelBackups snapshot (set by LightningBackups): (node id, owner id, snapshot).
        self.backup_sink: Callable[[str, str, m.ChannelBackupSnapshot], Awaitable[None]] | None = None
        self._lock = asyncio.Lock()
        self._started = False

    # -- lifecycle (container component) ------------------------------------------------------

    async def start(self) -> None:
        """Open a channel and the live streams for every stored node (of every user)."""
        self._started = True
        async with self.store.read() as s:
            rows = list((await s.exec(select(LightningNode))).all())
        for row in rows:
            try:
                await self._runtime_of(row)
            except Exception:
                log.exception("lightning_node_start_failed", node_id=row.id)

    async def stop(self) -> None:
        self._started = False
        for node_id in list(self._runtimes):
            await self._drop(node_id)

    async def health(self) -> dict[str, Any]:
        """For /readyz: a node down degrades this component but never fails readiness."""
        down = [nid for nid in self._runtimes if self.status(nid).available is False]
        return {"status": "degraded" if down else "ok", "nodes": len(self._runtimes), "unavailable": down}

    def status(self, node_id: str) -> NodeStatus:
        rt = self._runtimes.get(node_id)
        sup = (
            next((rt.streams[k] for k in ("channels", "invoices", "transactions") if k in rt.streams), None)
            if rt
            else None
        )
        if sup is None:
            return NodeStatus(available=None, state="idle", last_error=None, since=None)
        st = sup.status
        available = {"up": True, "down": False, "failed": False}.get(st.state)
        return NodeStatus(available=available, state=st.state, last_error=st.last_error, since=st.since)

    # -- connect / disconnect -------------------------------------------------------------------

    async def connect(self, user_id: str, inp: ConnectNodeInput) -> NodeView:
        name = (inp.name or "").strip()
        if not 1 <= len(name) <= 100:
            raise BadInput("Give the node a name of 1 to 100 characters.", field="name")
        network = (inp.network or "").strip().upper()
        if network not in NETWORKS:
            raise BadInput(f"Unknown network '{inp.network}'.", field="network")
        host = validate_host(inp.host)
        port = validate_port(inp.port)
        await AddressPolicy(self.settings.lightning_allowed_hosts).check(host, port)  # no SSRF / port scans
        cert = validate_tls_cert(inp.tls_cert)
        macaroon = validate_macaroon(inp.macaroon)
        caps = capabilities_from(macaroon.permissions)
        client = self._factory(host, port, cert, macaroon.hex(), timeout_s=self.settings.lnd_timeout_s)
        keep = False
        try:
            info = await self._probe(client, host, port)
            if node_network(info.network) != network:
                raise BadInput(
                    f"The node runs on {info.network}, not {network.lower()}; nothing was saved.", field="network"
                )
            row = LightningNode(
                user_id=user_id,
                name=name,
                host=host,
                port=port,
                network=network,
                pubkey=info.pubkey,
                alias=info.alias[:64],
                version=info.version[:64],
                capabilities=",".join(caps.as_list()),
                permissions=",".join(sorted(caps.permissions)),
                tls_cert_enc=self.keyring.encrypt(cert.decode(), aad=user_id),
                macaroon_enc=self.keyring.encrypt(macaroon.hex(), aad=user_id),
                last_seen_at=utcnow(),
            )
            add_index, settle_index = await self._invoice_indexes(client, caps)
            row.invoice_add_index, row.invoice_settle_index = add_index, settle_index
            async with self.store.write() as s:
                existing = await _list_owned(s, user_id)
                if len(existing) >= MAX_NODES_PER_USER:
                    raise Conflict(f"You already have {MAX_NODES_PER_USER} Lightning nodes.")
                dup = next((n for n in existing if n.pubkey == info.pubkey), None)
                if dup is not None:
                    raise Conflict(
                        f"This node ({info.pubkey[:16]}…) is already connected as '{dup.name}'.", field="host"
                    )
                s.add(row)
                audit.record(s, "lightning_node.added", user_id, row.id, detail=f"pubkey={info.pubkey}")

                async def adopt() -> None:
                    await self._adopt(row, client)

                s.on_commit(adopt)
            keep = True
            log.info("lightning_node_connected", node_id=row.id, network=network, capabilities=row.capabilities)
            return node_view(row)
        finally:
            if not keep:
                await client.close()

    async def _probe(self, client: LndClient, host: str, port: int) -> m.NodeInfo:
        try:
            return await client.get_info()
        except TlsRejected as exc:
            raise BadInput(f"{exc.message} Nothing was saved.", field="tlsCert", hint=exc.hint) from None
        except MacaroonRejected as exc:
            raise BadInput(f"{exc.message}. Nothing was saved.", field="macaroon") from None
        except Forbidden:
            raise BadInput(
                "This macaroon cannot read node info (info:read is missing); use readonly.macaroon "
                "or admin.macaroon. Nothing was saved.",
                field="macaroon",
            ) from None
        except UpstreamUnavailable:  # one message for refused, timed out, reset: no port-scan oracle
            raise UpstreamUnavailable(UNREACHABLE, field="host", hint=UNREACHABLE_HINT) from None

    @staticmethod
    async def _invoice_indexes(client: LndClient, caps: Capabilities) -> tuple[int, int]:
        """Where the invoice stream starts: after the newest invoice and the newest settlement."""
        if "invoices:read" not in caps.permissions:
            return 0, 0
        try:
            page = await client.list_invoices(limit=100, reverse=True)
        except (BadInput, UpstreamUnavailable, Forbidden):
            return 0, 0
        add = max((i.add_index for i in page.invoices), default=0)
        settle = max((i.settle_index for i in page.invoices), default=0)
        return add, settle

    async def disconnect(self, user_id: str, node_id: str) -> bool:
        async with self.store.write() as s:
            row = await _owned(s, user_id, node_id)
            await s.delete(row)
            audit.record(s, "lightning_node.removed", user_id, node_id)

            async def drop() -> None:
                await self._drop(node_id)

            s.on_commit(drop)
        log.info("lightning_node_disconnected", node_id=node_id)
        return True

    # -- reads ----------------------------------------------------------------------------------

    async def list_nodes(self, user_id: str) -> list[NodeView]:
        async with self.store.read() as s:
            return [node_view(r) for r in await _list_owned(s, user_id)]

    async def get_node(self, user_id: str, node_id: str) -> NodeView:
        return node_view(await self.stored_node(user_id, node_id))

    async def stored_node(self, user_id: str, node_id: str) -> LightningNode:
        """The stored node with its encrypted secrets, for the Lightning area's own services
        (backups, macaroon baking); everyone else gets :meth:`get_node`'s view."""
        async with self.store.read() as s:
            return await _owned(s, user_id, node_id)

    async def client(self, user_id: str, node_id: str) -> tuple[NodeView, LndClient]:
        node = await self.get_node(user_id, node_id)
        return node, (await self._runtime(node)).client

    async def info(self, node: NodeView) -> m.NodeInfo:
        info = await (await self._runtime(node)).client.get_info()
        if info.alias != node.alias or info.version != node.version:
            async with self.store.write() as s:
                fresh = await _owned(s, node.user_id, node.id)
                fresh.alias, fresh.version, fresh.last_seen_at = info.alias[:64], info.version[:64], utcnow()
                s.add(fresh)
        return info

    async def channel_page(
        self,
        node: NodeView,
        w: Window,
        *,
        active: bool | None,
        with_policy: bool = True,
    ) -> Page[m.Channel]:
        """Open channels by short channel id; local policies (one GetChanInfo each) only for the page."""
        client = (await self._runtime(node)).client
        chans = sorted(
            await client.list_channels(active=active, with_policy=False, our_pubkey=node.pubkey),
            key=lambda c: c.chan_id,
        )
        page = paginate_list(chans, lambda c: (str(c.chan_id),), w)
        if with_policy and page.items:
            page = dataclasses.replace(page, items=await client.with_policies(page.items, node.pubkey))
        return page

    async def channel_pages(
        self,
        nodes: Sequence[NodeView],
        w: Window,
        *,
        active: bool | None,
        with_policy: bool = True,
    ) -> dict[str, Page[m.Channel] | DomainError]:
        """:meth:`channel_page` of several nodes, asked concurrently (each node is its own LND);
        a node that fails answers its error, the others their page."""
        results = await asyncio.gather(
            *(self.channel_page(r, w, active=active, with_policy=with_policy) for r in nodes),
            return_exceptions=True,
        )
        out: dict[str, Page[m.Channel] | DomainError] = {}
        for r, result in zip(nodes, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, DomainError):
                raise result
            out[r.id] = result
        return out

    async def pending_channels(self, node: NodeView) -> list[m.PendingChannel]:
        return await (await self._runtime(node)).client.pending_channels()

    async def closed_channels(self, node: NodeView, w: Window) -> Page[m.ClosedChannel]:
        closed = await (await self._runtime(node)).client.closed_channels()
        closed.sort(key=lambda c: (-c.close_height, c.channel_point))
        return paginate_list(closed, lambda c: (c.close_height, c.channel_point), w)

    async def balance(self, node: NodeView) -> m.NodeBalance:
        return await (await self._runtime(node)).client.balance()

    async def liquidity(self, node: NodeView) -> list[m.Liquidity]:
        client = (await self._runtime(node)).client
        return await client.liquidity(await client.list_channels(with_policy=False, our_pubkey=node.pubkey))

    async def forwarding_history(
        self, node: NodeView, start: datetime | None, end: datetime | None
    ) -> m.ForwardingSummary:
        end = end or datetime.now(UTC)
        start = start or end - timedelta(days=30)
        if end - start > timedelta(days=3660):
            raise BadInput("The period can be at most ten years.", field="from")
        if end <= start:
            raise BadInput("`to` must be after `from`.", field="to")
        return await (await self._runtime(node)).client.forwarding_history(start, end)

    async def invoices(self, node: NodeView, w: Window) -> Page[m.Invoice]:
        """Newest first; the cursor is LND's add index (LND numbers invoices 1, 2, 3...), so a
        page is one ListInvoices from the cursor (``w``: ``types=(int,)``): newer ones forward
        from ``before``, older ones back from ``after``."""
        after, before = self._index_cursor(w.after, "after"), self._index_cursor(w.before, "before")
        client = (await self._runtime(node)).client
        if w.backward:  # the oldest of the window first: ascending from `before`
            got = await client.list_invoices(index_offset=before or 0, limit=w.size + 1, reverse=False)
            rows = [i for i in got.invoices if after is None or i.add_index < after]
            total = (await client.list_invoices(limit=1, reverse=True)).last_index_offset
            beyond = before is not None and bool(
                (await client.list_invoices(index_offset=before + 1, limit=1, reverse=True)).invoices
            )
        else:  # the newest of the window first: descending from `after`
            got = await client.list_invoices(index_offset=after or 0, limit=w.size + 1, reverse=True)
            rows = [i for i in reversed(got.invoices) if before is None or i.add_index > before]
            total = got.last_index_offset
            if after is not None:
                total = (await client.list_invoices(limit=1, reverse=True)).last_index_offset
            beyond = after is not None and total >= after
        return page_of(rows, w, total, lambda i: [i.add_index], beyond=beyond)

    async def payments(self, node: NodeView, w: Window) -> Page[m.Payment]:
        """Newest first, failed and in-flight ones included; the cursor is LND's payment index
        (as :meth:`invoices`; ``w``: ``types=(int,)``)."""
        after, before = self._index_cursor(w.after, "after"), self._index_cursor(w.before, "before")
        client = (await self._runtime(node)).client
        if w.backward:
            got = await client.list_payments(index_offset=before or 0, limit=w.size + 1, reverse=False)
            rows = [p for p in got.payments if after is None or p.payment_index < after]
            beyond = before is not None and bool(
                (await client.list_payments(index_offset=before + 1, limit=1, reverse=True)).payments
            )
        else:
            got = await client.list_payments(index_offset=after or 0, limit=w.size + 1, reverse=True)
            rows = [p for p in reversed(got.payments) if before is None or p.payment_index > before]
            beyond = after is not None and bool(
                (await client.list_payments(index_offset=after - 1, limit=1, reverse=False)).payments
            )
        return page_of(rows, w, got.total, lambda p: [p.payment_index], beyond=beyond)

    @staticmethod
    def _index_cursor(key: tuple[Any, ...] | None, field: str) -> int | None:
        if key is None:
            return None
        if len(key) != 1 or type(key[0]) is not int or key[0] < 1:
            raise BadInput(f"`{field}`: that cursor is not one this list returned.", field=field)
        return int(key[0])

    async def peers(self, node: NodeView) -> list[m.Peer]:
        """Connected peers with alias and announced addresses (GetNodeInfo)."""
        return await (await self._runtime(node)).client.list_peers(with_node_info=True)

    async def network_nodes(self, node: NodeView, w: Window, *, search: str | None = None) -> Page[m.GraphNode]:
        """The graph's nodes (not the node itself) to pick a peer from: best connected first."""
        nodes = [n for n in await (await self._runtime(node)).client.graph_nodes() if n.pubkey != node.pubkey]
        if search:
            q = search.strip().lower()
            nodes = [n for n in nodes if q in n.alias.lower() or n.pubkey.startswith(q)]
        nodes.sort(key=lambda n: (-n.capacity, -n.channels, n.pubkey))
        return paginate_list(nodes, lambda n: (n.capacity, n.channels, n.pubkey), w)

    # -- writes ---------------------------------------------------------------------------------

    @staticmethod
    def capabilities(node: NodeView) -> Capabilities:
        return _capabilities(node.permissions)

    def _require(self, node: NodeView, capability: str) -> None:
        caps = self.capabilities(node)
        if not caps.allows(capability):
            missing = caps.missing(capability) or CAPABILITY_PERMISSIONS[capability]
            raise Forbidden(
                f"The macaroon of node '{node.name}' does not allow {_WHAT.get(capability, capability)}: "
                f"it lacks {', '.join(missing)}.",
                hint="Reconnect the node with a macaroon that has these permissions (e.g. admin.macaroon).",
            )

    async def connect_peer(self, user_id: str, node_id: str, peer: str) -> m.Peer | None:
        node, client = await self.client(user_id, node_id)
        self._require(node, "CONNECT_PEERS")
        return await client.connect_peer(peer)

    async def open_channel(
        self,
        user_id: str,
        node_id: str,
        *,
        peer: str,
        capacity: int,
        push_amount: int = 0,
        private: bool = False,
        sat_per_vbyte: int | None = None,
    ) -> m.PendingChannel:
        node, client = await self.client(user_id, node_id)
        self._require(node, "OPEN_CHANNELS")
        if "@" in peer:
            self._require(node, "CONNECT_PEERS")
        opened = await client.open_channel(
            peer, capacity, push_amount=push_amount, private=private, sat_per_vbyte=sat_per_vbyte
        )
        await audit.AuditLog(self.store).add("channel.opened", user_id, opened.channel_point, detail=f"sats={capacity}")
        with contextlib.suppress(UpstreamUnavailable, BadInput):
            for p in await client.pending_channels():
                if p.channel_point == opened.channel_point:
                    return p
        pub = peer.split("@", 1)[0].lower()
        return m.PendingChannel(
            kind="OPENING",
            channel_point=opened.channel_point,
            remote_pubkey=pub,
            capacity=capacity,
            local_balance=capacity - push_amount,
            remote_balance=push_amount,
            private=private,
        )

    async def close_channel(
        self, user_id: str, node_id: str, *, channel_point: str, force: bool = False, sat_per_vbyte: int | None = None
    ) -> m.PendingClose:
        node, client = await self.client(user_id, node_id)
        self._require(node, "CLOSE_CHANNELS")
        closing = await client.close_channel(channel_point, force=force, sat_per_vbyte=sat_per_vbyte)
        await audit.AuditLog(self.store).add("channel.closed", user_id, channel_point, detail=f"force={force}")
        return closing

    async def update_channel_policy(
        self,
        user_id: str,
        node_id: str,
        *,
        channel_point: str | None,
        base_fee_msat: int,
        fee_rate_ppm: int,
        time_lock_delta: int,
    ) -> list[m.PolicyUpdateFailure]:
        node, client = await self.client(user_id, node_id)
        self._require(node, "UPDATE_CHANNEL_POLICY")
        failures = await client.update_channel_policy(
            channel_point=channel_point,
            base_fee_msat=base_fee_msat,
            fee_rate_ppm=fee_rate_ppm,
            time_lock_delta=time_lock_delta,
        )
        if channel_point and failures:
            f = failures[0]
            raise BadInput(f"LND did not update {f.channel_point}: {f.message} ({f.reason}).", field="channelPoint")
        return failures

    async def create_invoice(
        self, user_id: str, node_id: str, *, amount_msat: int, memo: str = "", expiry_s: int | None = None
    ) -> m.Invoice:
        node, client = await self.client(user_id, node_id)
        self._require(node, "CREATE_INVOICES")
        if len(memo.encode()) > 639:
            raise BadInput("The memo is too long for a payment request (at most 639 bytes).", field="memo")
        added = await client.add_invoice(amount_msat=amount_msat, memo=memo, expiry_s=expiry_s or 86_400)
        if "invoices:read" in self.capabilities(node).permissions:
            with contextlib.suppress(BadInput):
                return await client.lookup_invoice(added.payment_hash)
        now = datetime.now(UTC)
        return m.Invoice(
            payment_hash=added.payment_hash,
            memo=memo,
            value_msat=amount_msat,
            amt_paid_msat=0,
            state="OPEN",
            payment_request=added.payment_request,
            created_at=now,
            settled_at=None,
            expiry_s=expiry_s or 86_400,
            add_index=added.add_index,
            settle_index=0,
            private=False,
            is_keysend=False,
        )

    # -- the per-node pool and streams ----------------------------------------------------------

    async def _runtime(self, node: NodeView) -> _Runtime:
        rt = self._runtimes.get(node.id)
        if rt is not None:
            return rt
        return await self._runtime_of(await self.stored_node(node.user_id, node.id))

    async def _runtime_of(self, row: LightningNode) -> _Runtime:
        rt = self._runtimes.get(row.id)
        if rt is not None:
            return rt
        async with self._lock:
            rt = self._runtimes.get(row.id)
            if rt is None:
                client = self._factory(
                    row.host,
                    row.port,
                    self.keyring.decrypt(row.tls_cert_enc, aad=row.user_id),
                    self.keyring.decrypt(row.macaroon_enc, aad=row.user_id),
                    timeout_s=self.settings.lnd_timeout_s,
                )
                rt = self._install(row, client)
        return rt

    def new_client(self, host: str, port: int, tls_cert: str, macaroon_hex: str) -> LndClient:
        """A client with this service's settings (for a check outside the per-node pool)."""
        return self._factory(host, port, tls_cert, macaroon_hex, timeout_s=self.settings.lnd_timeout_s)

    async def refresh(self, row: LightningNode) -> None:
        """The node's stored macaroon changed: a new client (and streams) from the stored row."""
        await self._drop(row.id)
        await self._runtime_of(row)

    async def _adopt(self, row: LightningNode, client: LndClient) -> None:
        async with self._lock:
            old = self._runtimes.get(row.id)
            if old is None:
                self._install(row, client)
                return
        await client.close()

    def _install(self, row: LightningNode, client: LndClient) -> _Runtime:
        rt = _Runtime(
            node_id=row.id,
            user_id=row.user_id,
            client=client,
            add_index=row.invoice_add_index,
            settle_index=row.invoice_settle_index,
        )
        self._runtimes[row.id] = rt
        if self._started:
            self._start_streams(rt, _capabilities(row.permissions))
        return rt

    async def _drop(self, node_id: str) -> None:
        rt = self._runtimes.pop(node_id, None)
        if rt is None:
            return
        for sup in rt.streams.values():
            await sup.stop()
        await rt.client.close()

    def _start_streams(self, rt: _Runtime, caps: Capabilities) -> None:
        lo, hi = self._backoff

        async def publish(kind: str, payload: dict[str, Any]) -> None:
            await self.hub.publish(Event(type=kind, user_id=rt.user_id, subject=rt.node_id, payload=payload))

        async def on_channel(ev: m.ChannelEvent) -> None:
            await publish(CHANNEL_EVENTS, channel_event_payload(ev))

        async def on_tx(tx: m.ChainTransaction) -> None:
            await publish(CHANNEL_EVENTS, transaction_payload(tx))

        async def on_invoice(inv: m.Invoice) -> None:
            await publish(INVOICE_UPDATED, invoice_payload(inv))
            if inv.add_index > rt.add_index or inv.settle_index > rt.settle_index:
                rt.add_index = max(rt.add_index, inv.add_index)
                rt.settle_index = max(rt.settle_index, inv.settle_index)
                await self._save_indexes(rt)

        async def on_state(st: StreamStatus) -> None:
            if st.state in ("up", "down", "failed"):
                await publish(NODE_STATUS, {"state": st.state, "available": st.state == "up", "error": st.last_error})

        c = rt.client
        perms = caps.permissions
        if "offchain:read" in perms:
            rt.streams["channels"] = StreamSupervisor(
                f"{rt.node_id}:channels",
                lambda opened: c.channel_events(on_open=opened),
                on_channel,
                on_state=on_state,
                initial_backoff_s=lo,
                max_backoff_s=hi,
            )
        if "invoices:read" in perms:
            rt.streams["invoices"] = StreamSupervisor(
                f"{rt.node_id}:invoices",
                lambda opened: c.invoice_updates(add_index=rt.add_index, settle_index=rt.settle_index, on_open=opened),
                on_invoice,
                initial_backoff_s=lo,
                max_backoff_s=hi,
            )
        if "onchain:read" in perms:
            rt.streams["transactions"] = StreamSupervisor(
                f"{rt.node_id}:transactions",
                lambda opened: c.transactions(on_open=opened),
                on_tx,
                initial_backoff_s=lo,
                max_backoff_s=hi,
            )
        sink = self.backup_sink
        if "offchain:read" in perms and sink is not None:

            async def on_backup(snap: m.ChannelBackupSnapshot) -> None:
                await sink(rt.node_id, rt.user_id, snap)

            rt.streams["backups"] = StreamSupervisor(
                f"{rt.node_id}:backups",
                lambda opened: backups.updates(c, on_open=opened),
                on_backup,
                initial_backoff_s=lo,
                max_backoff_s=hi,
            )
        for sup in rt.streams.values():
            sup.start()

    async def _save_indexes(self, rt: _Runtime) -> None:
        try:
            async with self.store.write() as s:
                row = (
                    await s.exec(
                        select(LightningNode).where(LightningNode.id == rt.node_id, LightningNode.user_id == rt.user_id)
                    )
                ).first()
                if row is not None:
                    row.invoice_add_index = rt.add_index
                    row.invoice_settle_index = rt.settle_index
                    row.last_seen_at = utcnow()
                    s.add(row)
        except Exception:
            log.exception("lightning_index_save_failed", node_id=rt.node_id)

    async def wait_streams_up(self, node_id: str) -> None:
        """For tests and tooling: until every stream of the node is established."""
        rt = self._runtimes.get(node_id)
        if rt is not None:
            for sup in rt.streams.values():
                await sup.wait_up()
