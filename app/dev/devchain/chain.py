"""The chain model: blocks, transactions, mempool, script-hash index, reorgs.

Everything is in memory. Blocks are valid regtest blocks (BIP34 height in the coinbase, witness
commitment, merkle root, regtest proof of work). The index answers the questions Esplora and
Electrum servers answer: history per script hash, spends per outpoint, utxos.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from app.dev.devchain.builder import verify_input
from app.dev.devchain.primitives import (
    COINBASE_MATURITY,
    NULL_TXID,
    REGTEST_BITS,
    SEQUENCE_FINAL,
    Header,
    Tx,
    TxIn,
    TxOut,
    block_subsidy,
    compact_size,
    merkle_root,
    mine_header,
    parse_tx,
    push_data,
    script_num,
    scripthash,
    sha256d,
)

GENESIS_TX_HEX = (
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ffff"
    "001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e"
    "6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a010000004341"
    "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e5"
    "1ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000"
)
GENESIS_HASH = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
WITNESS_MAGIC = b"\x6a\x24\xaa\x21\xa9\xed"
MIN_RELAY_FEERATE = 1  # sat/vB
# Fee estimates served by default (target blocks -> sat/vB), as Esplora's /fee-estimates keys them.
DEFAULT_FEE_ESTIMATES: dict[int, float] = {
    **{n: round(max(1.0, 25.0 / n + 1.0), 3) for n in range(1, 26)},
    144: 1.0,
    504: 1.0,
    1008: 1.0,
}


class RejectError(Exception):
    """A transaction rejected by mempool policy/consensus, with bitcoind's code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(slots=True)
class Block:
    hash: str
    height: int
    header: Header
    header_raw: bytes
    txids: list[str]
    size: int
    weight: int

    @property
    def time(self) -> int:
        return self.header.time


@dataclass(slots=True)
class Status:
    confirmed: bool
    height: int = 0
    block_hash: str = ""
    block_time: int = 0
    pos: int = 0


@dataclass
class ChainEvent:
    kind: str  # "block" | "mempool" | "reorg"
    scripthashes: set[str] = field(default_factory=set)


