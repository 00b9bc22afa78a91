"""Two users whose wallets pay each other on the dev chain: every figure of each is exactly their own.

The `small` scenario's ten wallets are split between Ann (alice, carol, erin, grace, ivan) and Ben
(bob, dave, frank, heidi, judy); the scenario pays between wallets, so Ann and Ben pay each other
(the test checks that premise on the chain). Both import and sync through the real sync engine
into ONE database. A payment from Ann to Ben is one transaction stored once per user: for Ann it
is a disposal, for Ben an acquisition; if one user's load saw the other's rows, the payment would
look like a transfer between own wallets and the realised gain, cost basis and flows would change.

The expected figures are computed here from the dev chain's own blocks (not from the synced
tables, not by calling the analytics), with the real bundled BTC/USD closes:

* the user-level ledger: per transaction, coins in from / out to anyone else, and the fee paid;
* the daily balance, value and external flow series;
* the performance figures, recomputed by a separate implementation written out below (plain
  Python loops and :mod:`statistics`, not numpy): TWR, MWR (XIRR by bisection), volatility,
  Sharpe, Sortino, maximum drawdown with its dates;
* the realised gain, holdings and acquisition cost by a plain FIFO lot book.

Reports and the replayed events of each user are checked against the same figures.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.bitcoin.networks import Network
from app.container import Container
from app.dev.devchain.runner import DevChain
from app.errors import NotFound
from app.events.envelope import id_floor
from app.prices.bundled import BundledProvider
from app.services.wallets import ImportWalletInput
from tests.conftest import make_settings
from tests.support.signals import until

pytestmark = pytest.mark.slow

ANN = ("alice", "carol", "erin", "grace", "ivan")
BEN = ("bob", "dave", "frank", "heidi", "judy")
SATS = Decimal(100_000_000)
CENT = Decimal("0.01")


@dataclass
class User:
    email: str
    names: tuple[str, ...]
    id: str = ""
    wallet_ids: dict[str, str] = field(default_factory=dict)  # name -> id


@dataclass(frozen=True)
class Entry:
    """One transaction at the level of one user, from the chain."""

    txid: str
    day: date
    net: int  # change of the user's balance, fee included
    fee: int  # fee the user paid (they funded the inputs)
    confirmed: bool = True  # False for the mempool: pending, never a disposal


@pytest.fixture
async def two_users(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[Container, DevChain, User, User]]:
    async with DevChain.start(scenario="small", seed=1, data_dir=tmp_path / "chain") as chain:
        # offline, and the bundled closes carried past the file's end (2025-09-23) to today: these tests check
        # the arithmetic against an independent calculation over those closes, not the missing-price policy
        # (the default gap of 7 days makes those days missing: tests/portfolios/test_devchain_api.py)
        settings = make_settings(
            tmp_path, database_url, regtest_esplora_url=chain.esplora_url, price_providers=[], sync_interval_s=3600,
            price_max_gap_days=100_000,
        )  # fmt: skip
        c = Container(settings)
        await c.start()
        try:
            ann, ben = User("ann@example.com", ANN), User("ben@example.com", BEN)
            by_name = {w["name"]: w for w in chain.info["wallets"]}
            for u in (ann, ben):
                u.id = (await c.accounts.create_user(u.email, "correct horse battery staple")).id
                for name in u.names:
                    view = await c.wallets.import_wallet(
                        u.id,
                        ImportWalletInput(name=name, source=by_name[name]["descriptor"], network=Network.REGTEST),
                    )
                    u.wallet_ids[name] = view.id
            for u in (ann, ben):
                for wid in u.wallet_ids.values():

                    async def done(uid: str = u.id, wid: str = wid) -> bool:
                        st = await c.sync.state(uid, wid)
                        if st.status == "ERROR":
                            raise AssertionError(f"sync failed: {st}")
                        return st.status == "SYNCED" and not c.supervisor.running(f"sync:{wid}")

                    await until(done, f"wallet {wid} synced", wait_s=120)
            yield c, chain, ann, ben
        finally:
            await c.stop()


# -- the chain, read independently ------------------------------------------------------------------


def scripts_of(chain: DevChain, names: tuple[str, ...]) -> set[bytes]:
    return {spk for w in chain.state.wallets if w.name in names for spk in w.spks}


def chain_txs(chain: DevChain) -> list[tuple[Any, date, bool]]:
    """Every transaction with its UTC day and whether it is confirmed (blocks in order, then the
    mempool on today)."""
    ch = chain.chain
    out = []
    for bhash in ch.active[1:]:
        day = datetime.fromtimestamp(ch.blocks[bhash].time, UTC).date()
        out += [(tx, day, True) for tx in ch.block_txs[bhash]]
    today = datetime.now(UTC).date()
    return out + [(tx, today, False) for tx in ch.topo_mempool()]


def ledger(chain: DevChain, names: tuple[str, ...]) -> list[Entry]:
    """The user's transactions: net change of all their wallets together and the fee they paid."""
    mine = scripts_of(chain, names)
    outputs: dict[tuple[str, int], tuple[int, bool]] = {}  # outpoint -> (value, ours)
    entries = []
    for tx, day, confirmed in chain_txs(chain):
        ins_total = ins_ours = 0
        for inp in [] if tx.is_coinbase else tx.vin:
            value, ours = outputs.get((inp.txid, inp.vout), (0, False))
            ins_total += value
            ins_ours += value if ours else 0
        outs_ours = 0
        for n, o in enumerate(tx.vout):
            outputs[(tx.txid, n)] = (o.value, o.spk in mine)
            outs_ours += o.value if o.spk in mine else 0
        if ins_ours == 0 and outs_ours == 0:
            continue
        fee = ins_total - sum(o.value for o in tx.vout) if ins_ours and not tx.is_coinbase else 0
        entries.append(Entry(tx.txid, day, outs_ours - ins_ours, fee, confirmed))
    return sorted(entries, key=lambda e: (e.day, e.txid))


