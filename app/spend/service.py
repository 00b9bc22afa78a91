"""The spending service: create, analyze, combine, finalize and broadcast PSBTs for watch-only
wallets. Knows nothing of GraphQL; every method takes the user id and answers NOT_FOUND for a
wallet that is not the user's. Nothing is stored for a request that fails."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING, Any

import structlog
from embit.psbt import PSBT
from embit.transaction import Transaction, TransactionOutput
from sqlmodel import select

from app.bitcoin.addresses import address_from_script, script_from_address
from app.bitcoin.networks import Network
from app.errors import BadInput, NotFound
from app.spend import psbt as P
from app.spend import sizes
from app.spend import timelocks as TL
from app.spend.fees import FeeService
from app.spend.selection import (
    MIN_CHANGE,
    Candidate,
    InsufficientFunds,
    Selection,
    SelectionParams,
    change_after_fee,
    effective_value,
    fee_for,
    select_coins,
    waste,
)
from app.spend.templates import InputPlan, SpendTemplate, preimage_hashes, template_for
from app.store.db import Store, background_context
from app.store.models.spend import PsbtDraft

if TYPE_CHECKING:
    from app.chain.factory import ChainBackends
    from app.services.wallets import WalletService
    from app.sync.jobs import SyncService

log = structlog.get_logger(__name__)

SEQUENCE_RBF = 0xFFFFFFFD
SEQUENCE_NO_RBF = 0xFFFFFFFE  # still enables the locktime (anti-fee-sniping)
LONG_TERM_RATE_KVB = 10_000  # Core's -consolidatefeerate: 10 sat/vB
MAX_FEE_RATE = Decimal(10_000)
MAX_OUTPUTS = 1000


@dataclass(frozen=True, slots=True)
class OutputRequest:
    address: str
    amount: int | None  # None: send max (everything left after the other outputs and the fee)


@dataclass(frozen=True, slots=True)
class CreatePsbtInput:
    wallet_id: str
    outputs: Sequence[OutputRequest]
    fee_rate: Decimal | None = None  # sat/vB
    fee_target: str | None = None  # FASTEST | HALF_HOUR | HOUR | ECONOMY | MINIMUM
    utxos: Sequence[str] | None = None  # "txid:vout" chosen by the user (coin control)
    rbf: bool = True
    change_address: str | None = None
    psbt_version: int = 0  # 0: BIP-174; 2: BIP-370 (for signers that need it)
    signers: Sequence[str] | None = None  # master fingerprints that will sign (None: every key)


@dataclass(slots=True)
class PsbtInputView:
    txid: str
    vout: int
    value: int | None
    address: str | None
    ours: bool
    signed_by: list[str] = field(default_factory=list)  # master fingerprints (hex) that signed
    missing: list[str] = field(default_factory=list)  # fingerprints still to sign (ours only)
    complete: bool = False


@dataclass(slots=True)
class PsbtOutputView:
    address: str | None
    value: int
    ours: bool
    change: bool


@dataclass(slots=True)
class PsbtView:
    """A PSBT and what it does, from the wallet's view."""

    psbt: str  # base64
    txid: str  # of the unsigned transaction (= the final txid for segwit-only inputs)
    inputs: list[PsbtInputView]
    outputs: list[PsbtOutputView]
    fee: int | None
    vsize: int  # estimated once signed
    fee_rate: Decimal | None  # sat/vB on the estimated vsize
    rbf: bool
    locktime: int
    signatures_required: int
    complete: bool  # every input has enough signatures to finalize
    algorithm: str | None = None
    waste: int | None = None
    change_address: str | None = None
    draft_id: str | None = None  # stored drafts (createPsbt, bumpFee, cpfp): GET /psbt/{draft_id}
    version: int = 0  # of the PSBT: 0 (BIP-174) or 2 (BIP-370)


@dataclass(frozen=True, slots=True)
class FinalizedTx:
    txid: str
    hex: str
    psbt: str  # the finalized PSBT (base64)


@dataclass(frozen=True, slots=True)
class DraftView:
    """A stored PSBT draft, as ``GET /psbt/{id}`` serves it."""

    id: str
    wallet_id: str
    txid: str  # of the unsigned transaction
    kind: str  # create | bump | cpfp
    psbt: str  # base64


