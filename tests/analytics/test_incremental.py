"""A lot checkpoint resumed with the rest of the ledger gives the figures of one run over all of it
(every method and fee treatment, lots split across the checkpoint, transfers), and resuming never
changes the checkpoint: two different continuations of one checkpoint both equal their fresh runs."""

from __future__ import annotations

import itertools
import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.analytics.costbasis import (
    EntryKind,
    FeeTreatment,
    LedgerEntry,
    Method,
    WalletMove,
    compute_cost_basis,
    ledger_from_moves,
)
from app.analytics.incremental import LotCheckpoint, ScopedLedger
from app.analytics.pricing import DailyPrices

DAY0 = date(2021, 1, 1)
DAYS = 400


def history(seed: int) -> list[LedgerEntry]:
    rnd = random.Random(seed)
    out: list[LedgerEntry] = []
    held = 0
    for i in range(300):
        day = DAY0 + timedelta(days=rnd.randrange(DAYS))
        kind = rnd.choice([EntryKind.ACQUISITION] * 3 + [EntryKind.DISPOSAL, EntryKind.TRANSFER])
        if kind is EntryKind.ACQUISITION or held < 10_000:
            sats = rnd.randrange(10_000, 5_000_000)
            held += sats
            out.append(LedgerEntry(f"t{i:04d}", day, EntryKind.ACQUISITION, sats, 0, ("w",), rnd.random() > 0.05))
        elif kind is EntryKind.DISPOSAL:
            sats = rnd.randrange(1, held)
            held -= sats
            out.append(LedgerEntry(f"t{i:04d}", day, kind, sats, rnd.randrange(0, 2_000), ("w",)))
        else:
            out.append(LedgerEntry(f"t{i:04d}", day, kind, 0, rnd.randrange(1, 2_000), ("w",)))
    out.sort(key=lambda e: (e.day, e.txid))
    return out


PRICES = DailyPrices.from_pairs(
    [(DAY0 + timedelta(days=i), Decimal(30_000 + (i * 7919) % 20_000) + Decimal("0.37")) for i in range(DAYS)]
)


@pytest.mark.parametrize("fees", list(FeeTreatment))
@pytest.mark.parametrize("method", list(Method))
def test_resumed_checkpoint_equals_one_run(method: Method, fees: FeeTreatment) -> None:
    entries = history(7)
    costs = {entries[3].txid: Decimal("1234.56")}
    end = DAY0 + timedelta(days=DAYS - 1)
    now = Decimal("65000.01")
    through = DAY0 + timedelta(days=250)
    cp = LotCheckpoint.build(entries, PRICES, through, method, costs, long_term_months=12, fee_treatment=fees)
    fresh = compute_cost_basis(entries, PRICES, method, now, costs, fee_treatment=fees)
    assert cp.result(entries, PRICES, end, now) == fresh
    # another continuation of the same checkpoint (the tail changed): equals its own fresh run
    other = [e for e in entries if e.day <= through or int(e.txid[1:]) % 3] + [
        LedgerEntry("zzz", end, EntryKind.DISPOSAL, 1_000_000, 500, ("w",))
    ]
    assert cp.result(other, PRICES, end, now) == compute_cost_basis(
        other, PRICES, method, now, costs, fee_treatment=fees
    )
    assert cp.result(entries, PRICES, end, now) == fresh  # the checkpoint itself never moved
    # The period sums: the checkpoint's rows summed once (kept on it), the later rows per result.
    for ledger in (entries, other, entries):
        resumed, whole = cp.result(ledger, PRICES, end, now), compute_cost_basis(
            ledger, PRICES, method, now, costs, fee_treatment=fees
        )
        assert resumed._prefix is not None and 0 < resumed._prefix[0] < len(resumed.disposals)
        for span in ((None, None), (DAY0 + timedelta(days=100), end), (through, None), (None, DAY0)):
            assert resumed.realized_in(*span) == whole.realized_in(*span)
            for fy in ((1, 1), (4, 6)):
                assert resumed.summary_in(*span, fy) == whole.summary_in(*span, fy)
    assert cp.sums  # kept for the next result