def payments_between(chain: DevChain, payer: tuple[str, ...], payee: tuple[str, ...]) -> list[str]:
    """Transactions funded by ``payer``'s wallets that pay ``payee``'s wallets."""
    theirs, ours = scripts_of(chain, payee), scripts_of(chain, payer)
    owner: dict[tuple[str, int], bytes] = {}
    found = []
    for tx, _, _ in chain_txs(chain):
        funded = not tx.is_coinbase and any(owner.get((i.txid, i.vout)) in ours for i in tx.vin)
        for n, o in enumerate(tx.vout):
            owner[(tx.txid, n)] = o.spk
        if funded and any(o.spk in theirs for o in tx.vout):
            found.append(tx.txid)
    return found


def close_on(bundled: BundledProvider, day: date) -> Decimal:
    """The bundled close; after the file ends the service carries the last close (estimated)."""
    return bundled.close_on(day) or bundled.closes[-1]


# -- a separate implementation of the performance figures ------------------------------------------


@dataclass(frozen=True)
class Figures:
    days: list[date]
    balances: list[int]
    values: list[float]
    flows: list[float]
    returns: list[float]


def figures(entries: list[Entry], bundled: BundledProvider, start: date, end: date) -> Figures:
    """Balance at each day's close (the sum of all earlier and same-day changes), its value at the
    close, and the external flow of the day: the change without the fee (the fee is a loss, not
    money taken out), valued at the same close."""
    net: dict[date, int] = {}
    flow: dict[date, int] = {}
    for e in entries:
        net[e.day] = net.get(e.day, 0) + e.net
        flow[e.day] = flow.get(e.day, 0) + e.net + e.fee
    days, balances, values, flows = [], [], [], []
    running = sum(v for d, v in net.items() if d < start)
    day = start
    while day <= end:
        running += net.get(day, 0)
        close = float(close_on(bundled, day))
        days.append(day)
        balances.append(running)
        values.append(running / 1e8 * close)
        flows.append(flow.get(day, 0) / 1e8 * close)
        day += timedelta(days=1)
    # r_t = (V_t - F_t) / V_{t-1} - 1: the day's growth with its flow taken out; 0 with nothing held.
    returns = [
        (values[t] - flows[t]) / values[t - 1] - 1.0 if values[t - 1] > 0 else 0.0 for t in range(1, len(values))
    ]
    return Figures(days, balances, values, flows, returns)


