"""The simulated node behind devlnd: channels, wallet, forwards, invoices, payments, peers, blocks.

Everything is deterministic for a given seed except wall-clock times. Methods that LND exposes
raise :class:`LndError` with LND's own error strings; the servicer turns those into gRPC
``UNKNOWN`` statuses exactly as LND's Go errors arrive. Listeners (the subscription RPCs) get
protobuf messages on asyncio queues.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from embit.ec import PrivateKey

from app.dev.devlnd import bolt11
from app.lightning.client import channel_point_str
from app.lightning.proto import ln

MIN_CHAN_SIZE = 20_000  # funding.MinChanFundingSize
MAX_CHAN_SIZE = 16_777_215  # non-wumbo limit
MIN_TIME_LOCK_DELTA = 18
FUNDING_CONFS = 3
CSV_DELAY = 144
COMMIT_FEE = 2_810
FUNDING_TX_FEE = 2_420
MAX_MEMO = 1024


class LndError(Exception):
    """An error LND would return (its message is LND's)."""


def btc(sats: int) -> str:
    """``btcutil.Amount.String()``: ``0.0002 BTC``, ``1 BTC``."""
    d = (Decimal(sats) / Decimal(100_000_000)).normalize()
    return f"{format(d, 'f')} BTC"


def _keypair(rng: random.Random) -> tuple[bytes, str]:
    secret = rng.randbytes(32)
    return secret, str(PrivateKey(secret).get_public_key().sec().hex())


@dataclass
class SimPeer:
    pubkey: str
    alias: str
    host: str
    color: str = "#3399ff"
    min_chan_size: int = MIN_CHAN_SIZE
    secret: bytes = b""  # its node key (signs the invoices it issues)


@dataclass
class Policy:
    base_fee_msat: int = 1000
    fee_rate_ppm: int = 1
    time_lock_delta: int = 80
    min_htlc_msat: int = 1000
    max_htlc_msat: int = 0
    disabled: bool = False
    last_update: int = field(default_factory=lambda: int(time.time()))


@dataclass
class SimChannel:
    chan_id: int
    funding_txid: str
    output_index: int
    remote_pubkey: str
    capacity: int
    local_balance: int
    remote_balance: int
    private: bool = False
    initiator: bool = True
    active: bool = True
    commit_fee: int = COMMIT_FEE
    opened_at: float = field(default_factory=time.time)
    inactive_s: float = 0.0
    inactive_since: float | None = None
    total_sent: int = 0
    total_received: int = 0
    push_amount: int = 0
    local_policy: Policy = field(default_factory=Policy)
    remote_policy: Policy = field(default_factory=Policy)
    # lifecycle: "pending_open" -> "open" -> "waiting_close" -> ("force_closing") -> closed
    status: str = "open"
    confirm_height: int = 0
    closing_txid: str = ""
    close_force: bool = False
    close_confirm_height: int = 0
    maturity_height: int = 0
    close_initiator: str = "INITIATOR_LOCAL"

    @property
    def channel_point(self) -> str:
        return f"{self.funding_txid}:{self.output_index}"

    def point_pb(self) -> Any:
        return ln.ChannelPoint(funding_txid_bytes=_txid_bytes(self.funding_txid), output_index=self.output_index)

    def uptime(self, now: float) -> int:
        down = self.inactive_s + (now - self.inactive_since if self.inactive_since else 0)
        return max(0, int(now - self.opened_at - down))


def _txid_bytes(txid: str) -> bytes:
    return bytes(reversed(bytes.fromhex(txid)))


class NodeState:
    def __init__(self, seed: int = 1, network: str = "regtest", alias: str = "devlnd") -> None:
        self.rng = random.Random(seed)
        self.network = network
        self.alias = alias
        self.node_secret, self.pubkey = _keypair(self.rng)
        self.version = "0.17.4-beta devlnd"
        self.color = "#ff9900"
        self.height = 1_200 if network == "regtest" else 820_000
        self.block_hash = self.rng.randbytes(32).hex()
        self.confirmed = 5_000_000
        self.unconfirmed = 0
        self.locked = 0
        self.directory: dict[str, SimPeer] = {}
        self.graph_nodes: dict[str, SimPeer] = {}  # the wider network (DescribeGraph), built on first use
        self.connected: dict[str, str] = {}  # pubkey -> address
        self.channels: list[SimChannel] = []
        self.closed: list[Any] = []  # ln.ChannelCloseSummary
        self.forwards: list[Any] = []  # ln.ForwardingEvent
        self.invoices: list[Any] = []  # ln.Invoice (add_index = position + 1)
        self.settle_counter = 0
        self.payments: list[Any] = []
        self.transactions: list[Any] = []
        self.listeners: dict[str, set[asyncio.Queue[Any]]] = {"channel": set(), "invoice": set(), "tx": set()}
        self._close_waiters: dict[str, list[asyncio.Queue[Any]]] = {}
        self._open_waiters: dict[str, list[asyncio.Queue[Any]]] = {}
        self._next_tx_index = 1
        self._seed()

    # -- seeding -------------------------------------------------------------------------------

    def _short_chan_id(self, height: int) -> int:
        self._next_tx_index += 1
        return (height << 40) | (self._next_tx_index << 16) | 0

    def _txid(self) -> str:
        return self.rng.randbytes(32).hex()

    def _seed(self) -> None:
        names = [
            ("alice", 20_000),
            ("bob", 20_000),
            ("carol", 20_000),
            ("dave", 20_000),
            ("erin", 20_000),
            ("frank", 20_000),
            ("grace", 500_000),
        ]
        for i, (name, min_size) in enumerate(names):
            sk, pk = _keypair(self.rng)
            self.directory[pk] = SimPeer(pk, name, f"{name}.devlnd.local:{9735 + i}", min_chan_size=min_size, secret=sk)
        peers = list(self.directory.values())
        now = time.time()
        specs = [  # peer, capacity, local share, active, private
            (peers[0], 2_000_000, 0.6, True, False),
            (peers[1], 1_000_000, 0.3, True, False),
            (peers[2], 500_000, 0.5, True, True),
            (peers[3], 750_000, 0.9, False, False),
        ]
        for peer, cap, share, active, private in specs:
            local = int((cap - COMMIT_FEE) * share)
            ch = SimChannel(
                chan_id=self._short_chan_id(self.height - 300),
                funding_txid=self._txid(),
                output_index=0,
                remote_pubkey=peer.pubkey,
                capacity=cap,
                local_balance=local,
                remote_balance=cap - COMMIT_FEE - local,
                private=private,
                active=active,
                opened_at=now - self.rng.randint(20, 60) * 86_400,
                initiator=share > 0.5,
                local_policy=Policy(
                    base_fee_msat=1000, fee_rate_ppm=self.rng.choice([1, 50, 100, 250]), time_lock_delta=80
                ),
                remote_policy=Policy(
                    base_fee_msat=1000, fee_rate_ppm=self.rng.choice([1, 10, 200]), time_lock_delta=40
                ),
            )
            if not active:
                ch.inactive_since = now - 3600
            self.channels.append(ch)
            if active:
                self.connected[peer.pubkey] = peer.host
        # one pending open, one waiting close, one force closing
        pend = SimChannel(
            chan_id=0,
            funding_txid=self._txid(),
            output_index=1,
            remote_pubkey=peers[4].pubkey,
            capacity=300_000,
            local_balance=300_000 - COMMIT_FEE,
            remote_balance=0,
            status="pending_open",
            confirm_height=self.height + 2,
        )
        self.channels.append(pend)
        self.connected[peers[4].pubkey] = peers[4].host
        wc = SimChannel(
            chan_id=self._short_chan_id(self.height - 500),
            funding_txid=self._txid(),
            output_index=0,
            remote_pubkey=peers[5].pubkey,
            capacity=400_000,
            local_balance=150_000,
            remote_balance=400_000 - COMMIT_FEE - 150_000,
            status="waiting_close",
            active=False,
            closing_txid=self._txid(),
            close_confirm_height=self.height + 1,
        )
        self.channels.append(wc)
        fc = SimChannel(
            chan_id=self._short_chan_id(self.height - 700),
            funding_txid=self._txid(),
            output_index=0,
            remote_pubkey=peers[3].pubkey,
            capacity=250_000,
            local_balance=120_000,
            remote_balance=250_000 - COMMIT_FEE - 120_000,
            status="force_closing",
            active=False,
            closing_txid=self._txid(),
            close_force=True,
            close_confirm_height=self.height - 10,
            maturity_height=self.height - 10 + CSV_DELAY,
        )
        self.channels.append(fc)
        # closed history
        for peer, cap, ctype, initiator in (
            (peers[1], 600_000, "COOPERATIVE_CLOSE", "INITIATOR_LOCAL"),
            (peers[2], 300_000, "REMOTE_FORCE_CLOSE", "INITIATOR_REMOTE"),
        ):
            self.closed.append(
                ln.ChannelCloseSummary(
                    channel_point=f"{self._txid()}:0",
                    chan_id=self._short_chan_id(self.height - 1000),
                    chain_hash=self.block_hash,
                    closing_tx_hash=self._txid(),
                    remote_pubkey=peer.pubkey,
                    capacity=cap,
                    close_height=self.height - 900,
                    settled_balance=cap // 2,
                    close_type=ln.ChannelCloseSummary.ClosureType.Value(ctype),
                    open_initiator=ln.Initiator.Value("INITIATOR_LOCAL"),
                    close_initiator=ln.Initiator.Value(initiator),
                )
            )
        # forwarding history: 40 forwards over the last 30 days, between the active channels
        active_chans = [c for c in self.channels if c.status == "open" and c.active]
        for i in range(40):
            cin, cout = self.rng.sample(active_chans, 2)
            amt = self.rng.randint(1_000, 50_000) * 1000
            fee = cout.local_policy.base_fee_msat + amt * cout.local_policy.fee_rate_ppm // 1_000_000
            ts = now - (40 - i) * 86_400 * 30 / 40 - self.rng.randint(0, 3600)
            self._record_forward(cin, cout, amt + fee, amt, ts, move=False)
        # invoices and payments
        for i, (memo, sats, settled) in enumerate(
            [("coffee", 5_000, True), ("book", 25_000, True), ("donation", 0, False), ("rent", 150_000, False)]
        ):
            inv = self._new_invoice(memo, sats * 1000, 3600 * 24, created=int(now) - (10 - i) * 86_400)
            if settled:
                self._settle(inv, sats * 1000, at=int(now) - (10 - i) * 86_400 + 60, emit=False)
        for i, (sats, status) in enumerate([(12_000, "SUCCEEDED"), (3_300, "SUCCEEDED"), (50_000, "FAILED")]):
            preimage = self.rng.randbytes(32)
            self.payments.append(
                ln.Payment(
                    payment_hash=hashlib.sha256(preimage).hexdigest(),
                    value=sats,
                    value_sat=sats,
                    value_msat=sats * 1000,
                    creation_date=int(now) - (5 - i) * 86_400,
                    creation_time_ns=int((now - (5 - i) * 86_400) * 1e9),
                    fee=3 if status == "SUCCEEDED" else 0,
                    fee_sat=3 if status == "SUCCEEDED" else 0,
                    fee_msat=3_120 if status == "SUCCEEDED" else 0,
                    payment_preimage=preimage.hex() if status == "SUCCEEDED" else "0" * 64,
                    status=ln.Payment.PaymentStatus.Value(status),
                    payment_index=i + 1,
                    failure_reason=ln.PaymentFailureReason.Value(
                        "FAILURE_REASON_NONE" if status == "SUCCEEDED" else "FAILURE_REASON_NO_ROUTE"
                    ),
                )
            )

    # -- helpers -------------------------------------------------------------------------------

    def emit(self, kind: str, msg: Any) -> None:
        for q in list(self.listeners[kind]):
            q.put_nowait(msg)

    def peer_alias(self, pubkey: str) -> str:
        p = self.directory.get(pubkey)
        return p.alias if p else ""

    def find_channel(self, channel_point: str) -> SimChannel | None:
        for c in self.channels:
            if c.channel_point == channel_point:
                return c
        return None

    def open_channels(self) -> list[SimChannel]:
        return [c for c in self.channels if c.status == "open"]

    def channel_pb(self, c: SimChannel, alias_lookup: bool = True) -> Any:
        now = time.time()
        return ln.Channel(
            active=c.active,
            remote_pubkey=c.remote_pubkey,
            channel_point=c.channel_point,
            chan_id=c.chan_id,
            capacity=c.capacity,
            local_balance=c.local_balance,
            remote_balance=c.remote_balance,
            commit_fee=c.commit_fee,
            commit_weight=772,
            fee_per_kw=2500,
            total_satoshis_sent=c.total_sent,
            total_satoshis_received=c.total_received,
            private=c.private,
            initiator=c.initiator,
            chan_status_flags="ChanStatusDefault",
            lifetime=int(now - c.opened_at),
            uptime=c.uptime(now),
            push_amount_sat=c.push_amount,
            commitment_type=ln.CommitmentType.Value("ANCHORS"),
            peer_alias=self.peer_alias(c.remote_pubkey) if alias_lookup else "",
        )

    def _pending_pb(self, c: SimChannel) -> Any:
        return ln.PendingChannelsResponse.PendingChannel(
            remote_node_pub=c.remote_pubkey,
            channel_point=c.channel_point,
            capacity=c.capacity,
            local_balance=c.local_balance,
            remote_balance=c.remote_balance,
            initiator=ln.Initiator.Value("INITIATOR_LOCAL" if c.initiator else "INITIATOR_REMOTE"),
            commitment_type=ln.CommitmentType.Value("ANCHORS"),
            private=c.private,
        )

    def _record_forward(
        self, cin: SimChannel, cout: SimChannel, amt_in_msat: int, amt_out_msat: int, ts: float, *, move: bool = True
    ) -> Any:
        if move:
            sat_in, sat_out = amt_in_msat // 1000, amt_out_msat // 1000
            if cin.remote_balance < sat_in or cout.local_balance < sat_out:
                raise LndError("insufficient balance to forward")
            cin.remote_balance -= sat_in
            cin.local_balance += sat_in
            cout.local_balance -= sat_out
            cout.remote_balance += sat_out
            cin.total_received += sat_in
            cout.total_sent += sat_out
        fee_msat = amt_in_msat - amt_out_msat
        ev = ln.ForwardingEvent(
            timestamp=int(ts),
            timestamp_ns=int(ts * 1e9),
            chan_id_in=cin.chan_id,
            chan_id_out=cout.chan_id,
            amt_in=amt_in_msat // 1000,
            amt_out=amt_out_msat // 1000,
            fee=fee_msat // 1000,
            fee_msat=fee_msat,
            amt_in_msat=amt_in_msat,
            amt_out_msat=amt_out_msat,
        )
        self.forwards.append(ev)
        self.forwards.sort(key=lambda e: e.timestamp_ns)
        return ev

    def _new_invoice(
        self, memo: str, value_msat: int, expiry: int, created: int | None = None, private: bool = False
    ) -> Any:
        preimage = self.rng.randbytes(32)
        r_hash = hashlib.sha256(preimage).digest()
        secret = self.rng.randbytes(32)
        created = created if created is not None else int(time.time())
        inv = ln.Invoice(
            memo=memo,
            r_preimage=preimage,
            r_hash=r_hash,
            value=value_msat // 1000,
            value_msat=value_msat,
            creation_date=created,
            expiry=expiry,
            cltv_expiry=80,
            private=private,
            add_index=len(self.invoices) + 1,
            state=ln.Invoice.InvoiceState.Value("OPEN"),
            payment_addr=secret,
            payment_request=bolt11.encode(
                self.network, value_msat, created, r_hash, memo, expiry, secret, node_secret=self.node_secret
            ),
        )
        self.invoices.append(inv)
        return inv

    def _settle(self, inv: Any, amt_msat: int, *, at: int | None = None, emit: bool = True) -> None:
        self.settle_counter += 1
        inv.settled = True
        inv.state = ln.Invoice.InvoiceState.Value("SETTLED")
        inv.settle_date = at or int(time.time())
        inv.settle_index = self.settle_counter
        inv.amt_paid_msat = amt_msat
        inv.amt_paid_sat = amt_msat // 1000
        inv.amt_paid = amt_msat
        if emit:
            self.emit("invoice", inv)

    def _tx(self, txid: str, amount: int, fee: int, label: str, height: int = 0) -> Any:
        tx = ln.Transaction(
            tx_hash=txid,
            amount=amount,
            total_fees=fee,
            time_stamp=int(time.time()),
            label=label,
            block_height=height,
            num_confirmations=max(0, self.height - height + 1) if height else 0,
        )
        self.transactions.append(tx)
        self.emit("tx", tx)
        return tx

    # -- RPC behaviour -----------------------------------------------------------------------

    def get_info(self, host: str, port: int) -> Any:
        opens = self.open_channels()
        return ln.GetInfoResponse(
            version=self.version,
            commit_hash="devlnd",
            identity_pubkey=self.pubkey,
            alias=self.alias,
            color=self.color,
            num_pending_channels=sum(c.status == "pending_open" for c in self.channels),
            num_active_channels=sum(c.active for c in opens),
            num_inactive_channels=sum(not c.active for c in opens),
            num_peers=len(self.connected),
            block_height=self.height,
            block_hash=self.block_hash,
            best_header_timestamp=int(time.time()),
            synced_to_chain=True,
            synced_to_graph=True,
            testnet=self.network == "testnet",
            chains=[ln.Chain(chain="bitcoin", network=self.network)],
            uris=[f"{self.pubkey}@{host}:9735"],
        )

    def list_channels(self, req: Any) -> Any:
        if req.active_only and req.inactive_only:
            raise LndError("either `active_only` or `inactive_only` can be set, but not both")
        if req.public_only and req.private_only:
            raise LndError("either `public_only` or `private_only` can be set, but not both")
        out = []
        for c in self.open_channels():
            if (req.active_only and not c.active) or (req.inactive_only and c.active):
                continue
            if (req.public_only and c.private) or (req.private_only and not c.private):
                continue
            if req.peer and bytes(req.peer).hex() != c.remote_pubkey:
                continue
            out.append(self.channel_pb(c, alias_lookup=req.peer_alias_lookup))
        return ln.ListChannelsResponse(channels=out)

    def pending_channels(self) -> Any:
        r = ln.PendingChannelsResponse()
        for c in self.channels:
            if c.status == "pending_open":
                r.pending_open_channels.append(
                    ln.PendingChannelsResponse.PendingOpenChannel(
                        channel=self._pending_pb(c), commit_fee=c.commit_fee, commit_weight=772, fee_per_kw=2500
                    )
                )
            elif c.status == "waiting_close":
                r.waiting_close_channels.append(
                    ln.PendingChannelsResponse.WaitingCloseChannel(
                        channel=self._pending_pb(c), limbo_balance=c.local_balance, closing_txid=c.closing_txid
                    )
                )
            elif c.status == "force_closing":
                r.pending_force_closing_channels.append(
                    ln.PendingChannelsResponse.ForceClosedChannel(
                        channel=self._pending_pb(c),
                        closing_txid=c.closing_txid,
                        limbo_balance=c.local_balance,
                        maturity_height=c.maturity_height,
                        blocks_til_maturity=c.maturity_height - self.height,
                    )
                )
                r.total_limbo_balance += c.local_balance
        return r

    def closed_channels(self, req: Any) -> Any:
        want = {
            "COOPERATIVE_CLOSE": req.cooperative,
            "LOCAL_FORCE_CLOSE": req.local_force,
            "REMOTE_FORCE_CLOSE": req.remote_force,
            "BREACH_CLOSE": req.breach,
            "FUNDING_CANCELED": req.funding_canceled,
            "ABANDONED": req.abandoned,
        }
        filt = any(want.values())
        chans = [c for c in self.closed if not filt or want[ln.ChannelCloseSummary.ClosureType.Name(c.close_type)]]
        return ln.ClosedChannelsResponse(channels=chans)

    def wallet_balance(self) -> Any:
        return ln.WalletBalanceResponse(
            total_balance=self.confirmed + self.unconfirmed,
            confirmed_balance=self.confirmed,
            unconfirmed_balance=self.unconfirmed,
            locked_balance=self.locked,
        )

    def channel_balance(self) -> Any:
        opens = self.open_channels()
        local = sum(c.local_balance for c in opens)
        remote = sum(c.remote_balance for c in opens)
        pend = sum(c.local_balance for c in self.channels if c.status == "pending_open")
        pend_remote = sum(c.remote_balance for c in self.channels if c.status == "pending_open")
        return ln.ChannelBalanceResponse(
            balance=local,
            pending_open_balance=pend,
            local_balance=ln.Amount(sat=local, msat=local * 1000),
            remote_balance=ln.Amount(sat=remote, msat=remote * 1000),
            unsettled_local_balance=ln.Amount(),
            unsettled_remote_balance=ln.Amount(),
            pending_open_local_balance=ln.Amount(sat=pend, msat=pend * 1000),
            pending_open_remote_balance=ln.Amount(sat=pend_remote, msat=pend_remote * 1000),
        )

    def forwarding_history(self, req: Any) -> Any:
        end = req.end_time or int(time.time())
        start = req.start_time
        num = req.num_max_events or 100
        if num > 50_000:
            num = 50_000
        matching = [e for e in self.forwards if start <= e.timestamp < end]
        page = matching[req.index_offset : req.index_offset + num]
        out = []
        for e in page:
            ev = ln.ForwardingEvent()
            ev.CopyFrom(e)
            if req.peer_alias_lookup:
                ev.peer_alias_in = self._alias_for_chan(e.chan_id_in)
                ev.peer_alias_out = self._alias_for_chan(e.chan_id_out)
            out.append(ev)
        return ln.ForwardingHistoryResponse(forwarding_events=out, last_offset_index=req.index_offset + len(page))

    def _alias_for_chan(self, chan_id: int) -> str:
        for c in self.channels:
            if c.chan_id == chan_id:
                return self.peer_alias(c.remote_pubkey)
        return ""

    def fee_report(self) -> Any:
        now = time.time()
        sums = [sum(e.fee_msat for e in self.forwards if e.timestamp >= now - d * 86_400) // 1000 for d in (1, 7, 30)]
        return ln.FeeReportResponse(
            channel_fees=[
                ln.ChannelFeeReport(
                    chan_id=c.chan_id,
                    channel_point=c.channel_point,
                    base_fee_msat=c.local_policy.base_fee_msat,
                    fee_per_mil=c.local_policy.fee_rate_ppm,
                    fee_rate=c.local_policy.fee_rate_ppm / 1e6,
                )
                for c in self.open_channels()
            ],
            day_fee_sum=sums[0],
            week_fee_sum=sums[1],
            month_fee_sum=sums[2],
        )

    @staticmethod
    def _policy_pb(p: Policy) -> Any:
        return ln.RoutingPolicy(
            time_lock_delta=p.time_lock_delta,
            min_htlc=p.min_htlc_msat,
            fee_base_msat=p.base_fee_msat,
            fee_rate_milli_msat=p.fee_rate_ppm,
            disabled=p.disabled,
            max_htlc_msat=p.max_htlc_msat,
            last_update=p.last_update,
        )

    def chan_info(self, chan_id: int) -> Any:
        for c in self.channels:
            if c.chan_id == chan_id and c.status == "open":
                ours_first = self.pubkey < c.remote_pubkey
                n1, n2 = (self.pubkey, c.remote_pubkey) if ours_first else (c.remote_pubkey, self.pubkey)
                p1, p2 = (c.local_policy, c.remote_policy) if ours_first else (c.remote_policy, c.local_policy)
                return ln.ChannelEdge(
                    channel_id=c.chan_id,
                    chan_point=c.channel_point,
                    node1_pub=n1,
                    node2_pub=n2,
                    capacity=c.capacity,
                    node1_policy=self._policy_pb(p1),
                    node2_policy=self._policy_pb(p2),
                    last_update=p1.last_update,
                )
        raise LndError("edge not found")

    def node_info(self, pubkey: str) -> Any:
        if pubkey == self.pubkey:
            return ln.NodeInfo(node=ln.LightningNode(pub_key=self.pubkey, alias=self.alias, color=self.color))
        p = self.directory.get(pubkey) or self._graph().get(pubkey)
        if p is None:
            raise LndError("unable to find node")
        chans = [c for c in self.open_channels() if c.remote_pubkey == pubkey and not c.private]
        return ln.NodeInfo(
            node=ln.LightningNode(
                pub_key=p.pubkey,
                alias=p.alias,
                color=p.color,
                last_update=int(time.time()),
                addresses=[ln.NodeAddress(network="tcp", addr=p.host)],
            ),
            num_channels=len(chans),
            total_capacity=sum(c.capacity for c in chans),
        )

    def _graph(self) -> dict[str, SimPeer]:
        """The wider simulated network: the directory's nodes plus 30 more (their own seed, so the
        rest of the simulation stays as it was), each announced with a few public channels."""
        if not self.graph_nodes:
            rng = random.Random(f"graph-{self.pubkey}")
            for i in range(30):
                sk, pk = _keypair(rng)
                self.graph_nodes[pk] = SimPeer(pk, f"node-{i:02d}", f"10.0.{i // 250}.{i % 250 + 1}:9735", secret=sk)
        return {**self.directory, **self.graph_nodes}

    def describe_graph(self) -> Any:
        nodes = self._graph()
        rng = random.Random(f"edges-{self.pubkey}")
        edges = []
        keys = sorted(nodes)
        for n, pk in enumerate(keys):
            for _ in range(1 + n % 4):
                other = rng.choice(keys)
                if other != pk:
                    edges.append(
                        ln.ChannelEdge(
                            channel_id=rng.getrandbits(48) << 16,
                            chan_point=f"{rng.randbytes(32).hex()}:0",
                            node1_pub=pk,
                            node2_pub=other,
                            capacity=rng.choice([1, 2, 5, 10]) * 1_000_000,
                        )
                    )
        for c in self.open_channels():
            if not c.private:
                edges.append(
                    ln.ChannelEdge(
                        channel_id=c.chan_id,
                        chan_point=c.channel_point,
                        node1_pub=self.pubkey,
                        node2_pub=c.remote_pubkey,
                        capacity=c.capacity,
                    )
                )
        now = int(time.time())
        graph_nodes = [ln.LightningNode(pub_key=self.pubkey, alias=self.alias, color=self.color, last_update=now)]
        graph_nodes += [
            ln.LightningNode(
                pub_key=p.pubkey,
                alias=p.alias,
                color=p.color,
                last_update=now,
                addresses=[ln.NodeAddress(network="tcp", addr=p.host)],
            )
            for p in nodes.values()
        ]
        return ln.ChannelGraph(nodes=graph_nodes, edges=edges)

    def list_peers(self) -> Any:
        return ln.ListPeersResponse(
            peers=[
                ln.Peer(pub_key=pk, address=addr, inbound=False, ping_time=1200, bytes_sent=1000, bytes_recv=1000)
                for pk, addr in self.connected.items()
            ]
        )

    def connect_peer(self, pubkey: str, host: str) -> None:
        if len(pubkey) != 66:
            raise LndError(f"unable to decode pubkey: encoding/hex: odd length hex string {pubkey}")
        if pubkey == self.pubkey:
            raise LndError("cannot make connection to self")
        if pubkey in self.connected:
            raise LndError(f"already connected to peer: {pubkey}@{self.connected[pubkey]}")
        p = self.directory.get(pubkey)
        if p is None or p.host != host:
            raise LndError(f"dial tcp {host}: connect: connection refused")
        self.connected[pubkey] = host

    # opening

    def open_channel(self, req: Any) -> SimChannel:
        pub = bytes(req.node_pubkey).hex() if req.node_pubkey else req.node_pubkey_string
        amt, push = req.local_funding_amount, req.push_sat
        if amt < MIN_CHAN_SIZE:
            raise LndError(f"channel is too small, the minimum channel size is: {MIN_CHAN_SIZE} SAT")
        if amt > MAX_CHAN_SIZE:
            raise LndError(f"funding amount is too large, the max channel size is: {btc(MAX_CHAN_SIZE)}")
        if push > amt:
            raise LndError("amount pushed to remote peer for initial state must be below the local funding amount")
        if req.sat_per_vbyte and req.sat_per_byte:
            raise LndError("either SatPerByte or SatPerVByte should be set, but not both")
        if pub == self.pubkey:
            raise LndError("cannot open channel to self")
        if pub not in self.connected:
            raise LndError(f"peer {pub} is not online")
        fee = FUNDING_TX_FEE if not req.sat_per_vbyte else 153 * req.sat_per_vbyte
        if amt + fee > self.confirmed:
            raise LndError(
                f"not enough witness outputs to create funding transaction, need {btc(amt + fee)} "
                f"only have {btc(self.confirmed)}  available"
            )
        peer = self.directory[pub]
        if amt < peer.min_chan_size:
            raise LndError(
                f"received funding error from {pub}: chan size of {btc(amt)} is below min chan size of "
                f"{btc(peer.min_chan_size)}"
            )
        self.confirmed -= amt + fee
        ch = SimChannel(
            chan_id=0,
            funding_txid=self._txid(),
            output_index=0,
            remote_pubkey=pub,
            capacity=amt,
            local_balance=amt - push - COMMIT_FEE,
            remote_balance=push,
            private=req.private,
            status="pending_open",
            confirm_height=self.height + FUNDING_CONFS,
            push_amount=push,
        )
        self.channels.append(ch)
        self._tx(ch.funding_txid, -(amt + fee), fee, f"0:openchannel:shortchanid-{ch.chan_id}")
        self.emit(
            "channel",
            ln.ChannelEventUpdate(
                type=ln.ChannelEventUpdate.UpdateType.Value("PENDING_OPEN_CHANNEL"),
                pending_open_channel=ln.PendingUpdate(txid=_txid_bytes(ch.funding_txid), output_index=ch.output_index),
            ),
        )
        return ch

    def wait_open(self, ch: SimChannel) -> asyncio.Queue[Any]:
        q: asyncio.Queue[Any] = asyncio.Queue()
        self._open_waiters.setdefault(ch.channel_point, []).append(q)
        return q

    # closing

    def close_channel(self, req: Any) -> tuple[SimChannel, asyncio.Queue[Any]]:
        point = channel_point_str(req.channel_point)
        if len(point.partition(":")[0]) != 64:
            raise LndError("invalid funding txid")
        ch = self.find_channel(point)
        if req.force and (req.target_conf or req.sat_per_byte or req.sat_per_vbyte):
            raise LndError("force closing a channel uses a pre-defined fee")
        if ch is None or ch.status != "open":
            if ch is not None and ch.status == "pending_open":
                raise LndError("cannot close pending channel")
            raise LndError("channel not found")
        if not req.force and not ch.active:
            raise LndError(
                "unable to gracefully close channel while peer is offline (try force closing it "
                "instead): channel link not found"
            )
        ch.closing_txid = self._txid()
        ch.close_force = req.force
        ch.status = "waiting_close"
        ch.close_confirm_height = self.height + 1
        if ch.active:
            ch.active = False
            self.emit(
                "channel",
                ln.ChannelEventUpdate(
                    type=ln.ChannelEventUpdate.UpdateType.Value("INACTIVE_CHANNEL"),
                    inactive_channel=ch.point_pb(),
                ),
            )
        q: asyncio.Queue[Any] = asyncio.Queue()
        self._close_waiters.setdefault(ch.channel_point, []).append(q)
        return ch, q

    def update_policy(self, req: Any) -> Any:
        if req.time_lock_delta < MIN_TIME_LOCK_DELTA:
            raise LndError(
                f"time lock delta of {req.time_lock_delta} is too small, minimum supported is {MIN_TIME_LOCK_DELTA}"
            )
        if req.fee_rate and req.fee_rate_ppm:
            raise LndError("fee_rate or fee_rate_ppm can not both be set")
        rate = req.fee_rate_ppm or round(req.fee_rate * 1_000_000)
        failed = []
        if req.WhichOneof("scope") == "global":
            targets = self.open_channels()
        else:
            cp = req.chan_point
            txid = channel_point_str(cp).partition(":")[0]
            ch = self.find_channel(channel_point_str(cp))
            if ch is None or ch.status != "open":
                failed.append(
                    ln.FailedUpdate(
                        outpoint=ln.OutPoint(txid_str=txid, output_index=cp.output_index),
                        reason=ln.UpdateFailure.Value("UPDATE_FAILURE_NOT_FOUND"),
                        update_error="not found",
                    )
                )
                targets = []
            else:
                targets = [ch]
        for c in targets:
            c.local_policy = Policy(
                base_fee_msat=req.base_fee_msat,
                fee_rate_ppm=rate,
                time_lock_delta=req.time_lock_delta,
                min_htlc_msat=c.local_policy.min_htlc_msat,
                max_htlc_msat=req.max_htlc_msat or c.local_policy.max_htlc_msat,
            )
        return ln.PolicyUpdateResponse(failed_updates=failed)

    # invoices

    def add_invoice(self, req: Any) -> Any:
        if req.value and req.value_msat:
            raise LndError("value and value_msat are mutually exclusive")
        msat = req.value_msat or req.value * 1000
        if msat < 0:
            raise LndError("payment of negative value is not allowed")
        if len(req.memo.encode()) > MAX_MEMO:
            raise LndError(f"memo too large: {len(req.memo.encode())} bytes (maxlen={MAX_MEMO})")
        inv = self._new_invoice(req.memo, msat, req.expiry or 86_400, private=req.private)
        self.emit("invoice", inv)
        return ln.AddInvoiceResponse(
            r_hash=inv.r_hash,
            payment_request=inv.payment_request,
            add_index=inv.add_index,
            payment_addr=inv.payment_addr,
        )

    def list_invoices(self, req: Any) -> Any:
        num = req.num_max_invoices or 100
        invs = [i for i in self.invoices if not req.pending_only or i.state == ln.Invoice.InvoiceState.Value("OPEN")]
        if req.reversed:
            off = req.index_offset or (len(self.invoices) + 1)
            sel = [i for i in invs if i.add_index < off][-num:]
        else:
            sel = [i for i in invs if i.add_index > req.index_offset][:num]
        return ln.ListInvoiceResponse(
            invoices=sel,
            first_index_offset=sel[0].add_index if sel else 0,
            last_index_offset=sel[-1].add_index if sel else 0,
        )

    def lookup_invoice(self, r_hash: bytes) -> Any:
        for i in self.invoices:
            if i.r_hash == r_hash:
                return i
        raise LndError("unable to locate invoice")

    def list_payments(self, req: Any) -> Any:
        num = req.max_payments or 100
        pays = [
            p
            for p in self.payments
            if req.include_incomplete or p.status == ln.Payment.PaymentStatus.Value("SUCCEEDED")
        ]
        if req.reversed:
            off = req.index_offset or (len(self.payments) + 1)
            sel = [p for p in pays if p.payment_index < off][-num:]
        else:
            sel = [p for p in pays if p.payment_index > req.index_offset][:num]
        return ln.ListPaymentsResponse(
            payments=sel,
            first_index_offset=sel[0].payment_index if sel else 0,
            last_index_offset=sel[-1].payment_index if sel else 0,
            total_num_payments=len(pays) if req.count_total_payments else 0,
        )

    # -- simulation controls (tests, CLI) -------------------------------------------------------

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.height += 1
            self.block_hash = self.rng.randbytes(32).hex()
            self._on_block()

    def _on_block(self) -> None:
        for c in list(self.channels):
            if c.status == "pending_open" and self.height >= c.confirm_height:
                c.status = "open"
                c.chan_id = self._short_chan_id(c.confirm_height)
                c.opened_at = time.time()
                c.active = c.remote_pubkey in self.connected
                self.emit(
                    "channel",
                    ln.ChannelEventUpdate(
                        type=ln.ChannelEventUpdate.UpdateType.Value("OPEN_CHANNEL"), open_channel=self.channel_pb(c)
                    ),
                )
                if c.active:
                    self.emit(
                        "channel",
                        ln.ChannelEventUpdate(
                            type=ln.ChannelEventUpdate.UpdateType.Value("ACTIVE_CHANNEL"),
                            active_channel=c.point_pb(),
                        ),
                    )
                for q in self._open_waiters.pop(c.channel_point, []):
                    q.put_nowait(ln.OpenStatusUpdate(chan_open=ln.ChannelOpenUpdate(channel_point=c.point_pb())))
            elif c.status == "waiting_close" and self.height >= c.close_confirm_height:
                ctype = "LOCAL_FORCE_CLOSE" if c.close_force else "COOPERATIVE_CLOSE"
                summary = self._close_summary(c, ctype)
                if c.close_force:
                    c.status = "force_closing"
                    c.maturity_height = c.close_confirm_height + CSV_DELAY
                else:
                    c.status = "closed"
                    self.channels.remove(c)
                    self.closed.append(summary)
                    self.confirmed += c.local_balance
                    self._tx(c.closing_txid, c.local_balance, 0, "closechannel", self.height)
                self.emit(
                    "channel",
                    ln.ChannelEventUpdate(
                        type=ln.ChannelEventUpdate.UpdateType.Value("CLOSED_CHANNEL"), closed_channel=summary
                    ),
                )
                for q in self._close_waiters.pop(c.channel_point, []):
                    q.put_nowait(
                        ln.CloseStatusUpdate(
                            chan_close=ln.ChannelCloseUpdate(closing_txid=_txid_bytes(c.closing_txid), success=True)
                        )
                    )
            elif c.status == "force_closing" and self.height >= c.maturity_height:
                c.status = "closed"
                self.channels.remove(c)
                self.closed.append(self._close_summary(c, "LOCAL_FORCE_CLOSE"))
                self.confirmed += c.local_balance
                self._tx(self._txid(), c.local_balance, 0, "sweep", self.height)
                self.emit(
                    "channel",
                    ln.ChannelEventUpdate(
                        type=ln.ChannelEventUpdate.UpdateType.Value("FULLY_RESOLVED_CHANNEL"),
                        fully_resolved_channel=c.point_pb(),
                    ),
                )

    def _close_summary(self, c: SimChannel, ctype: str) -> Any:
        return ln.ChannelCloseSummary(
            channel_point=c.channel_point,
            chan_id=c.chan_id,
            chain_hash=self.block_hash,
            closing_tx_hash=c.closing_txid,
            remote_pubkey=c.remote_pubkey,
            capacity=c.capacity,
            close_height=self.height,
            settled_balance=0 if c.close_force else c.local_balance,
            time_locked_balance=c.local_balance if c.close_force else 0,
            close_type=ln.ChannelCloseSummary.ClosureType.Value(ctype),
            open_initiator=ln.Initiator.Value("INITIATOR_LOCAL" if c.initiator else "INITIATOR_REMOTE"),
            close_initiator=ln.Initiator.Value(c.close_initiator),
        )

    def simulate_forward(
        self, amount_sat: int = 10_000, *, chan_in: int | None = None, chan_out: int | None = None
    ) -> Any:
        """Route a payment through two active channels; the fee follows the outgoing channel's policy."""
        act = [c for c in self.open_channels() if c.active]
        cin = next((c for c in act if c.chan_id == chan_in), None) if chan_in else None
        cout = next((c for c in act if c.chan_id == chan_out), None) if chan_out else None
        if cin is None:
            cin = max((c for c in act if c is not cout), key=lambda c: c.remote_balance)
        if cout is None:
            cout = max((c for c in act if c is not cin), key=lambda c: c.local_balance)
        amt = amount_sat * 1000
        fee = cout.local_policy.base_fee_msat + amt * cout.local_policy.fee_rate_ppm // 1_000_000
        return self._record_forward(cin, cout, amt + fee, amt, time.time())

    def settle_invoice(
        self, payment_hash: str | bytes | None = None, *, add_index: int | None = None, amount_msat: int | None = None
    ) -> Any:
        """Mark an open invoice paid (inbound liquidity moves to the local side of a channel)."""
        target = None
        for i in self.invoices:
            if (add_index is not None and i.add_index == add_index) or (
                payment_hash is not None
                and i.r_hash == (bytes.fromhex(payment_hash) if isinstance(payment_hash, str) else payment_hash)
            ):
                target = i
        if target is None:
            raise LndError("unable to locate invoice")
        if target.state != ln.Invoice.InvoiceState.Value("OPEN"):
            raise LndError("invoice already settled")
        amt = amount_msat or target.value_msat
        chans = [c for c in self.open_channels() if c.active and c.remote_balance >= amt // 1000]
        if chans:
            chans[0].remote_balance -= amt // 1000
            chans[0].local_balance += amt // 1000
            chans[0].total_received += amt // 1000
        self._settle(target, amt)
        return target

    def set_channel_active(self, channel_point: str, active: bool) -> None:
        c = self.find_channel(channel_point)
        if c is None or c.status != "open" or c.active == active:
            return
        c.active = active
        now = time.time()
        if active and c.inactive_since:
            c.inactive_s += now - c.inactive_since
            c.inactive_since = None
        elif not active:
            c.inactive_since = now
        kind = "ACTIVE_CHANNEL" if active else "INACTIVE_CHANNEL"
        cp = c.point_pb()
        self.emit(
            "channel", ln.ChannelEventUpdate(type=ln.ChannelEventUpdate.UpdateType.Value(kind), **{kind.lower(): cp})
        )