def test_scoped_ledger_patched_per_txid_equals_a_fresh_one() -> None:
    rows = [
        WalletMove("a", "hot", DAY0, 5_000_000),
        WalletMove("b", "hot", DAY0 + timedelta(days=1), -2_000_500, 500),
        WalletMove("b", "cold", DAY0 + timedelta(days=1), 2_000_000),
        WalletMove("c", "cold", DAY0 + timedelta(days=2), -1_000_300, 300),
    ]
    for scope, built in itertools.product((frozenset({"hot"}), frozenset({"hot", "cold"})), (False, True)):
        ledger = ScopedLedger(rows, scope)
        if built:  # entries and movements built before the patch: only their tail is rebuilt
            assert ledger.movements.net_sats.size == len(ledger.entries)
        changed = {
            "c": [],  # replaced (RBF) or reorged out
            "d": [WalletMove("d", "cold", DAY0 + timedelta(days=3), -700_200, 200, False)],  # its replacement
            "b": [WalletMove("b", "hot", DAY0 + timedelta(days=1), -2_000_500, 500)],  # cold row gone
        }
        lowest = ledger.patch(changed)
        now = [r for r in rows if r.txid not in changed] + [r for rs in changed.values() for r in rs]
        assert ledger.entries == ledger_from_moves(now, set(scope))
        fresh = ScopedLedger(now, scope)
        assert ledger.keys == fresh.keys
        for a, b in zip(
            (ledger.movements.days, ledger.movements.net_sats, ledger.movements.fee_sats),
            (fresh.movements.days, fresh.movements.net_sats, fresh.movements.fee_sats),
            strict=True,
        ):
            assert (a == b).all()
        assert lowest == (DAY0 + timedelta(days=1), "b")
        assert ledger.tail_rebuilds == int(built)
        assert ledger.patch({"b": changed["b"]}) is None  # the same rows again: nothing changed


def test_scoped_ledger_patched_again_and_again_equals_a_fresh_one() -> None:
    """Random changes (new, changed, gone; early and late days) to a ledger read between them."""
    rnd = random.Random(5)

    def rows_of(txid: str) -> list[WalletMove]:
        day = DAY0 + timedelta(days=rnd.randrange(60))
        if rnd.random() < 0.5:
            return [WalletMove(txid, rnd.choice(["hot", "cold"]), day, rnd.randrange(1, 10**7), 0, rnd.random() > 0.2)]
        fee = rnd.randrange(1, 900)
        out = [WalletMove(txid, "hot", day, -rnd.randrange(10**5, 10**6) - fee, fee)]
        if rnd.random() < 0.5:
            out.append(WalletMove(txid, "cold", day, -out[0].net_sats - fee))
        return out

    current = {f"t{i:03d}": rows_of(f"t{i:03d}") for i in range(200)}
    for scope in (frozenset({"hot"}), frozenset({"hot", "cold"})):
        ledger = ScopedLedger([r for rs in current.values() for r in rs], scope)
        for _ in range(25):
            _ = ledger.movements  # read between changes, as requests do
            changed: dict[str, list[WalletMove]] = {}
            for _ in range(rnd.randrange(1, 6)):
                txid = rnd.choice([*current, f"n{rnd.randrange(10**6)}"])
                changed[txid] = [] if rnd.random() < 0.3 else rows_of(txid)
            current.update(changed)
            ledger.patch(changed)
            fresh = ScopedLedger([r for rs in current.values() for r in rs], scope)
            assert ledger.entries == fresh.entries
            for a, b in zip(
                (ledger.movements.days, ledger.movements.net_sats, ledger.movements.fee_sats),
                (fresh.movements.days, fresh.movements.net_sats, fresh.movements.fee_sats),
                strict=True,
            ):
                assert (a == b).all()
        assert ledger.tail_rebuilds > 0