def twr(returns: list[float]) -> float:
    """Time-weighted return: the product of the daily growth factors, minus one."""
    growth = 1.0
    for r in returns:
        growth *= 1.0 + r
    return growth - 1.0


def xirr_by_bisection(f: Figures) -> float:
    """Money-weighted return: the annual rate r with NPV(r) = sum_i a_i (1 + r)^(-t_i / 365) = 0,
    the investor's cash flows being -V_0 on day 0 (buying the opening holding), -F_t on each later
    day with a flow (money put in is negative), and +V_N on the last day (the holding's worth).
    NPV is decreasing in r when money goes in first and comes out last, so bisection on a bracket
    with a sign change converges to the unique root."""
    n = len(f.values)
    cash = [(0, -f.values[0])] + [(t, -f.flows[t]) for t in range(1, n) if f.flows[t] != 0]
    cash.append((n - 1, f.values[-1]))

    def npv(rate: float) -> float:
        return sum(a * math.pow(1.0 + rate, -t / 365.0) for t, a in cash)

    lo, hi = -0.99, 1.0
    while npv(hi) > 0:
        hi *= 4.0
    assert npv(lo) > 0 > npv(hi), "no sign change: the XIRR is undefined"
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if npv(mid) > 0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def drawdown(f: Figures) -> tuple[float, date, date]:
    """Largest fall of the wealth index W (W_0 = 1, W_t = W_{t-1} (1 + r_t): flows neutralised)
    from its running peak: min over t of W_t / max_{s<=t} W_s - 1, with the last day the peak
    level was reached before the trough, and the trough day."""
    wealth = 1.0
    peak, peak_day = 1.0, f.days[0]
    worst, worst_peak_day, worst_day = 0.0, f.days[0], f.days[0]
    for t, r in enumerate(f.returns, start=1):
        wealth *= 1.0 + r
        if wealth >= peak:
            peak, peak_day = wealth, f.days[t]
        fall = wealth / peak - 1.0
        if fall < worst:
            worst, worst_peak_day, worst_day = fall, peak_day, f.days[t]
    return worst, worst_peak_day, worst_day


def risk_ratios(returns: list[float], risk_free: float) -> tuple[float, float, float]:
    """(volatility, Sharpe, Sortino), annualised with sqrt(365) (bitcoin trades every day):
    volatility = sample standard deviation of the daily returns x sqrt(365);
    Sharpe = mean(excess) / sample std(excess) x sqrt(365), excess = r - rf / 365;
    Sortino = mean(excess) / sqrt(mean(min(excess, 0)^2)) x sqrt(365) (downside over all days)."""
    excess = [r - risk_free / 365.0 for r in returns]
    year = math.sqrt(365.0)
    vol = statistics.stdev(returns) * year
    sharpe = statistics.fmean(excess) / statistics.stdev(excess) * year
    downside = math.sqrt(statistics.fmean([min(x, 0.0) ** 2 for x in excess]))
    return vol, sharpe, statistics.fmean(excess) / downside * year


