"""Spending root fields: feeEstimates, analyzePsbt (queries); createPsbt, combinePsbt,
finalizePsbt, broadcastTransaction (mutations)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from app.bitcoin.networks import Network
from app.spend.qr import from_qr, qr_parts
from app.spend.service import CreatePsbtInput, OutputRequest
from schema.context import Context
from schema.enums import NetworkEnum
from schema.types.spend import FeeEstimates, FeeTarget, FinalizedTransaction, Psbt, PsbtOutputInput

# The PSBT version argument of the fee-bumping mutations (declared per field, as Strawberry needs).
PsbtVersionArg = Annotated[
    int, strawberry.argument(description="0: a BIP-174 PSBT (default); 2: a BIP-370 PSBT v2.")
]


@strawberry.type
class SpendQuery:
    @strawberry.field(description="Fee rates (sat/vB) for a network, cached; UPSTREAM_UNAVAILABLE when none are known.")
    async def fee_estimates(self, info: Info[Context, None], network: NetworkEnum) -> FeeEstimates:  # type: ignore[valid-type]
        ctx = info.context
        ctx.require_viewer()
        return FeeEstimates.from_rec(await ctx.container.fees.estimates(Network(network).value.lower()))

    @strawberry.field(
        description=(
            "A PSBT as BC-UR `ur:crypto-psbt` QR parts (the format Keystone, Passport, Jade, SeedSigner and Sparrow "
            "scan): one part when it fits `maxFragmentLength`, else fountain-coded parts to show in a loop "
            "(`parts`, default twice the minimum)."
        )
    )
    async def psbt_qr_parts(
        self, info: Info[Context, None], psbt: str, max_fragment_length: int = 200, parts: int | None = None
    ) -> list[str]:
        info.context.require_viewer()
        return qr_parts(psbt, max_fragment_length, parts)

    @strawberry.field(
        description="The PSBT (base64) from scanned `ur:crypto-psbt` parts, in any order; "
        "BAD_USER_INPUT until complete."
    )
    async def psbt_from_qr(self, info: Info[Context, None], parts: list[str]) -> str:
        info.context.require_viewer()
        return from_qr(parts)

    @strawberry.field(description="What a PSBT does for one of the viewer's wallets: inputs, outputs, fee, signers.")
    async def analyze_psbt(self, info: Info[Context, None], wallet_id: strawberry.ID, psbt: str) -> Psbt:
        ctx = info.context
        view = await ctx.container.spend.analyze_psbt(ctx.require_viewer().user_id, str(wallet_id), psbt)
        return Psbt.from_view(view)


@strawberry.type
class SpendMutation:
    @strawberry.mutation(
        description=(
            "Build an unsigned PSBT paying `outputs` from the wallet: coin selection (or the `utxos` given), "
            "change to the wallet's next unused change address (reserved), RBF by default, anti-fee-sniping "
            "locktime. Give feeRate (sat/vB) or feeTarget. Nothing is signed or broadcast."
        )
    )
    async def create_psbt(
        self,
        info: Info[Context, None],
        wallet_id: strawberry.ID,
        outputs: list[PsbtOutputInput],
        fee_rate: Decimal | None = None,
        fee_target: FeeTarget | None = None,
        utxos: list[str] | None = None,
        rbf: bool = True,
        change_address: str | None = None,
        psbt_version: Annotated[
            int,
            strawberry.argument(
                description="0: a BIP-174 PSBT (default); 2: a BIP-370 PSBT v2, for signers that need it. "
                "analyzePsbt, combinePsbt and finalizePsbt read both and answer in the version given."
            ),
        ] = 0,
        signers: Annotated[
            list[str] | None,
            strawberry.argument(
                description="Master fingerprints (8 hex) of the keys that will sign; default every key of the "
                "wallet. Picks the miniscript branch: one without time locks when these keys have one, else the "
                "smallest whose older()/after() locks each coin meets now (nSequence and nLockTime are set for "
                "it); a coin still locked is refused with the blocks remaining."
            ),
        ] = None,
    ) -> Psbt:
        ctx = info.context
        inp = CreatePsbtInput(
            wallet_id=str(wallet_id),
            outputs=[OutputRequest(o.address, o.amount) for o in outputs],
            fee_rate=fee_rate,
            fee_target=fee_target.value if fee_target is not None else None,
            utxos=utxos,
            rbf=rbf,
            change_address=change_address,
            psbt_version=psbt_version,
            signers=signers,
        )
        return Psbt.from_view(await ctx.container.spend.create_psbt(ctx.require_viewer().user_id, inp))

    @strawberry.mutation(
        description="Merge PSBTs of the same transaction signed by different signers (BIP-174 combiner)."
    )
    async def combine_psbt(self, info: Info[Context, None], wallet_id: strawberry.ID, psbts: list[str]) -> Psbt:
        ctx = info.context
        view = await ctx.container.spend.combine_psbts(ctx.require_viewer().user_id, str(wallet_id), psbts)
        return Psbt.from_view(view)

    @strawberry.mutation(
        description="Check every signature and build the final transaction (BAD_USER_INPUT if some are missing)."
    )
    async def finalize_psbt(
        self,
        info: Info[Context, None],
        wallet_id: strawberry.ID,
        psbt: str,
        preimages: Annotated[
            list[str] | None,
            strawberry.argument(
                description="Hash preimages (32 bytes, hex) for sha256/hash256/ripemd160/hash160 branches, "
                "besides those in the PSBT's PSBT_IN_SHA256 (etc.) fields."
            ),
        ] = None,
    ) -> FinalizedTransaction:
        ctx = info.context
        tx = await ctx.container.spend.finalize_psbt(ctx.require_viewer().user_id, str(wallet_id), psbt, preimages)
        return FinalizedTransaction.from_tx(tx)

    @strawberry.mutation(
        description=(
            "Broadcast a signed PSBT (finalized here) or raw transaction hex through the wallet's chain server. "
            "The node's rejection reason comes back as BAD_USER_INPUT; on success the transaction is in the "
            "wallet (mempool) when this returns. Returns the txid."
        )
    )
    async def broadcast_transaction(
        self, info: Info[Context, None], wallet_id: strawberry.ID, psbt: str | None = None, hex: str | None = None
    ) -> str:
        ctx = info.context
        return await ctx.container.spend.broadcast(ctx.require_viewer().user_id, str(wallet_id), psbt=psbt, hex_=hex)

    @strawberry.mutation(
        description=(
            "A BIP-125 replacement PSBT of the wallet's unconfirmed transaction at a higher fee rate (sat/vB), "
            "the extra fee taken from its change, or from confirmed coins of the wallet added when the change "
            "cannot pay it. Sign and broadcast it like any PSBT."
        )
    )
    async def bump_fee(
        self,
        info: Info[Context, None],
        wallet_id: strawberry.ID,
        txid: str,
        fee_rate: Decimal,
        psbt_version: PsbtVersionArg = 0,
    ) -> Psbt:
        ctx = info.context
        user = ctx.require_viewer().user_id
        view = await ctx.container.spend.bump_fee(user, str(wallet_id), txid, fee_rate, psbt_version)
        return Psbt.from_view(view)

    @strawberry.mutation(
        description=(
            "Child pays for parent: a PSBT spending the wallet's output of a stuck transaction so that both "
            "together pay fee_rate (sat/vB)."
        )
    )
    async def cpfp(
        self,
        info: Info[Context, None],
        wallet_id: strawberry.ID,
        txid: str,
        fee_rate: Decimal,
        psbt_version: PsbtVersionArg = 0,
    ) -> Psbt:
        ctx = info.context
        user = ctx.require_viewer().user_id
        view = await ctx.container.spend.cpfp(user, str(wallet_id), txid, fee_rate, psbt_version)
        return Psbt.from_view(view)
