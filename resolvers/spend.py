"""Spending root fields: feeEstimates, analyzePsbt (queries); createPsbt, combinePsbt,
finalizePsbt, broadcastTransaction (mutations)."""

from __future__ import annotations

from decimal import Decimal

import strawberry
from strawberry.types import Info

from app.bitcoin.networks import Network
from app.spend.service import CreatePsbtInput, OutputRequest
from schema.context import Context
from schema.types.spend import FeeEstimates, FeeTarget, FinalizedTransaction, Psbt, PsbtOutputInput
from schema.types.wallets import NetworkEnum


@strawberry.type
class SpendQuery:
    @strawberry.field(description="Fee rates (sat/vB) for a network, cached; UPSTREAM_UNAVAILABLE when none are known.")
    async def fee_estimates(self, info: Info[Context, None], network: NetworkEnum) -> FeeEstimates:  # type: ignore[valid-type]
        ctx = info.context
        ctx.require_viewer()
        return FeeEstimates.from_rec(await ctx.container.fees.estimates(Network(network).value.lower()))

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
        self, info: Info[Context, None], wallet_id: strawberry.ID, psbt: str
    ) -> FinalizedTransaction:
        ctx = info.context
        tx = await ctx.container.spend.finalize_psbt(ctx.require_viewer().user_id, str(wallet_id), psbt)
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