def fifo(entries: list[Entry], bundled: BundledProvider) -> tuple[Decimal, int, Decimal, int]:
    """(realised gain, sats held, cost of everything acquired, disposal rows) by a FIFO lot book.

    Coins in are a lot costing sats x the day's close. Coins out to someone else are a disposal at
    the day's close, the fee paid a second one (its sats leave too); when the coins only moved
    between the user's own wallets, only the fee is disposed of. Each disposal takes the oldest
    lots first; gain = proceeds - cost of the lots taken."""
    lots: deque[list[Decimal]] = deque()  # [sats, cost]
    realised = acquired = Decimal(0)
    rows = 0
    for e in entries:
        if not e.confirmed:  # unconfirmed: pending, neither an acquisition nor a disposal yet
            continue
        price = close_on(bundled, e.day)
        if e.net > 0:
            cost = Decimal(e.net) * price / SATS
            lots.append([Decimal(e.net), cost])
            acquired += cost
            continue
        spent = -e.net - e.fee  # to others (<= 0 when it went to the user's own wallets)
        for sats in ([spent] if spent > 0 else []) + ([e.fee] if e.fee > 0 else []):
            proceeds = Decimal(sats) * price / SATS
            left, cost = Decimal(sats), Decimal(0)
            while left > 0:
                lot = lots[0]
                take = min(left, lot[0])
                part = lot[1] * take / lot[0]
                cost += part
                lot[0] -= take
                lot[1] -= part
                left -= take
                if lot[0] == 0:
                    lots.popleft()
            realised += proceeds - cost
            rows += 1
    return realised, int(sum(lot[0] for lot in lots)), acquired, rows


# -- the test ---------------------------------------------------------------------------------------


