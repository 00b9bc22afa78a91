"""Spending types: fee estimates, PSBT drafts and their analysis, finalized transactions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum

import strawberry

from app.spend.fees import FeeRecommendation
from app.spend.service import FinalizedTx, PsbtInputView, PsbtOutputView, PsbtView
from schema.scalars import Sats


@strawberry.enum(description="A confirmation target for a fee rate recommendation.")
class FeeTarget(Enum):
    FASTEST = "FASTEST"  # next block
    HALF_HOUR = "HALF_HOUR"  # 3 blocks
    HOUR = "HOUR"  # 6 blocks
    ECONOMY = "ECONOMY"  # 144 blocks (a day)
    MINIMUM = "MINIMUM"  # the minimum relay fee


@strawberry.type(description="A fee rate (sat/vB) to confirm within some blocks.")
class FeeTargetRate:
    blocks: int
    rate: Decimal


@strawberry.type(description="Fee rates in sat/vB from the network's chain server, with the server's recommendation.")
class FeeEstimates:
    network: str
    fastest: Decimal
    half_hour: Decimal
    hour: Decimal
    economy: Decimal
    minimum: Decimal
    targets: list[FeeTargetRate]
    fetched_at: datetime
    age_seconds: int = strawberry.field(description="How old the estimates are (served from cache).")
    stale: bool = strawberry.field(description="The server did not answer lately: these are older estimates.")
    source: str

    @classmethod
    def from_rec(cls, r: FeeRecommendation) -> FeeEstimates:
        return cls(
            network=r.network,
            fastest=r.fastest,
            half_hour=r.half_hour,
            hour=r.hour,
            economy=r.economy,
            minimum=r.minimum,
            targets=[FeeTargetRate(blocks=b, rate=v) for b, v in r.by_target.items()],
            fetched_at=r.fetched_at,
            age_seconds=int(r.age_s),
            stale=r.stale,
            source=r.source,
        )


@strawberry.input(description="One payment: an address and an amount; leave amount out to send the maximum.")
class PsbtOutputInput:
    address: str
    amount: Sats | None = None


@strawberry.type(description="An input of a PSBT.")
class PsbtInput:
    txid: str
    vout: int
    value: Sats | None
    address: str | None
    ours: bool
    signed_by: list[str] = strawberry.field(description="Master key fingerprints that signed it.")
    missing_signers: list[str] = strawberry.field(description="Fingerprints of this wallet still to sign.")
    complete: bool

    @classmethod
    def from_view(cls, v: PsbtInputView) -> PsbtInput:
        return cls(
            txid=v.txid,
            vout=v.vout,
            value=v.value,
            address=v.address,
            ours=v.ours,
            signed_by=v.signed_by,
            missing_signers=v.missing,
            complete=v.complete,
        )


@strawberry.type(description="An output of a PSBT: ours when it pays this wallet, change on its change chain.")
class PsbtOutput:
    address: str | None
    value: Sats
    ours: bool
    change: bool

    @classmethod
    def from_view(cls, v: PsbtOutputView) -> PsbtOutput:
        return cls(address=v.address, value=v.value, ours=v.ours, change=v.change)


@strawberry.type(description="A PSBT (BIP-174, base64) and what it does from the wallet's view.")
class Psbt:
    psbt: str
    txid: str
    inputs: list[PsbtInput]
    outputs: list[PsbtOutput]
    fee: Sats | None
    vsize: int = strawberry.field(description="Estimated virtual size once signed.")
    fee_rate: Decimal | None = strawberry.field(description="sat/vB on the estimated size.")
    rbf: bool
    locktime: int
    signatures_required: int
    complete: bool = strawberry.field(description="Every input has enough signatures: finalizePsbt will work.")
    coin_selection: str | None = strawberry.field(
        description="bnb, knapsack, srd, manual or all (send max); bump or bump+inputs for bumpFee, cpfp."
    )
    waste: int | None = strawberry.field(description="Bitcoin Core's waste metric of the selection, in sats.")
    change_address: str | None
    draft_id: strawberry.ID | None = strawberry.field(
        description="Stored draft (createPsbt, bumpFee, cpfp): download it at /psbt/{draftId} (binary .psbt) "
        "or /psbt/{draftId}?format=base64, with the same bearer token."
    )
    psbt_version: int = strawberry.field(
        default=0, description="Version of `psbt`: 0 (BIP-174) or 2 (BIP-370, PSBT_GLOBAL_VERSION 2)."
    )

    @classmethod
    def from_view(cls, v: PsbtView) -> Psbt:
        return cls(
            psbt=v.psbt,
            txid=v.txid,
            inputs=[PsbtInput.from_view(i) for i in v.inputs],
            outputs=[PsbtOutput.from_view(o) for o in v.outputs],
            fee=v.fee,
            vsize=v.vsize,
            fee_rate=v.fee_rate,
            rbf=v.rbf,
            locktime=v.locktime,
            signatures_required=v.signatures_required,
            complete=v.complete,
            coin_selection=v.algorithm,
            waste=v.waste,
            change_address=v.change_address,
            draft_id=strawberry.ID(v.draft_id) if v.draft_id else None,
            psbt_version=v.version,
        )


@strawberry.type(description="A finalized, signed transaction ready to broadcast.")
class FinalizedTransaction:
    txid: str
    hex: str
    psbt: str

    @classmethod
    def from_tx(cls, t: FinalizedTx) -> FinalizedTransaction:
        return cls(txid=t.txid, hex=t.hex, psbt=t.psbt)