class Chain:
    # Class-level default so chains loaded from an older pickle cache have it too.
    fee_overrides: dict[int, float] | None = None

    def __init__(self) -> None:
        self.txs: dict[str, Tx] = {}
        self.blocks: dict[str, Block] = {}
        self.block_txs: dict[str, list[Tx]] = {}
        self.active: list[str] = []  # block hashes by height
        self.confirmed_at: dict[str, tuple[int, int]] = {}  # txid -> (height, pos)
        self.mempool: dict[str, int] = {}  # txid -> arrival sequence
        self._mempool_seq = 0
        self.spends: dict[tuple[str, int], tuple[str, int]] = {}  # outpoint -> (txid, vin)
        self.by_sh: dict[str, dict[str, None]] = {}  # scripthash -> ordered set of txids
        self.listeners: list[Callable[[ChainEvent], None]] = []
        self._connect_genesis()

    # ------------------------------------------------------------------ basics

    def _connect_genesis(self) -> None:
        gtx = parse_tx(bytes.fromhex(GENESIS_TX_HEX))
        header = Header(1, "00" * 32, gtx.txid, 1296688602, REGTEST_BITS, 2)
        raw = header.serialize()
        bhash = sha256d(raw)[::-1].hex()
        assert bhash == GENESIS_HASH, bhash
        # the genesis coinbase is not in the UTXO set / index (as in bitcoind)
        block = Block(bhash, 0, header, raw, [gtx.txid], 80 + 1 + gtx.size, 320 + 4 + gtx.weight)
        self.blocks[bhash] = block
        self.block_txs[bhash] = [gtx]
        self.active.append(bhash)

    @property
    def height(self) -> int:
        return len(self.active) - 1

    @property
    def tip(self) -> Block:
        return self.blocks[self.active[-1]]

    def block_at(self, height: int) -> Block | None:
        if 0 <= height < len(self.active):
            return self.blocks[self.active[height]]
        return None

    def in_best_chain(self, bhash: str) -> bool:
        b = self.blocks.get(bhash)
        return b is not None and b.height < len(self.active) and self.active[b.height] == bhash

    def get_tx(self, txid: str) -> Tx | None:
        tx = self.txs.get(txid)
        if tx is not None:
            return tx
        if txid == self.block_txs[GENESIS_HASH][0].txid:
            return self.block_txs[GENESIS_HASH][0]
        return None

    def status(self, txid: str) -> Status:
        loc = self.confirmed_at.get(txid)
        if loc is None:
            return Status(False)
        b = self.blocks[self.active[loc[0]]]
        return Status(True, loc[0], b.hash, b.time, loc[1])

    def prevout(self, inp: TxIn) -> TxOut | None:
        ptx = self.txs.get(inp.txid)
        if ptx is None or inp.vout >= len(ptx.vout):
            return None
        return ptx.vout[inp.vout]

    def tx_scripthashes(self, tx: Tx) -> set[str]:
        shs = {scripthash(o.spk) for o in tx.vout}
        if not tx.is_coinbase:
            for inp in tx.vin:
                p = self.prevout(inp)
                if p is not None:
                    shs.add(scripthash(p.spk))
        return shs

    def emit(self, event: ChainEvent) -> None:
        for cb in list(self.listeners):
            cb(event)

    # ------------------------------------------------------------------ index

    def _index_add(self, tx: Tx) -> set[str]:
        self.txs[tx.txid] = tx
        if not tx.is_coinbase:
            total_in = 0
            for n, inp in enumerate(tx.vin):
                self.spends[(inp.txid, inp.vout)] = (tx.txid, n)
                p = self.txs[inp.txid].vout[inp.vout]
                total_in += p.value
            tx.fee = total_in - sum(o.value for o in tx.vout)
        shs = self.tx_scripthashes(tx)
        for sh in shs:
            d = self.by_sh.get(sh)
            if d is None:
                self.by_sh[sh] = d = {}
            d[tx.txid] = None
        return shs

    def _index_remove(self, tx: Tx) -> set[str]:
        shs = self.tx_scripthashes(tx)
        for sh in shs:
            d = self.by_sh.get(sh)
            if d is not None:
                d.pop(tx.txid, None)
                if not d:
                    del self.by_sh[sh]
        if not tx.is_coinbase:
            for inp in tx.vin:
                if self.spends.get((inp.txid, inp.vout), ("", 0))[0] == tx.txid:
                    del self.spends[(inp.txid, inp.vout)]
        del self.txs[tx.txid]
        return shs

    def spender(self, txid: str, vout: int) -> tuple[str, int] | None:
        return self.spends.get((txid, vout))

    # ------------------------------------------------------------------ blocks

    def make_coinbase(self, height: int, txs: list[Tx], reward_spk: bytes) -> Tx:
        fees = sum(t.fee for t in txs)
        wtxids = [b"\x00" * 32] + [bytes.fromhex(t.wtxid)[::-1] for t in txs]
        reserved = b"\x00" * 32
        commitment = sha256d(merkle_root(wtxids) + reserved)
        script_sig = script_num(height) + push_data(b"mbf-devchain")
        vin = [TxIn(NULL_TXID, 0xFFFFFFFF, script_sig, [reserved], SEQUENCE_FINAL)]
        vout = [
            TxOut(block_subsidy(height) + fees, reward_spk),
            TxOut(0, WITNESS_MAGIC + commitment),
        ]
        from app.dev.devchain.primitives import make_tx

        return make_tx(2, 0, vin, vout)

    def build_block(self, txs: list[Tx], time: int, reward_spk: bytes) -> tuple[Block, list[Tx]]:
        """Assemble and mine a block on the tip. `txs` need fees set (i.e. be indexed or priced)."""
        height = self.height + 1
        cb = self.make_coinbase(height, txs, reward_spk)
        all_txs = [cb, *txs]
        root = merkle_root([bytes.fromhex(t.txid)[::-1] for t in all_txs])
        header = Header(0x20000000, self.tip.hash, root[::-1].hex(), time, REGTEST_BITS, 0)
        raw, bhash = mine_header(header)
        size = 80 + len(compact_size(len(all_txs))) + sum(t.size for t in all_txs)
        weight = 4 * (80 + len(compact_size(len(all_txs)))) + sum(t.weight for t in all_txs)
        block = Block(bhash, height, header, raw, [t.txid for t in all_txs], size, weight)
        return block, all_txs

    def connect_block(self, block: Block, txs: list[Tx]) -> set[str]:
        """Append a block to the active chain. Txs already in the mempool move to the chain."""
        assert block.header.prev_hash == self.tip.hash
        self.blocks[block.hash] = block
        self.block_txs[block.hash] = txs
        self.active.append(block.hash)
        touched: set[str] = set()
        for pos, tx in enumerate(txs):
            if tx.txid in self.mempool:
                del self.mempool[tx.txid]
                touched |= self.tx_scripthashes(tx)
            else:
                # a conflicting mempool tx (double spend) is evicted with its descendants
                if not tx.is_coinbase:
                    for inp in tx.vin:
                        other = self.spends.get((inp.txid, inp.vout))
                        if other is not None and other[0] in self.mempool:
                            touched |= self.remove_mempool_tx(other[0], recursive=True)
                touched |= self._index_add(tx)
            self.confirmed_at[tx.txid] = (block.height, pos)
        return touched

    def disconnect_tip(self) -> tuple[Block, list[Tx], set[str]]:
        """Remove the tip block. Its transactions (except the coinbase) go back to the mempool."""
        bhash = self.active.pop()
        block = self.blocks[bhash]
        txs = self.block_txs[bhash]
        touched: set[str] = set()
        for tx in txs:
            del self.confirmed_at[tx.txid]
            touched |= self.tx_scripthashes(tx)
        # the coinbase and anything spending it leaves entirely
        cb = txs[0]
        for n in range(len(cb.vout)):
            sp = self.spends.get((cb.txid, n))
            if sp is not None and sp[0] in self.mempool:
                touched |= self.remove_mempool_tx(sp[0], recursive=True)
        touched |= self._index_remove(cb)
        # re-add block txs to the front of the mempool, keeping their order
        readd = {tx.txid: 0 for tx in txs[1:]}
        old = self.mempool
        self.mempool = {}
        for txid in readd:
            self._mempool_seq += 1
            self.mempool[txid] = self._mempool_seq
        for txid, seq in old.items():
            self.mempool[txid] = seq
        return block, txs, touched

    # ------------------------------------------------------------------ mempool

    def remove_mempool_tx(self, txid: str, recursive: bool = True) -> set[str]:
        touched: set[str] = set()
        tx = self.txs.get(txid)
        if tx is None or txid not in self.mempool:
            return touched
        if recursive:
            for n in range(len(tx.vout)):
                sp = self.spends.get((txid, n))
                if sp is not None:
                    touched |= self.remove_mempool_tx(sp[0], recursive=True)
        del self.mempool[txid]
        touched |= self._index_remove(tx)
        return touched

    def add_mempool_unchecked(self, tx: Tx) -> set[str]:
        self._mempool_seq += 1
        self.mempool[tx.txid] = self._mempool_seq
        return self._index_add(tx)

    def mempool_ancestors_unconfirmed(self, tx: Tx) -> bool:
        return any(inp.txid in self.mempool for inp in tx.vin)

    def mempool_descendants(self, txid: str) -> list[str]:
        out: list[str] = []
        stack = [txid]
        seen = {txid}
        while stack:
            t = stack.pop()
            tx = self.txs[t]
            for n in range(len(tx.vout)):
                sp = self.spends.get((t, n))
                if sp is not None and sp[0] not in seen and sp[0] in self.mempool:
                    seen.add(sp[0])
                    out.append(sp[0])
                    stack.append(sp[0])
        return out

    def median_time_past(self, height: int) -> int:
        """BIP-113: the median time of the block at ``height`` and the ten before it."""
        times = sorted(self.blocks[self.active[h]].time for h in range(max(0, height - 10), height + 1))
        return times[len(times) // 2]

    def is_final(self, tx: Tx) -> bool:
        """Lock time rule for the next block (BIP-113: time locks against the tip's median time past)."""
        if tx.locktime == 0 or all(i.sequence == SEQUENCE_FINAL for i in tx.vin):
            return True
        if tx.locktime < 500_000_000:
            return tx.locktime < self.height + 1
        return tx.locktime < self.median_time_past(self.height)

    def sequence_locks_met(self, tx: Tx) -> bool:
        """BIP-68 relative lock times for the next block (Core's CheckSequenceLocks): an input whose
        nSequence has bit 31 clear, in a version >= 2 transaction, waits ``nSequence & 0xffff``
        blocks after its coin's block (bit 22: units of 512 s of median time past). A coin in the
        mempool counts as confirmed in the next block."""
        if tx.version < 2:
            return True
        for inp in tx.vin:
            if inp.sequence & (1 << 31):
                continue
            loc = self.confirmed_at.get(inp.txid)
            coin_height = loc[0] if loc is not None else self.height + 1
            value = inp.sequence & 0xFFFF
            if inp.sequence & (1 << 22):
                start = self.median_time_past(max(0, coin_height - 1))
                if start + (value << 9) - 1 >= self.median_time_past(self.height):
                    return False
            elif coin_height + value - 1 >= self.height + 1:
                return False
        return True

    def check_tx(self, tx: Tx) -> tuple[list[TxOut], list[str]]:
        """Consensus/policy checks. Returns (prevouts, conflicting mempool txids)."""
        if tx.txid in self.txs:
            if tx.txid in self.mempool:
                raise RejectError(-26, "txn-already-in-mempool")
            raise RejectError(-27, "Transaction already in block chain")
        if tx.is_coinbase:
            raise RejectError(-26, "coinbase")
        if not self.is_final(tx):
            raise RejectError(-26, "non-final")
        seen: set[tuple[str, int]] = set()
        prevouts: list[TxOut] = []
        conflicts: list[str] = []
        for inp in tx.vin:
            key = (inp.txid, inp.vout)
            if key in seen:
                raise RejectError(-26, "bad-txns-inputs-duplicate")
            seen.add(key)
            ptx = self.txs.get(inp.txid)
            if ptx is None or inp.vout >= len(ptx.vout):
                raise RejectError(-25, "bad-txns-inputs-missingorspent")
            sp = self.spends.get(key)
            if sp is not None:
                if sp[0] in self.mempool:
                    if sp[0] not in conflicts:
                        conflicts.append(sp[0])
                else:
                    raise RejectError(-25, "bad-txns-inputs-missingorspent")
            if ptx.is_coinbase:
                loc = self.confirmed_at.get(ptx.txid)
                if loc is None or self.height + 1 - loc[0] < COINBASE_MATURITY:
                    raise RejectError(-26, "bad-txns-premature-spend-of-coinbase")
            prevouts.append(ptx.vout[inp.vout])
        if not self.sequence_locks_met(tx):
            raise RejectError(-26, "non-BIP68-final")
        total_in = sum(p.value for p in prevouts)
        total_out = sum(o.value for o in tx.vout)
        if any(o.value < 0 for o in tx.vout) or total_out > 21_000_000 * 100_000_000:
            raise RejectError(-26, "bad-txns-vout-negative")
        if total_in < total_out:
            raise RejectError(-26, "bad-txns-in-belowout")
        fee = total_in - total_out
        if fee < MIN_RELAY_FEERATE * tx.vsize:
            raise RejectError(-26, f"min relay fee not met, {fee} < {MIN_RELAY_FEERATE * tx.vsize}")
        for n in range(len(tx.vin)):
            if not verify_input(tx, n, prevouts):
                raise RejectError(
                    -26,
                    "mandatory-script-verify-flag-failed (Signature must be zero for failed CHECK(MULTI)SIG operation)",
                )
        if conflicts:
            for ctx in (self.txs[c] for c in conflicts):
                if not ctx.signals_rbf:
                    raise RejectError(-26, "txn-mempool-conflict")
            replaced = set(conflicts)
            for c in conflicts:
                replaced.update(self.mempool_descendants(c))
            old_fees = sum(self.txs[r].fee for r in replaced)
            if fee < old_fees + MIN_RELAY_FEERATE * tx.vsize:
                raise RejectError(
                    -26,
                    f"insufficient fee, rejecting replacement {tx.txid}; new feerate "
                    f"too low or not enough additional fees (paid {fee}, replaced {old_fees})",
                )
        return prevouts, conflicts

    def accept(self, tx: Tx) -> set[str]:
        """Validate and add to the mempool (replacing conflicts per BIP125). Emits an event."""
        _prevouts, conflicts = self.check_tx(tx)
        touched: set[str] = set()
        for c in conflicts:
            touched |= self.remove_mempool_tx(c, recursive=True)
        touched |= self.add_mempool_unchecked(tx)
        self.emit(ChainEvent("mempool", touched))
        return touched

    # ------------------------------------------------------------------ fees

    def fee_estimates(self) -> dict[int, float]:
        """Target (blocks) -> sat/vB: the defaults, or what ``set_fee_estimates`` set."""
        return dict(self.fee_overrides if self.fee_overrides is not None else DEFAULT_FEE_ESTIMATES)

    def set_fee_estimates(self, rates: dict[int, float] | None) -> None:
        """Serve other estimates (``None``: the defaults; ``{}``: none, as a node that has not
        seen enough blocks). Rates must be positive."""
        if rates is not None and any(r <= 0 or t < 1 for t, r in rates.items()):
            raise ValueError("fee estimates need targets >= 1 and positive rates")
        self.fee_overrides = None if rates is None else dict(rates)

    def fee_histogram(self) -> list[tuple[float, int]]:
        """The mempool as (fee rate sat/vB, total vsize) per whole sat/vB, highest first
        (ElectrumX's ``mempool.get_fee_histogram`` shape, with finer buckets)."""
        buckets: dict[int, int] = {}
        for tx in self.mempool_in_order():
            rate = tx.fee // max(tx.vsize, 1)
            buckets[rate] = buckets.get(rate, 0) + tx.vsize
        return [(float(r), v) for r, v in sorted(buckets.items(), reverse=True)]

    # ------------------------------------------------------------------ queries

    def history(self, sh: str) -> tuple[list[Tx], list[Tx]]:
        """(confirmed sorted by (height, pos), mempool sorted by arrival)."""
        txids = self.by_sh.get(sh)
        if not txids:
            return [], []
        conf: list[tuple[tuple[int, int], str]] = []
        mem: list[tuple[int, str]] = []
        for txid in txids:
            loc = self.confirmed_at.get(txid)
            if loc is not None:
                conf.append((loc, txid))
            else:
                mem.append((self.mempool.get(txid, 0), txid))
        conf.sort()
        mem.sort()
        return [self.txs[t] for _, t in conf], [self.txs[t] for _, t in mem]

    def outputs_for(self, sh: str, txs: Iterable[Tx]) -> list[tuple[Tx, int, TxOut]]:
        res = []
        for tx in txs:
            for n, o in enumerate(tx.vout):
                if scripthash(o.spk) == sh:
                    res.append((tx, n, o))
        return res

    def mempool_in_order(self) -> list[Tx]:
        return [self.txs[t] for t, _ in sorted(self.mempool.items(), key=lambda kv: kv[1])]

    def topo_mempool(self) -> list[Tx]:
        """Mempool txs in arrival order with parents before children."""
        ordered: list[Tx] = []
        done: set[str] = set()

        def visit(tx: Tx) -> None:
            if tx.txid in done:
                return
            done.add(tx.txid)
            for inp in tx.vin:
                if inp.txid in self.mempool:
                    visit(self.txs[inp.txid])
            ordered.append(tx)

        for tx in self.mempool_in_order():
            visit(tx)
        return ordered