async def test_two_users_paying_each_other_see_only_their_own_figures(
    any_engine: str, two_users: tuple[Container, DevChain, User, User]
) -> None:
    c, chain, ann, ben = two_users
    assert payments_between(chain, ANN, BEN) and payments_between(chain, BEN, ANN), "they pay each other"
    bundled = BundledProvider()
    risk_free = float(c.settings.risk_free_rate)
    expected_by_name = {w["name"]: w["expected"] for w in chain.info["wallets"]}
    reports = {}
    for me, other in ((ann, ben), (ben, ann)):
        entries = ledger(chain, me.names)
        own_total = sum(expected_by_name[n]["confirmed"] + expected_by_name[n]["unconfirmed"] for n in me.names)
        assert sum(e.net for e in entries) == own_total  # the independent ledger adds up

        # balances
        balance = await c.portfolios.balance(me.id, "all")
        assert balance.total == own_total, me.email

        # value history: balance and exact value at every day's close
        points, a = await c.portfolios.value_history(me.id, "all", "ALL")
        f = figures(entries, bundled, points[0].day, points[-1].day)
        assert points[0].day == entries[0].day - timedelta(days=1)
        assert [p.balance for p in points] == f.balances, me.email
        for p in points:
            assert p.value == (Decimal(p.balance) * close_on(bundled, p.day) / SATS).quantize(CENT), p.day

        # performance, against the separate implementation above
        perf = a.performance
        assert perf.net_flows == pytest.approx(sum(f.flows[1:]), rel=1e-9)
        assert perf.time_weighted_return == pytest.approx(twr(f.returns), rel=1e-9)
        assert perf.money_weighted_return == pytest.approx(xirr_by_bisection(f), rel=1e-7, abs=1e-10)
        vol, sharpe, sortino = risk_ratios(f.returns, risk_free)
        assert perf.volatility == pytest.approx(vol, rel=1e-9)
        assert perf.sharpe_ratio == pytest.approx(sharpe, rel=1e-9)
        assert perf.sortino_ratio == pytest.approx(sortino, rel=1e-9)
        worst, peak_day, trough_day = drawdown(f)
        assert worst < 0
        assert perf.max_drawdown.value == pytest.approx(worst, rel=1e-9)
        assert (perf.max_drawdown.peak_date, perf.max_drawdown.trough_date) == (peak_day, trough_day)

        # the ledger and the cost basis: payments to the other user are disposals, from them acquisitions
        service_ledger = {(x.txid, x.day, x.kind.value) for x in a.result.ledger}
        assert {x[0] for x in service_ledger} == {e.txid for e in entries}, me.email
        for txid in payments_between(chain, me.names, other.names):
            kind = next(k for t, _, k in service_ledger if t == txid)
            assert kind == "DISPOSAL", (me.email, txid)  # not a transfer between own wallets
        for txid in payments_between(chain, other.names, me.names):
            if txid in {e.txid for e in entries if e.net > 0}:
                assert next(k for t, _, k in service_ledger if t == txid) == "ACQUISITION", (me.email, txid)
        cb = await c.portfolios.cost_basis(me.id, "all", "FIFO")
        realised, held, acquired, rows = fifo(entries, bundled)
        confirmed_total = sum(expected_by_name[n]["confirmed"] for n in me.names)
        assert cb.holdings_sats == held == confirmed_total
        assert {p.txid for p in cb.pending} == {e.txid for e in entries if not e.confirmed}
        assert cb.missing_basis_sats == 0
        # the service rounds each row to cents (half-even): at most a cent per row apart
        assert abs(cb.realized_gain - realised) <= CENT * (2 * rows + 1), (me.email, cb.realized_gain, realised)
        assert abs(cb.acquisitions_cost - acquired) <= CENT, (me.email, cb.acquisitions_cost, acquired)

        # a report of the user's: their figures and transactions only
        r = await c.reports.generate(me.id, "all", "ALL", "JSON")
        await c.reports.wait(r.id)
        assert (await c.reports.get(me.id, r.id)).status == "SUCCEEDED"
        path, _, _ = await c.reports.file(me.id, r.id)
        body = json.loads(path.read_text())
        reports[me.email] = path
        assert body["owner"] == me.email and body["balance"] == own_total
        assert Decimal(body["costBasis"]["realizedGain"]) == cb.realized_gain
        assert body["performance"]["timeWeightedReturn"] == pytest.approx(twr(f.returns), rel=1e-9)
        assert {t["txid"] for t in body["transactions"]} <= {e.txid for e in entries}
        text = path.read_text()
        assert not any(name in text for name in other.names) and other.email not in text

        # events: every wallet event of the user's is about one of their wallets, and each synced
        events = await c.hub.replay(me.id, id_floor(0))
        wallet_events = [e for e in events if e.type in ("walletUpdated", "walletSyncProgress", "transactionReceived")]
        assert {e.subject for e in wallet_events} == set(me.wallet_ids.values()), me.email
        assert all(e.user_id == me.id for e in events)
        received = {e.payload.get("txid") for e in wallet_events if e.type == "transactionReceived"}
        assert received <= {e.txid for e in entries} | {None}, me.email
        with pytest.raises(NotFound):  # and the other user cannot reach this report
            await c.reports.file(other.id, r.id)
    assert reports[ann.email] != reports[ben.email]

    # Costs a user sets (setTransactionCost, or a BIP-329 label "cost: ...") are theirs only, even on
    # a transaction both users have: Ben paying Ann is Ann's acquisition and Ben's disposal.
    acquired = {e.txid: e for e in ledger(chain, ANN) if e.net > 0}
    shared = [t for t in payments_between(chain, BEN, ANN) if t in acquired]
    assert len(shared) >= 2, shared
    before = (await c.portfolios.cost_basis(ann.id, "all", "FIFO")).acquisitions_cost
    first = acquired[shared[0]]
    at_close = Decimal(first.net) * close_on(bundled, first.day) / SATS
    await c.portfolios.set_cost(ann.id, shared[0], Decimal("1234.56"), "USD")
    await c.portfolios.set_cost(ben.id, shared[0], Decimal("99"), "USD")  # Ben's own, set later
    payer = next(n for n in BEN if shared[1] in payments_between(chain, (n,), ANN))
    await c.wallets.set_label(ben.id, ben.wallet_ids[payer], shared[1], "Paid Ann, cost: 5")
    bens = {e.txid for e in ledger(chain, BEN)}
    only_ann = next(t for t in acquired if t not in bens)  # e.g. from the faucet: Ben has no such tx
    with pytest.raises(NotFound):  # a cost for a transaction of Ann's only: not Ben's to set
        await c.portfolios.set_cost(ben.id, only_ann, Decimal("7"), "USD")
    after = (await c.portfolios.cost_basis(ann.id, "all", "FIFO")).acquisitions_cost
    assert abs(after - (before - at_close + Decimal("1234.56"))) <= CENT, (before, after, at_close)
