"""Coin selection as Bitcoin Core does it (``src/wallet/coinselection.cpp``), pure and synchronous.

Three algorithms run on the same candidates and the result with the lowest *waste* wins:

- **branch and bound** (Murch's algorithm): a changeless input set whose effective value lands in
  ``[target, target + cost_of_change]``, depth-first over values sorted high to low, bounded at
  ``BNB_MAX_TRIES`` (100,000) tries like Core;
- **knapsack** (Core's ``KnapsackSolver``): an exact match, else the best of 1,000 random
  approximations of a subset a little above target + minimum change, or the smallest single coin
  that covers it;
- **single random draw**: coins in random order until target + change is covered.

Amounts are satoshis; fee rates are sat/kvB integers (Core's ``CFeeRate``), so no floats touch money.
Waste (Core's ``GetSelectionWaste``): for every input ``fee(now) - fee(long-term rate)``, plus the
cost of the change output (creating it now and spending it later) when there is change, or the
excess given to miners when there is none.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

BNB_MAX_TRIES = 100_000
KNAPSACK_ITERATIONS = 1_000
# Knapsack's random subsets cost O(coins) per round (1,000 rounds): in Python that is ~1.5 s at
# 10,000 coins, so above this many eligible coins only branch and bound and SRD run.
KNAPSACK_MAX_COINS = 1_000
MIN_CHANGE = 1_000  # sats: never create change below max(dust, this) — it is added to the fee instead


def fee_for(weight: int, rate_kvb: int) -> int:
    """The fee in sats for ``weight`` WU at ``rate_kvb`` sat/kvB on whole virtual bytes, as Bitcoin
    Core's ``CFeeRate::GetFee(vsize)``, rounded up so the rate is never under the one asked."""
    vsize = -(-weight // 4)
    return -(-vsize * rate_kvb // 1000)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A coin that may be spent: its outpoint, value and the weight its input adds once signed."""

    txid: str
    vout: int
    value: int
    weight: int
    confirmed: bool = True

    @property
    def outpoint(self) -> str:
        return f"{self.txid}:{self.vout}"


@dataclass(frozen=True, slots=True)
class SelectionParams:
    rate_kvb: int  # the fee rate the transaction pays
    long_term_kvb: int  # the rate inputs are expected to cost later (Core: 10 sat/vB)
    change_weight: int  # weight of the change output
    change_spend_weight: int  # weight of an input spending the change later
    min_change: int  # smallest change worth creating (dust limit of the change script, at least MIN_CHANGE)

    @property
    def change_fee(self) -> int:
        return fee_for(self.change_weight, self.rate_kvb)

    @property
    def cost_of_change(self) -> int:
        return self.change_fee + fee_for(self.change_spend_weight, self.long_term_kvb)


@dataclass(slots=True)
class Selection:
    algorithm: str  # "bnb" | "knapsack" | "srd" | "manual" | "all"
    coins: list[Candidate]
    waste: int
    tries: int = 0
    candidates: dict[str, int] = field(default_factory=dict)  # algorithm -> its waste, for reports

    @property
    def total(self) -> int:
        return sum(c.value for c in self.coins)


class InsufficientFunds(Exception):
    """Not enough value among the eligible coins for the target and its fees."""

    def __init__(self, available: int, needed: int) -> None:
        super().__init__(f"available {available} sats, needed {needed}")
        self.available = available
        self.needed = needed


def effective_value(c: Candidate, rate_kvb: int) -> int:
    return c.value - fee_for(c.weight, rate_kvb)


def waste(coins: Sequence[Candidate], p: SelectionParams, change: bool, target: int) -> int:
    """Core's waste metric for ``coins`` meeting ``target`` (effective, i.e. fees of the inputs excluded)."""
    w = sum(fee_for(c.weight, p.rate_kvb) - fee_for(c.weight, p.long_term_kvb) for c in coins)
    if change:
        return w + p.cost_of_change
    return w + sum(effective_value(c, p.rate_kvb) for c in coins) - target


def branch_and_bound(
    coins: Sequence[Candidate], target: int, p: SelectionParams, max_tries: int = BNB_MAX_TRIES
) -> tuple[list[Candidate] | None, int]:
    """A changeless selection: effective value in ``[target, target + cost_of_change]`` with the
    least waste found in ``max_tries`` steps. ``target`` excludes the inputs' own fees."""
    pool = sorted(
        (c for c in coins if effective_value(c, p.rate_kvb) > 0),
        key=lambda c: effective_value(c, p.rate_kvb),
        reverse=True,
    )
    values = [effective_value(c, p.rate_kvb) for c in pool]
    waste_of = [fee_for(c.weight, p.rate_kvb) - fee_for(c.weight, p.long_term_kvb) for c in pool]
    upper = target + p.cost_of_change
    available = sum(values)
    if available < target:
        return None, 0
    high_rate = p.rate_kvb > p.long_term_kvb  # then adding inputs only adds waste: prune on it
    selected: list[int] = []
    cur_value = cur_waste = 0
    best: list[int] | None = None
    best_waste = 2**63
    tries = 0
    i = 0
    while tries < max_tries:
        tries += 1
        backtrack = False
        if cur_value + available < target or cur_value > upper or (high_rate and cur_waste > best_waste):
            backtrack = True
        elif cur_value >= target:
            if cur_waste + cur_value - target <= best_waste:
                best, best_waste = list(selected), cur_waste + cur_value - target
            backtrack = True
        if backtrack:
            if not selected:
                break  # the whole tree was walked
            # Give back the coins omitted after the last selected one, then omit that one instead.
            i -= 1
            while i > selected[-1]:
                available += values[i]
                i -= 1
            cur_value -= values[i]
            cur_waste -= waste_of[i]
            selected.pop()
        else:
            available -= values[i]
            twin_of_omitted = (
                selected
                and selected[-1] != i - 1
                and i > 0
                and values[i] == values[i - 1]
                and waste_of[i] == waste_of[i - 1]
            )
            if not twin_of_omitted:  # including an equal twin of an omitted coin repeats a branch
                selected.append(i)
                cur_value += values[i]
                cur_waste += waste_of[i]
        i += 1
    if best is None:
        return None, tries
    return [pool[k] for k in best], tries


def knapsack(coins: Sequence[Candidate], target: int, p: SelectionParams, rng: random.Random) -> list[Candidate] | None:
    """Core's knapsack: exact match, all smaller coins, the lowest larger coin, or the best random
    subset above ``target + min_change`` (1,000 rounds). Values here are effective values."""
    want = target + p.change_fee + p.min_change
    pool = [c for c in coins if effective_value(c, p.rate_kvb) > 0]
    rng.shuffle(pool)
    ev = {c.outpoint: effective_value(c, p.rate_kvb) for c in pool}
    lowest_larger: Candidate | None = None
    smaller: list[Candidate] = []
    for c in pool:
        v = ev[c.outpoint]
        if v == target:
            return [c]
        if v < want:
            smaller.append(c)
        elif lowest_larger is None or v < ev[lowest_larger.outpoint]:
            lowest_larger = c
    total_lower = sum(ev[c.outpoint] for c in smaller)
    if total_lower == target:
        return smaller
    if total_lower < target:
        return [lowest_larger] if lowest_larger is not None else None
    smaller.sort(key=lambda c: ev[c.outpoint], reverse=True)
    vals = [ev[c.outpoint] for c in smaller]
    best_set, best_sum = _approximate_best_subset(vals, total_lower, want if total_lower >= want else target, rng)
    if lowest_larger is not None and (best_sum < target or ev[lowest_larger.outpoint] <= best_sum):
        return [lowest_larger]
    if best_sum < target:
        return None
    return [c for c, inc in zip(smaller, best_set, strict=True) if inc]


def _approximate_best_subset(
    vals: list[int], total_lower: int, target: int, rng: random.Random
) -> tuple[list[bool], int]:
    best = [True] * len(vals)
    best_sum = total_lower
    for _ in range(KNAPSACK_ITERATIONS):
        if best_sum == target:
            break
        included = [False] * len(vals)
        total = 0
        reached = False
        for npass in range(2):
            if reached:
                break
            for i, v in enumerate(vals):
                if (rng.random() < 0.5 if npass == 0 else not included[i]) and not included[i]:
                    total += v
                    included[i] = True
                    if total >= target:
                        reached = True
                        if total < best_sum:
                            best_sum, best = total, list(included)
                        total -= v
                        included[i] = False
    return best, best_sum


def single_random_draw(
    coins: Sequence[Candidate], target: int, p: SelectionParams, rng: random.Random
) -> list[Candidate] | None:
    """Coins in random order until ``target`` + change fee + minimum change is covered."""
    want = target + p.change_fee + p.min_change
    pool = [c for c in coins if effective_value(c, p.rate_kvb) > 0]
    rng.shuffle(pool)
    picked: list[Candidate] = []
    total = 0
    for c in pool:
        picked.append(c)
        total += effective_value(c, p.rate_kvb)
        if total >= want:
            return picked
    return None


def select_coins(
    coins: Sequence[Candidate], target: int, p: SelectionParams, rng: random.Random | None = None
) -> Selection:
    """The least-waste selection among branch and bound, knapsack and single random draw.

    ``target`` is what the transaction must fund besides its inputs: the payments plus the fee of
    everything but the inputs (and but the change output). ``InsufficientFunds`` when nothing works.
    """
    rng = rng or random.Random()
    results: list[Selection] = []
    bnb, tries = branch_and_bound(coins, target, p)
    if bnb:
        results.append(Selection("bnb", bnb, waste(bnb, p, False, target), tries))
    ks = knapsack(coins, target, p, rng) if len(coins) <= KNAPSACK_MAX_COINS else None
    if ks:
        results.append(Selection("knapsack", ks, waste(ks, p, _has_change(ks, target, p), target), tries))
    srd = single_random_draw(coins, target, p, rng)
    if srd:
        results.append(Selection("srd", srd, waste(srd, p, True, target), tries))
    if not results:
        available = sum(max(0, effective_value(c, p.rate_kvb)) for c in coins)
        raise InsufficientFunds(available, target + p.change_fee)
    by_algo = {r.algorithm: r.waste for r in results}
    # Least waste; on a tie Core prefers more inputs (consolidates at the same cost).
    best = min(results, key=lambda r: (r.waste, -len(r.coins)))
    best.candidates = by_algo
    return best


def _has_change(coins: Sequence[Candidate], target: int, p: SelectionParams) -> bool:
    excess = sum(effective_value(c, p.rate_kvb) for c in coins) - target
    return excess - p.change_fee >= p.min_change


def change_after_fee(
    values: Sequence[int],
    payments: int,
    input_weight: int | Sequence[int],
    payment_spk_lens: Sequence[int],
    change_spk_len: int,
    segwit: bool,
    rate_kvb: int,
    min_change: int,
) -> int:
    """The change once the fee is computed on the whole transaction's vsize (not on each part
    rounded up, as selection estimates it); 0 when it would be below ``min_change`` (it goes to
    the fee then). ``input_weight``: one for every input, or each input's own (mixed script types)."""
    from app.spend.sizes import tx_weight

    weights = [input_weight] * len(values) if isinstance(input_weight, int) else list(input_weight)
    weight = tx_weight(weights, [*payment_spk_lens, change_spk_len], segwit)
    change = sum(values) - payments - fee_for(weight, rate_kvb)
    return change if change >= min_change else 0
