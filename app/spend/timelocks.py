"""Time locks of miniscript branches: when a coin's ``older(n)`` (BIP-68/112) or ``after(t)``
(BIP-65) is met, what the spending input's ``nSequence`` and the transaction's ``nLockTime`` must be,
and how long a locked coin still has to wait.

The rules are the consensus ones Bitcoin Core applies to the next block: ``older(n)`` with the
height type is met when the coin has at least ``n`` confirmations; with the time type (bit 22)
when the median time past of the tip is at least ``(n & 0xffff) * 512`` seconds after the median
time past of the block before the coin's; ``after(t)`` is met when ``t`` (a height below
500,000,000, else a unix time) is at most the tip height (a height) or below the tip's median
time past (a time), and ``nLockTime >= t`` of the same kind with a non-final sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

LOCKTIME_THRESHOLD = 500_000_000
SEQUENCE_DISABLE = 1 << 31
SEQUENCE_TYPE = 1 << 22
SEQUENCE_MASK = 0x0000FFFF
SEQUENCE_FINAL = 0xFFFFFFFF
BLOCK_SECONDS = 600  # for "about N minutes/hours" in hints


def is_time_older(n: int) -> bool:
    return bool(n & SEQUENCE_TYPE)


def is_time_after(t: int) -> bool:
    return t >= LOCKTIME_THRESHOLD


@dataclass(frozen=True, slots=True)
class ChainState:
    """What the locks are judged against: the tip and the median times past the server knows."""

    tip_height: int
    tip_mtp: int | None = None  # median time past of the tip (None: no time-based lock needs it)
    coin_mtp: dict[int, int] | None = None  # coin height -> median time past of the block before it

    def confirmations(self, coin_height: int | None) -> int:
        return 0 if coin_height is None else max(0, self.tip_height - coin_height + 1)

    def older_met(self, n: int, coin_height: int | None) -> bool:
        if n & SEQUENCE_DISABLE:
            return True  # a disabled relative lock is no lock (miniscript forbids it anyway)
        if not is_time_older(n):
            return self.confirmations(coin_height) >= (n & SEQUENCE_MASK)
        if coin_height is None or self.tip_mtp is None or self.coin_mtp is None or coin_height not in self.coin_mtp:
            return False
        return self.tip_mtp - self.coin_mtp[coin_height] >= (n & SEQUENCE_MASK) * 512

    def after_met(self, t: int) -> bool:
        if is_time_after(t):
            return self.tip_mtp is not None and t < self.tip_mtp
        return t <= self.tip_height

    def older_wait(self, n: int, coin_height: int | None) -> str:
        """'N blocks' (or seconds for time locks) still to wait before ``older(n)`` is met."""
        if is_time_older(n):
            base = self.coin_mtp.get(coin_height or -1) if self.coin_mtp else None
            if base is None or self.tip_mtp is None:
                return f"{(n & SEQUENCE_MASK) * 512} seconds after the coin confirms"
            return f"{max(1, base + (n & SEQUENCE_MASK) * 512 - self.tip_mtp)} seconds"
        left = (n & SEQUENCE_MASK) - self.confirmations(coin_height)
        return f"{left} block{'s' if left != 1 else ''}" + (" after the coin confirms" if coin_height is None else "")

    def after_wait(self, t: int) -> str:
        if is_time_after(t):
            return f"{max(1, t - (self.tip_mtp or 0) + 1)} seconds (until median time past {t})"
        left = t - self.tip_height
        return f"{left} block{'s' if left != 1 else ''} (until height {t})"


def sequence_allows(sequence: int, n: int, tx_version: int) -> bool:
    """Does an input with this ``nSequence`` satisfy ``older(n)`` (BIP-112 CHECKSEQUENCEVERIFY)?"""
    if tx_version < 2 or sequence & SEQUENCE_DISABLE:
        return False
    if (sequence & SEQUENCE_TYPE) != (n & SEQUENCE_TYPE):
        return False
    return (n & SEQUENCE_MASK) <= (sequence & SEQUENCE_MASK)


def locktime_allows(locktime: int, sequence: int, t: int) -> bool:
    """Does a transaction with this ``nLockTime`` (and this input's sequence) satisfy ``after(t)`` (BIP-65)?"""
    if sequence == SEQUENCE_FINAL or is_time_after(locktime) != is_time_after(t):
        return False
    return t <= locktime


def median_time_past(times: list[int]) -> int:
    """BIP-113: the median of the last (up to) 11 block times, oldest first or any order."""
    ordered = sorted(times[-11:])
    return ordered[len(ordered) // 2]
