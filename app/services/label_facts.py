"""The BIP-329 data fields of an export (the BIP's 2025 "Additional Fields"), from the sync
area's history and the stored daily prices, so an accountant's tool can read the file:

- ``tx``: ``height`` and ``time`` (only once fully confirmed, 6 blocks, as the BIP asks), ``fee``,
  ``value`` (signed, the wallet's net amount), ``rate`` (stored close of the block's day per currency);
- ``output`` / ``input``: ``value``, ``keypath``, ``height``/``time`` (of the creating/spending
  transaction), ``fmv`` (value times the stored close of that day, per currency, 2 decimals);
- ``addr``: ``keypath`` and ``heights`` (fully confirmed blocks that pay or spend the address).

Only stored prices are used (an export never waits on a price provider); a day without a stored
close simply has no ``fmv``/``rate``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from app.sync.model import OutputView, TxView
from app.sync.queries import SyncQueries

FULL_CONFIRMATIONS = 6
SATS_PER_BTC = Decimal(100_000_000)
Facts = dict[tuple[str, str], dict[str, Any]]


def _iso(t: datetime) -> str:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LabelFacts:
    def __init__(self, sync: SyncQueries, prices: Any | None = None) -> None:
        self.sync = sync
        self.prices = prices  # PriceService (``stored_closes``), optional

    async def __call__(
        self,
        user_id: str,
        wallet_id: str,
        wanted: Sequence[tuple[str, str]],
        positions: dict[str, tuple[int, int]],
        keypath: Callable[[int, int], str | None],
    ) -> Facts:
        """Facts for the ``(type, ref)`` records; ``positions`` maps the wallet's addresses to
        (chain, index) and ``keypath(chain, index)`` gives the BIP-329 keypath."""
        history = await self.sync.history(user_id, wallet_id)
        tip = (await self.sync.state(user_id, wallet_id)).tip_height
        txs = {t.txid: t for t in history.txs}
        outs = {(o.txid, o.vout): o for o in history.outputs}

        def firm(t: TxView | None) -> bool:
            if t is None or t.height is None or tip is None:
                return False
            return tip - t.height + 1 >= FULL_CONFIRMATIONS

        def when(t: TxView | None) -> dict[str, Any]:
            if t is None or not firm(t):
                return {}
            out: dict[str, Any] = {"height": t.height}
            if t.block_time is not None:
                out["time"] = _iso(t.block_time)
            return out

        def day(t: TxView | None) -> date | None:
            return t.block_time.astimezone(UTC).date() if t is not None and t.block_time is not None else None

        facts: Facts = {}
        valued: list[tuple[tuple[str, str], int, date | None]] = []  # fmv to fill once closes are read
        rated: list[tuple[tuple[str, str], date | None]] = []
        for key in wanted:
            type_, ref = key
            f: dict[str, Any] = {}
            if type_ == "tx":
                t = txs.get(ref)
                if t is not None:
                    f.update(when(t))
                    if t.fee is not None:
                        f["fee"] = t.fee
                    f["value"] = t.net_amount
                    rated.append((key, day(t)))
            elif type_ in ("output", "input"):
                txid, _, n = ref.partition(":")
                vout = int(n)
                if type_ == "output":
                    o = outs.get((txid, vout))
                    t = txs.get(txid)
                    value = o.value if o is not None else None
                    if o is None and t is not None:
                        outputs = history.decoded(t).outputs
                        value = outputs[vout].value if vout < len(outputs) else None
                else:
                    t = txs.get(txid)
                    o, value = None, None
                    if t is not None:
                        inputs = history.decoded(t).inputs
                        if vout < len(inputs):
                            inp = inputs[vout]
                            o = outs.get((inp.prev_txid, inp.prev_vout))
                            value = o.value if o is not None else inp.value
                if value is not None:
                    f["value"] = value
                if o is not None:
                    kp = keypath(o.chain, o.index)
                    if kp:
                        f["keypath"] = kp
                f.update(when(t))
                if value is not None:
                    valued.append((key, value, day(t)))
            elif type_ == "addr":
                pos = positions.get(ref)
                if pos is not None:
                    kp = keypath(*pos)
                    if kp:
                        f["keypath"] = kp
                    if tip is not None:  # never synced: the address's activity is unknown
                        f["heights"] = _heights(pos, history.outputs, txs, firm)
            if f:
                facts[key] = f
        days = {d for _, _, d in valued if d} | {d for _, d in rated if d}
        closes = await self.prices.stored_closes(days) if self.prices is not None and days else {}
        for key, value, d in valued:
            by_cur = closes.get(d) if d else None
            if by_cur:
                btc = Decimal(value) / SATS_PER_BTC
                facts[key]["fmv"] = {cur: btc * close for cur, close in sorted(by_cur.items())}
        for key, d in rated:
            by_cur = closes.get(d) if d else None
            if by_cur:
                facts[key]["rate"] = dict(sorted(by_cur.items()))
        return facts


def _heights(
    pos: tuple[int, int], outs: Sequence[OutputView], txs: dict[str, TxView], firm: Callable[[Any], bool]
) -> list[int]:
    found: set[int] = set()
    for o in outs:
        if (o.chain, o.index) != pos:
            continue
        for txid in (o.txid, o.spent_by):
            t = txs.get(txid) if txid else None
            if t is not None and firm(t) and t.height is not None:
                found.add(t.height)
    return sorted(found)