class SpendService:
    def __init__(
        self,
        store: Store,
        wallets: WalletService,
        sync: SyncService,
        chain: ChainBackends,
        fees: FeeService,
        *,
        output_order: str = "random",
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.wallets = wallets
        self.sync = sync
        self.chain = chain
        self.fees = fees
        self.output_order = output_order
        self._rng = rng or random.SystemRandom()

    # -- helpers ---------------------------------------------------------------------------

    async def _wallet(self, user_id: str, wallet_id: str) -> tuple[Any, SpendTemplate]:
        """The wallet and its spend template (``BAD_USER_INPUT`` naming a keychain that cannot be spent)."""
        view = await self.wallets.get_wallet(user_id, wallet_id)  # NotFound for others' wallets
        return view, template_for(await self.wallets.watched(user_id, wallet_id))

    async def _rate_kvb(self, network: str, inp: CreatePsbtInput) -> int:
        if (inp.fee_rate is None) == (inp.fee_target is None):
            raise BadInput("Give either feeRate (sat/vB) or feeTarget.", field="feeRate")
        if inp.fee_rate is not None:
            rate = inp.fee_rate
            if not rate.is_finite() or rate < 1 or rate > MAX_FEE_RATE:
                raise BadInput(
                    f"feeRate must be between 1 and {MAX_FEE_RATE} sat/vB.",
                    field="feeRate",
                    hint="1 sat/vB is the minimum relay fee of Bitcoin Core nodes.",
                )
        else:
            rate = await self.fees.rate_for(network, str(inp.fee_target))
        return int((rate * 1000).to_integral_value(rounding=ROUND_CEILING))

    @staticmethod
    def _signer_set(desc: SpendTemplate, given: Sequence[str] | None) -> frozenset[str] | None:
        """The signers' master fingerprints, each one of the wallet's (``signers[i]`` otherwise)."""
        if given is None:
            return None
        out = set()
        for n, fp in enumerate(given):
            f = fp.strip().lower()
            if f not in desc.fingerprints:
                raise BadInput(
                    f"signers[{n}] {fp} is not the master fingerprint of a key of this wallet.",
                    field=f"signers[{n}]",
                    hint="The wallet's keys: " + ", ".join(desc.fingerprints) + ".",
                )
            out.add(f)
        if not out:
            raise BadInput("Name at least one signer, or leave signers out (every key).", field="signers")
        return frozenset(out)

    async def _chain_state(self, backend: Any, heights: Sequence[int | None], times: bool) -> TL.ChainState:
        """The tip and, for time-based locks only (``times``), the median times past they are
        judged by (BIP-113): of the tip, and of the block before each coin's (``heights``)."""
        tip = await backend.tip()
        if not times:
            return TL.ChainState(tip.height)
        confirmed = sorted({h for h in heights if h is not None})
        wanted = {x for x in range(max(0, tip.height - 10), tip.height + 1)}
        if len(confirmed) <= 200:
            for h in confirmed:
                wanted.update(range(max(0, h - 11), h))
        headers = await backend.block_headers(sorted(wanted))
        block_times = {h: hd.time for h, hd in headers.items()}

        def mtp(top: int) -> int | None:
            window = [block_times[x] for x in range(max(0, top - 10), top + 1) if x in block_times]
            return TL.median_time_past(window) if window else None

        coin_mtp = {h: m for h in confirmed if h > 0 and (m := mtp(h - 1)) is not None}
        return TL.ChainState(tip.height, mtp(tip.height), coin_mtp)

    # -- create ----------------------------------------------------------------------------

    async def create_psbt(self, user_id: str, inp: CreatePsbtInput) -> PsbtView:
        view, desc = await self._wallet(user_id, inp.wallet_id)
        network: Network = view.network
        _check_version(inp.psbt_version)
        if not inp.outputs:
            raise BadInput("Give at least one output.", field="outputs")
        if len(inp.outputs) > MAX_OUTPUTS:
            raise BadInput(f"At most {MAX_OUTPUTS} outputs.", field="outputs")
        targets: list[tuple[bytes, int | None]] = []
        for n, o in enumerate(inp.outputs):
            spk = script_from_address(o.address, network, field=f"outputs[{n}].address")
            if o.amount is not None:
                dust = sizes.dust_threshold(spk)
                if o.amount < dust:
                    raise BadInput(
                        f"outputs[{n}].amount {o.amount} sats is below the dust limit of {dust} sats for this address.",
                        field=f"outputs[{n}].amount",
                        hint="Nodes do not relay outputs worth less than it costs to spend them.",
                    )
            targets.append((spk, o.amount))
        if sum(1 for _, a in targets if a is None) > 1:
            raise BadInput("Only one output can send the maximum (amount left out).", field="outputs")
        rate_kvb = await self._rate_kvb(network.value.lower(), inp)
        backend = await self.chain.get(network.value.lower())
        signers = self._signer_set(desc, inp.signers)

        candidates, by_outpoint, positions, heights = await self._candidates(user_id, inp.wallet_id, desc)
        plans: dict[str, InputPlan] = {}
        if signers is not None or desc.has_locks:  # which branch, which time locks, per coin
            coin_heights = list(heights.values()) if desc.needs_coin_times else []
            state = await self._chain_state(backend, coin_heights, desc.needs_times)
            for op in by_outpoint:
                plans[op] = desc.plan(positions[op][0], signers, heights[op], state)
        manual = inp.utxos is not None
        if manual:
            chosen: list[Candidate] = []
            for n, ref in enumerate(inp.utxos or []):
                key = ref.strip().lower()
                c = by_outpoint.get(key)
                if c is None:
                    raise BadInput(f"utxos[{n}] {ref} is not an unspent output of this wallet.", field=f"utxos[{n}]")
                plan = plans.get(c.outpoint)
                if plan is not None and not plan.ok:
                    raise _locked(plan, f"utxos[{n}]", ref)
                if c not in chosen:
                    chosen.append(c)
            if not chosen:
                raise BadInput("Choose at least one UTXO, or leave utxos out.", field="utxos")
            pool = chosen
        else:
            frozen_keys = {str(o) for o in await self.wallets.frozen_outpoints(user_id, inp.wallet_id)}
            pool = [c for c in candidates if c.outpoint not in frozen_keys]
            if plans:
                usable = [c for c in pool if plans[c.outpoint].ok]
                if pool and not usable:
                    raise _none_unlocked([plans[c.outpoint] for c in pool], signers is not None)
                pool = usable
            if not pool:
                total_frozen = sum(c.value for c in candidates if c.outpoint in frozen_keys)
                raise BadInput(
                    "No spendable coins: "
                    + (f"all {total_frozen} sats are in frozen outputs." if total_frozen else "the wallet is empty."),
                    field="outputs",
                    hint="Unfreeze outputs or choose them with utxos." if total_frozen else None,
                )

        change_spk_len = desc.change_spk_len
        change_override: bytes | None = None
        if inp.change_address:
            change_override = script_from_address(inp.change_address, network, field="changeAddress")
            change_spk_len = len(change_override)
        segwit = desc.any_segwit
        pay_lens = [len(spk) for spk, _ in targets]
        base_weight = sizes.tx_weight([], pay_lens, segwit)
        change_w = sizes.output_weight(change_spk_len)
        in_w = desc.input_weight(desc.change_chain)  # spending the change later
        min_change = max(MIN_CHANGE, sizes.dust_threshold(b"\x00" * change_spk_len) if change_spk_len else 0)
        params = SelectionParams(rate_kvb, LONG_TERM_RATE_KVB, change_w, in_w, min_change)
        fixed = sum(a for _, a in targets if a is not None)
        send_max = any(a is None for _, a in targets)
        base_fee = fee_for(base_weight, rate_kvb)

        selection: Selection
        if send_max:
            coins = list(pool)
            total = sum(c.value for c in coins)
            fee = fee_for(base_weight + sum(c.weight for c in coins), rate_kvb)
            rest = total - fixed - fee
            max_index = next(i for i, (_, a) in enumerate(targets) if a is None)
            dust = sizes.dust_threshold(targets[max_index][0])
            if rest < dust:
                raise BadInput(
                    f"Nothing to send: {total} sats in {len(coins)} coins, minus {fixed} sats of other outputs "
                    f"and a {fee} sats fee, leaves {max(rest, 0)} sats (dust limit {dust}).",
                    field="outputs",
                )
            targets[max_index] = (targets[max_index][0], rest)
            selection = Selection("all" if not manual else "manual", coins, waste(coins, params, False, 0))
            change_value = 0
        else:
            target = fixed + base_fee
            if manual:
                coins = list(pool)
                available = sum(effective_value(c, rate_kvb) for c in coins)
                if available < target:
                    raise BadInput(
                        f"The chosen UTXOs hold {sum(c.value for c in coins)} sats: not enough for "
                        f"{fixed} sats plus fees at this rate.",
                        field="utxos",
                    )
                has_change = available - target - params.change_fee >= min_change
                selection = Selection("manual", coins, waste(coins, params, has_change, target))
            else:
                try:
                    selection = select_coins(pool, target, params, random.Random(self._rng.random()))
                except InsufficientFunds as exc:
                    balance = sum(c.value for c in pool)
                    raise BadInput(
                        f"Insufficient funds: {balance} sats spendable, {fixed} sats to send plus fees "
                        f"({exc.needed - fixed} sats or more at this rate).",
                        field="outputs",
                        hint="Frozen outputs and unconfirmed coins from others are not counted."
                        if len(pool) < len(candidates)
                        else None,
                    ) from None
            change_value = change_after_fee(
                [c.value for c in selection.coins],
                fixed,
                [c.weight for c in selection.coins],
                pay_lens,
                change_spk_len,
                segwit,
                rate_kvb,
                min_change,
            )
        # Change: the wallet's next unused change address, reserved for this draft.
        outputs: list[P.OutputSpec] = [P.OutputSpec(spk, a or 0) for spk, a in targets]
        change_address: str | None = None
        if change_value > 0:
            if change_override is not None:
                outputs.append(P.OutputSpec(change_override, change_value))
                change_address = inp.change_address
            else:
                reserved = await self.wallets.reserve_change_address(user_id, inp.wallet_id)
                spk = bytes.fromhex(reserved.script_pubkey)
                outputs.append(P.OutputSpec(spk, change_value, reserved.index, reserved.keychain))
                change_address = reserved.address
        coins = list(selection.coins)
        if self.output_order == "bip69":
            coins.sort(key=lambda c: (c.txid, c.vout))
            outputs.sort(key=lambda o: (o.value, o.script_pubkey))
        else:
            self._rng.shuffle(coins)
            self._rng.shuffle(outputs)
        prev_txs: dict[str, str] = {}
        need_prev = sorted({c.txid for c in coins if desc.needs_prev_tx(positions[c.outpoint][0])})
        if need_prev:
            prev_txs = await backend.transactions_hex(need_prev)
        tip = await backend.tip()
        locktime = _with_after(
            anti_fee_sniping_locktime(tip.height, self._rng),
            [p.after for c in coins if (p := plans.get(c.outpoint)) is not None and p.after is not None],
        )
        sequence = SEQUENCE_RBF if inp.rbf else SEQUENCE_NO_RBF
        specs = []
        for c in coins:
            chain_, index = positions[c.outpoint]
            raw = prev_txs.get(c.txid)
            plan = plans.get(c.outpoint)
            seq = plan.older if plan is not None and plan.older is not None else sequence  # BIP-68: older(n)
            specs.append(P.InputSpec(c.txid, c.vout, c.value, chain_, index, bytes.fromhex(raw) if raw else None, seq))
        psbt = P.build_psbt(desc, specs, outputs, locktime, version=inp.psbt_version)
        result = await self._analyze(user_id, inp.wallet_id, desc, network, psbt)
        result.algorithm, result.waste, result.change_address = selection.algorithm, selection.waste, change_address
        await self._save_draft(user_id, inp.wallet_id, result, "create")
        log.info(
            "psbt_created",
            wallet=inp.wallet_id,
            inputs=len(specs),
            outputs=len(outputs),
            algorithm=selection.algorithm,
            fee=result.fee,
        )
        return result

    async def _candidates(
        self, user_id: str, wallet_id: str, desc: SpendTemplate
    ) -> tuple[list[Candidate], dict[str, Candidate], dict[str, tuple[int, int]], dict[str, int | None]]:
        """Spendable coins: confirmed ones, and unconfirmed ones only from our own transactions
        (change); unconfirmed coins from others could be double-spent away. With every coin's
        (keychain, index) and confirmation height."""
        rows = await self.sync.utxos(user_id, wallet_id)
        unconfirmed = [r.txid for r in rows if r.height is None]
        parents = await self.sync.transactions_by_id(user_id, wallet_id, unconfirmed)
        out: list[Candidate] = []
        by_outpoint: dict[str, Candidate] = {}
        positions: dict[str, tuple[int, int]] = {}
        heights: dict[str, int | None] = {}
        for r in rows:
            confirmed = r.height is not None
            c = Candidate(r.txid, r.vout, int(r.value), desc.input_weight(r.chain), confirmed)
            by_outpoint[c.outpoint] = c
            positions[c.outpoint] = (r.chain, r.index)
            heights[c.outpoint] = r.height
            if confirmed:
                out.append(c)
            else:
                parent = parents.get(r.txid)
                if parent is not None and parent.sent > 0:  # our own change
                    out.append(c)
        return out, by_outpoint, positions, heights

    # -- fee bumping ------------------------------------------------------------------------

    async def _mempool_tx(self, network: str, txid: str) -> tuple[Any, Transaction, int, list[TransactionOutput]]:
        """(backend, the decoded transaction, its fee, the outputs its inputs spend) of a tx still in the mempool."""
        txid = txid.strip().lower()
        backend = await self.chain.get(network)
        decoded = (await backend.transactions([txid])).get(txid)
        raw = (await backend.transactions_hex([txid])).get(txid)
        if decoded is None or raw is None:
            raise BadInput("The chain server does not know this transaction.", field="txid")
        if decoded.confirmed:
            raise BadInput("This transaction is already confirmed: there is nothing to bump.", field="txid")
        tx = Transaction.parse(bytes.fromhex(raw))
        parents_hex = await backend.transactions_hex(sorted({v.txid.hex() for v in tx.vin}))
        prevouts: list[TransactionOutput] = []
        for v in tx.vin:
            ph = parents_hex.get(v.txid.hex())
            if ph is None:
                raise BadInput("A parent of this transaction is unknown to the chain server.", field="txid")
            prevouts.append(Transaction.parse(bytes.fromhex(ph)).vout[v.vout])
        fee = sum(p.value for p in prevouts) - sum(o.value for o in tx.vout)
        return backend, tx, fee, prevouts

    async def bump_fee(
        self, user_id: str, wallet_id: str, txid: str, fee_rate: Decimal, psbt_version: int = 0
    ) -> PsbtView:
        """A BIP-125 replacement of our unconfirmed transaction: the same inputs and payments, the
        fee raised to ``fee_rate`` and at least the old fee plus the replacement's own relay fee
        (rule 4), taken from the change. When the change cannot pay it (or there is none), confirmed
        coins of the wallet are added (rule 2: no new unconfirmed inputs; frozen coins are not
        used) and the rest comes back as change. The original inputs keep their nSequence (a
        time-locked branch keeps its relative lock) and the transaction its nLockTime."""
        view, desc = await self._wallet(user_id, wallet_id)
        _check_version(psbt_version)
        network = view.network.value.lower()
        rate_kvb = await self._rate_kvb(network, CreatePsbtInput(wallet_id, [], fee_rate=fee_rate))
        backend, tx, old_fee, prevouts = await self._mempool_tx(network, txid)
        if not any(v.sequence < 0xFFFFFFFE for v in tx.vin):
            raise BadInput("This transaction does not signal replaceability (BIP-125); use cpfp instead.", field="txid")
        stats = await self.sync.script_stats(user_id, wallet_id)
        pos = {r.script_pubkey: (r.chain, r.index) for r in stats.values()}
        mine = [pos.get(bytes(p.script_pubkey.data).hex()) for p in prevouts]
        if any(m is None for m in mine):
            raise BadInput("Only a transaction spending this wallet's coins alone can be bumped here.", field="txid")
        in_ws = [desc.input_weight(m[0]) for m in mine if m is not None]
        outs = list(tx.vout)
        change_i = next(
            (i for i, o in enumerate(outs) if desc.is_internal(pos.get(bytes(o.script_pubkey.data).hex(), (-1, 0))[0])),
            None,
        )
        old_weight = sizes.tx_weight(in_ws, [len(o.script_pubkey.data) for o in outs], desc.any_segwit)
        if fee_for(old_weight, rate_kvb) <= old_fee:
            raise BadInput(
                f"The transaction already pays {old_fee} sats; ask for a higher rate than it has.", field="feeRate"
            )
        payments = [(bytes(o.script_pubkey.data), int(o.value)) for i, o in enumerate(outs) if i != change_i]
        change_spk = bytes(outs[change_i].script_pubkey.data) if change_i is not None else None
        change_len = len(change_spk) if change_spk is not None else desc.change_spk_len
        min_change = max(MIN_CHANGE, sizes.dust_threshold(change_spk or b"\x00" * change_len))
        plan = BumpPlan(
            [len(s) for s, _ in payments],
            sum(v for _, v in payments),
            change_len,
            desc.input_weight(desc.change_chain),
            desc.any_segwit,
            rate_kvb,
            old_fee,
            min_change,
        )
        values = [int(p.value) for p in prevouts]
        settled = plan.settle(values, in_ws)
        added: list[Candidate] = []
        positions: dict[str, tuple[int, int]] = {}
        if settled is None:
            added, positions = await self._bump_inputs(user_id, wallet_id, desc, tx, plan, values, in_ws)
            settled = plan.settle(values + [c.value for c in added], in_ws + [c.weight for c in added])
            assert settled is not None  # _bump_inputs adds coins until it settles
        _fee, change_value = settled
        specs_out = [P.OutputSpec(spk, v) for spk, v in payments]
        if change_value > 0:
            if change_spk is not None:
                chain_, index_ = pos[change_spk.hex()]
                specs_out.insert(change_i or 0, P.OutputSpec(change_spk, change_value, index_, chain_))
            else:
                reserved = await self.wallets.reserve_change_address(user_id, wallet_id)
                specs_out.append(
                    P.OutputSpec(bytes.fromhex(reserved.script_pubkey), change_value, reserved.index, reserved.keychain)
                )
        raws = {}
        txids = sorted(
            {v.txid.hex() for v, m in zip(tx.vin, mine, strict=True) if m is not None and desc.needs_prev_tx(m[0])}
            | {c.txid for c in added if desc.needs_prev_tx(positions[c.outpoint][0])}
        )
        if txids:
            raws = await backend.transactions_hex(txids)
        specs_in = []
        for v, p, m in zip(tx.vin, prevouts, mine, strict=True):
            assert m is not None
            raw = raws.get(v.txid.hex())
            specs_in.append(
                P.InputSpec(
                    v.txid.hex(), v.vout, p.value, m[0], m[1], bytes.fromhex(raw) if raw else None, int(v.sequence)
                )
            )
        for c in added:
            raw = raws.get(c.txid)
            chain_, index = positions[c.outpoint]
            specs_in.append(
                P.InputSpec(c.txid, c.vout, c.value, chain_, index, bytes.fromhex(raw) if raw else None, SEQUENCE_RBF)
            )
        psbt = P.build_psbt(desc, specs_in, specs_out, int(tx.locktime), version=psbt_version)
        result = await self._analyze(user_id, wallet_id, desc, view.network, psbt)
        result.algorithm = "bump+inputs" if added else "bump"
        await self._save_draft(user_id, wallet_id, result, "bump")
        return result

    async def _bump_inputs(
        self,
        user_id: str,
        wallet_id: str,
        desc: SpendTemplate,
        tx: Transaction,
        plan: BumpPlan,
        values: list[int],
        weights: list[int],
    ) -> tuple[list[Candidate], dict[str, tuple[int, int]]]:
        """Confirmed, unfrozen coins of the wallet to add to a replacement whose inputs cannot pay
        the new fee: coin selection for what is missing, then the largest remaining coins while the
        replacement still falls short (the rule-4 minimum grows with every input)."""
        candidates, _by, positions, _heights = await self._candidates(user_id, wallet_id, desc)
        frozen = {str(o) for o in await self.wallets.frozen_outpoints(user_id, wallet_id)}
        spent = {f"{v.txid.hex()}:{v.vout}" for v in tx.vin}
        own_txid = tx.txid().hex()
        pool = [
            c
            for c in candidates
            if c.confirmed and c.outpoint not in frozen and c.outpoint not in spent and c.txid != own_txid
        ]
        short = plan.shortfall(values, weights)
        params = SelectionParams(
            plan.rate_kvb, LONG_TERM_RATE_KVB, sizes.output_weight(plan.change_len), plan.change_in_w, plan.min_change
        )
        try:
            chosen = list(select_coins(pool, short, params, random.Random(self._rng.random())).coins)
        except InsufficientFunds:
            chosen = []
        rest = sorted((c for c in pool if c not in chosen), key=lambda c: c.value, reverse=True)
        while plan.settle(values + [c.value for c in chosen], weights + [c.weight for c in chosen]) is None:
            if not rest:
                raise BadInput(
                    "The change cannot pay the higher fee, nor can the wallet's other confirmed coins "
                    f"({sum(c.value for c in pool)} sats).",
                    field="feeRate",
                    hint="Ask for a lower rate, or use cpfp. Frozen and unconfirmed coins are not added "
                    "(BIP-125 rule 2).",
                )
            chosen.append(rest.pop(0))
        return chosen, positions

    async def cpfp(self, user_id: str, wallet_id: str, txid: str, fee_rate: Decimal, psbt_version: int = 0) -> PsbtView:
        """Child pays for parent: spend our largest output of a stuck transaction back to our next
        change address with a fee that brings the package (parent + child) to ``fee_rate``."""
        view, desc = await self._wallet(user_id, wallet_id)
        _check_version(psbt_version)
        network = view.network.value.lower()
        rate_kvb = await self._rate_kvb(network, CreatePsbtInput(wallet_id, [], fee_rate=fee_rate))
        backend, tx, parent_fee, _prev = await self._mempool_tx(network, txid)
        parent_w = len(tx.serialize()) * 3 + len(tx.serialize())  # upper bound if unknown
        decoded = (await backend.transactions([tx.txid().hex()]))[tx.txid().hex()]
        parent_w = decoded.weight or parent_w
        unspent = {f"{r.txid}:{r.vout}": r for r in await self.sync.utxos(user_id, wallet_id)}
        ours = [unspent[k] for k in (f"{tx.txid().hex()}:{n}" for n in range(len(tx.vout))) if k in unspent]
        if not ours:
            raise BadInput("This transaction has no unspent output of this wallet to spend.", field="txid")
        coin = max(ours, key=lambda r: r.value)
        in_w = desc.input_weight(coin.chain)
        change = await self.wallets.reserve_change_address(user_id, wallet_id)
        spk = bytes.fromhex(change.script_pubkey)
        child_w = sizes.tx_weight([in_w], [len(spk)], desc.any_segwit)
        package_fee = fee_for(parent_w, rate_kvb) + fee_for(child_w, rate_kvb)  # each on its own vsize
        child_fee = max(package_fee - parent_fee, fee_for(child_w, 1000))
        value = int(coin.value) - child_fee
        if value < sizes.dust_threshold(spk):
            raise BadInput(f"Our output of {coin.value} sats cannot pay a {child_fee} sats child fee.", field="feeRate")
        raw = None
        if desc.needs_prev_tx(coin.chain):
            raw = bytes.fromhex((await backend.transactions_hex([coin.txid]))[coin.txid])
        tip = await backend.tip()
        spec = P.InputSpec(coin.txid, coin.vout, int(coin.value), coin.chain, coin.index, raw, SEQUENCE_RBF)
        psbt = P.build_psbt(
            desc, [spec], [P.OutputSpec(spk, value, change.index, change.keychain)], tip.height, version=psbt_version
        )
        result = await self._analyze(user_id, wallet_id, desc, view.network, psbt)
        result.algorithm, result.change_address = "cpfp", change.address
        await self._save_draft(user_id, wallet_id, result, "cpfp")
        return result

    # -- drafts (for download as a .psbt file or QR parts) ---------------------------------

    async def _save_draft(self, user_id: str, wallet_id: str, view: PsbtView, kind: str) -> None:
        async with self.store.write() as s:
            row = PsbtDraft(user_id=user_id, wallet_id=wallet_id, txid=view.txid, kind=kind, psbt=view.psbt)
            s.add(row)
        view.draft_id = row.id

    async def draft(self, user_id: str, draft_id: str) -> DraftView:
        """A PSBT draft of the user (NOT_FOUND for anyone else's)."""
        async with self.store.read() as s:
            row = (
                await s.exec(select(PsbtDraft).where(PsbtDraft.id == draft_id, PsbtDraft.user_id == user_id))
            ).first()
        if row is None:
            raise NotFound("No such PSBT draft.", field="id")
        return DraftView(row.id, row.wallet_id, row.txid, row.kind, row.psbt)

    # -- analyze / combine / finalize / broadcast -----------------------------------------

    async def analyze_psbt(self, user_id: str, wallet_id: str, text: str) -> PsbtView:
        view, desc = await self._wallet(user_id, wallet_id)
        return await self._analyze(user_id, wallet_id, desc, view.network, P.parse_psbt(text))

    async def _analyze(
        self, user_id: str, wallet_id: str, desc: SpendTemplate, network: Network, psbt: PSBT
    ) -> PsbtView:
        ours = await self._our_scripts(user_id, wallet_id)
        threshold = desc.threshold
        fingerprints = desc.fingerprints
        inputs: list[PsbtInputView] = []
        total_in: int | None = 0
        weights: list[int] = []
        for i, scope in enumerate(psbt.inputs):
            utxo = None
            try:
                utxo = psbt.utxo(i)
            except Exception:
                utxo = None
            spk = bytes(utxo.script_pubkey.data) if utxo is not None else None
            where = (ours.get(spk.hex()) or desc.derived_position(scope, spk)) if spk is not None else None
            mine = where is not None
            signed = _signers(scope)
            iv = PsbtInputView(
                txid=scope.txid.hex() if scope.txid else psbt.tx.vin[i].txid.hex(),
                vout=scope.vout if scope.vout is not None else psbt.tx.vin[i].vout,
                value=int(utxo.value) if utxo is not None else None,
                address=_address(spk, network),
                ours=mine,
                signed_by=signed,
            )
            if where is not None:
                iv.complete = _finalized(scope) or desc.complete(psbt, i, where[0], where[1], len(signed))
                iv.missing = [] if iv.complete else [f for f in fingerprints if f not in signed]
            if utxo is None:
                total_in = None
            elif total_in is not None:
                total_in += int(utxo.value)
            weights.append(desc.input_weight(where[0]) if where is not None else 272)
            inputs.append(iv)
        if not any(i.ours for i in inputs):
            raise BadInput(
                "This PSBT spends no coin of this wallet.",
                field="psbt",
                hint="Open it with the wallet whose coins it spends.",
            )
        outputs: list[PsbtOutputView] = []
        for out, oscope in zip(psbt.tx.vout, psbt.outputs, strict=True):
            spk = bytes(out.script_pubkey.data)
            pos = ours.get(spk.hex()) or desc.derived_position(oscope, spk)
            change = pos is not None and desc.is_internal(pos[0])
            outputs.append(PsbtOutputView(_address(spk, network), int(out.value), pos is not None, change))
        total_out = sum(o.value for o in outputs)
        fee = total_in - total_out if total_in is not None else None
        weight = sizes.tx_weight(weights, [len(o.script_pubkey.data) for o in psbt.tx.vout], desc.any_segwit)
        vsize = sizes.vbytes(weight)
        rate = (Decimal(fee) / Decimal(vsize)).quantize(Decimal("0.01")) if fee is not None and vsize else None
        return PsbtView(
            psbt=P.to_base64(psbt),
            txid=P.unsigned_txid(psbt),
            inputs=inputs,
            outputs=outputs,
            fee=fee,
            vsize=vsize,
            fee_rate=rate,
            rbf=any(v.sequence < 0xFFFFFFFE for v in psbt.tx.vin),
            locktime=int(psbt.tx.locktime),
            signatures_required=threshold,
            complete=all(i.complete for i in inputs if i.ours),
            version=getattr(psbt, "source_version", 0),
        )

    async def _our_scripts(self, user_id: str, wallet_id: str) -> dict[str, tuple[int, int]]:
        """scriptPubKey hex -> (keychain, index) of every script the sync knows."""
        stats = await self.sync.script_stats(user_id, wallet_id)
        return {r.script_pubkey: (r.chain, r.index) for r in stats.values()}

    async def combine_psbts(self, user_id: str, wallet_id: str, texts: Sequence[str]) -> PsbtView:
        view, desc = await self._wallet(user_id, wallet_id)
        psbts = [P.parse_psbt(t, field=f"psbts[{n}]") for n, t in enumerate(texts)]
        return await self._analyze(user_id, wallet_id, desc, view.network, P.combine(psbts))

    async def finalize_psbt(
        self, user_id: str, wallet_id: str, text: str, preimages: Sequence[str] | None = None
    ) -> FinalizedTx:
        """Final scripts from the signatures; hash branches take their preimages from the PSBT's
        PSBT_IN_SHA256/HASH256/RIPEMD160/HASH160 fields or from ``preimages`` (hex, 32 bytes each)."""
        view, desc = await self._wallet(user_id, wallet_id)
        extra: dict[tuple[str, bytes], bytes] = {}
        for n, hx in enumerate(preimages or []):
            try:
                raw_pre = bytes.fromhex(hx.strip())
            except ValueError:
                raw_pre = b""
            if len(raw_pre) != 32:
                raise BadInput(
                    f"preimages[{n}] is not 32 bytes in hex.",
                    field=f"preimages[{n}]",
                    hint="Miniscript hash locks take 32-byte preimages only.",
                )
            extra.update(preimage_hashes(raw_pre))
        psbt = P.parse_psbt(text)
        analysis = await self._analyze(user_id, wallet_id, desc, view.network, psbt)
        if not all(i.ours for i in analysis.inputs):
            raise BadInput("The PSBT spends coins of another wallet; this server finalizes only its own.", field="psbt")
        ours = await self._our_scripts(user_id, wallet_id)
        missing: list[str] = []
        for i, scope in enumerate(psbt.inputs):
            spk = bytes(psbt.utxo(i).script_pubkey.data)
            where = ours.get(spk.hex()) or desc.derived_position(scope, spk)
            if where is None or not desc.finalize_input(psbt, i, where[0], where[1], extra or None):
                why = desc.missing(psbt, i, where[0], where[1], extra or None) if where is not None else None
                if why is not None:
                    raise BadInput(
                        f"Input {i} has the signatures of a branch that is not satisfied yet: {why}.",
                        field="preimages" if "preimage" in why else "psbt",
                        hint="Give the preimage (finalizePsbt preimages, or the PSBT's PSBT_IN_SHA256 field)"
                        if "preimage" in why
                        else "Build the PSBT with createPsbt(signers) so the time lock is set, and sign that.",
                    )
                missing.append(str(i))
        if missing:
            fps = sorted({f for inp in analysis.inputs for f in inp.missing})
            raise BadInput(
                f"Not enough signatures on input(s) {', '.join(missing)}: "
                f"{analysis.signatures_required} needed"
                + (f"; not yet signed by {', '.join(fps)}" if fps else "")
                + ".",
                field="psbt",
                hint="Collect the missing signatures, combine the signed PSBTs, then finalize.",
            )
        tx = P.extract(psbt)
        return FinalizedTx(tx.txid().hex(), tx.serialize().hex(), P.to_base64(psbt))

    async def broadcast(self, user_id: str, wallet_id: str, *, psbt: str | None = None, hex_: str | None = None) -> str:
        """Send a finalized transaction through the wallet's chain backend; on success the wallet is
        synced at once so the transaction shows (as mempool) and goes out on the live stream."""
        view, _desc = await self._wallet(user_id, wallet_id)
        if (psbt is None) == (hex_ is None):
            raise BadInput("Give either psbt or hex.", field="psbt")
        if psbt is not None:
            raw = (await self.finalize_psbt(user_id, wallet_id, psbt)).hex
        else:
            raw = (hex_ or "").strip().lower()
            try:
                tx = _parse_tx(raw)
            except ValueError:
                raise BadInput("Not a raw transaction in hex.", field="hex") from None
            ours = await self._our_outpoints(user_id, wallet_id)
            if not any(f"{v.txid.hex()}:{v.vout}" in ours for v in tx.vin):
                raise BadInput("This transaction spends no coin of this wallet.", field="hex")
        backend = await self.chain.get(view.network.value.lower())
        txid = await backend.broadcast(raw)  # BroadcastRejected (BAD_USER_INPUT) with the node's reason
        log.info("tx_broadcast", wallet=wallet_id, txid=txid)
        # Outside the request's read snapshot: the sync writes, and waiting must see its job finish.
        await asyncio.create_task(self.sync.sync_now(user_id, wallet_id), context=background_context())
        return txid

    async def _our_outpoints(self, user_id: str, wallet_id: str) -> set[str]:
        return {f"{r.txid}:{r.vout}" for r in await self.sync.utxos(user_id, wallet_id)}


@dataclass(frozen=True, slots=True)
class BumpPlan:
    """The fee arithmetic of a replacement: its payments stay, its inputs may grow, its change takes the rest."""

    payment_lens: list[int]
    payments: int
    change_len: int
    change_in_w: int  # weight of spending the change later (selection's cost of change)
    segwit: bool
    rate_kvb: int
    old_fee: int
    min_change: int

    def fee(self, weights: Sequence[int], change: bool) -> int:
        """``rate`` on the replacement's size, and at least the old fee plus its own relay fee (BIP-125 rule 4)."""
        lens = [*self.payment_lens, self.change_len] if change else self.payment_lens
        weight = sizes.tx_weight(list(weights), lens, self.segwit)
        return max(fee_for(weight, self.rate_kvb), self.old_fee + fee_for(weight, 1000))

    def settle(self, values: Sequence[int], weights: Sequence[int]) -> tuple[int, int] | None:
        """(fee, change) for these inputs, change 0 when too small to keep; None when they cannot pay."""
        rest = sum(values) - self.payments
        with_change = rest - self.fee(weights, True)
        if with_change >= self.min_change:
            return self.fee(weights, True), with_change
        if rest >= self.fee(weights, False):
            return rest, 0
        return None

    def shortfall(self, values: Sequence[int], weights: Sequence[int]) -> int:
        """What coins to add must fund beyond their own input fees (selection's target)."""
        return max(1, self.payments + self.fee(weights, False) - sum(values))


def _check_version(version: int) -> None:
    if version not in (0, 2):
        raise BadInput(f"psbtVersion {version} is not a PSBT version: 0 (BIP-174) or 2 (BIP-370).", field="psbtVersion")


def _with_after(locktime: int, afters: Sequence[int]) -> int:
    """nLockTime for inputs whose branches need ``after(t)``: max(anti-fee-sniping height, t) for
    heights; a time lock replaces the height (one kind per transaction)."""
    if not afters:
        return locktime
    kinds = {TL.is_time_after(t) for t in afters}
    if len(kinds) > 1:
        raise BadInput(
            "The chosen coins need both a height and a time lock (after()); one transaction can only have one kind.",
            field="utxos",
            hint="Spend them in separate transactions (coin control).",
        )
    return max(afters) if kinds == {True} else max(locktime, *afters)


def _locked(plan: InputPlan, field: str, what: str) -> BadInput:
    if plan.unsatisfiable:
        return BadInput(
            f"{what} cannot be spent by the signers given: no branch of its script is theirs.",
            field=field,
            hint="Add signers (master fingerprints) that can satisfy the script, or leave signers out.",
        )
    return BadInput(
        f"{what} is still time-locked for the signers given: {plan.wait} to wait.",
        field=field,
        hint=f"Blocks remaining: {plan.wait}. Try again then, or add the signers of a branch without a time lock.",
    )


def _none_unlocked(plans: Sequence[InputPlan], explicit: bool) -> BadInput:
    """No coin is spendable by these signers now: say the shortest wait (or that none ever is)."""
    waiting = [p for p in plans if p.wait is not None]
    field = "signers" if explicit else "outputs"
    if not waiting:
        return BadInput(
            "The signers given cannot spend any coin of this wallet: no branch of its script is theirs.",
            field=field,
            hint="Add signers (master fingerprints) that can satisfy the script, or leave signers out.",
        )
    first = min(waiting, key=lambda p: _wait_blocks(p.wait or ""))
    return BadInput(
        f"No coin is spendable by the signers given yet: every branch they can sign is time-locked; "
        f"the first coin unlocks in {first.wait}.",
        field=field,
        hint=f"Blocks remaining: {first.wait}.",
    )


def _wait_blocks(wait: str) -> int:
    head = wait.split(" ", 1)[0]
    return int(head) if head.isdigit() else 1 << 30


def anti_fee_sniping_locktime(tip_height: int, rng: random.Random) -> int:
    """Bitcoin Core's anti-fee-sniping: the tip height, or in one case in ten up to 99 blocks less
    (so transactions sent late, e.g. after signing offline, do not stand out)."""
    height = tip_height
    if rng.randrange(10) == 0:
        height = max(0, height - rng.randrange(100))
    return height


def _signers(scope: Any) -> list[str]:
    """Master fingerprints (hex; the public key when no derivation says whose) of every signature."""
    out: list[str] = []
    for pub in scope.partial_sigs:
        der = scope.bip32_derivations.get(pub)
        out.append(der.fingerprint.hex() if der is not None else pub.sec().hex())
    if P.taproot_key_sig(scope) or (
        scope.final_scriptwitness is not None
        and len(scope.final_scriptwitness.items) == 1
        and scope.taproot_bip32_derivations
    ):
        internal = scope.taproot_internal_key
        for pub, (_leaves, der) in scope.taproot_bip32_derivations.items():
            if internal is None or pub.xonly() == internal.xonly():
                out.append(der.fingerprint.hex())
    for pub, _leaf in scope.taproot_sigs:  # script-path signatures
        entry = scope.taproot_bip32_derivations.get(pub)
        fp = entry[1].fingerprint.hex() if entry is not None else pub.xonly().hex()
        if fp not in out:
            out.append(fp)
    return out


def _finalized(scope: Any) -> bool:
    return scope.final_scriptwitness is not None or scope.final_scriptsig is not None


def _address(spk: bytes | None, network: Network) -> str | None:
    if spk is None:
        return None
    try:
        return address_from_script(spk, network)
    except Exception:
        return None


def _parse_tx(raw: str) -> Any:
    from embit.transaction import Transaction

    try:
        return Transaction.parse(bytes.fromhex(raw))
    except Exception:
        raise ValueError("not a transaction") from None
