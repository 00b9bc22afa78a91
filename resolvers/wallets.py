"""Wallet root fields: wallets, wallet, importWallet, createMultisigWallet, renameWallet,
deleteWallet, nextReceiveAddress, setLabel, exportLabels, importLabels.

``syncWallet`` is the chain-sync area's (``resolvers/sync.py``)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.bitcoin.multisig import CosignerSpec
from app.bitcoin.networks import Network
from app.bitcoin.scripts import ScriptType
from app.services import wallets as svc
from schema.context import Context
from schema.pagination import Connection, PageArgs, paged, to_connection
from schema.types.wallets import (
    Address,
    CreateMultisigWalletInput,
    ImportWalletInput,
    Label,
    LabelImport,
    Wallet,
)


@strawberry.type
class WalletQuery:
    @strawberry.field(description="The viewer's wallets, oldest first.")
    @paged
    async def wallets(
        self,
        info: Info[Context, None],
        page: PageArgs,
    ) -> Connection[Wallet]:
        ctx = info.context
        user_id = ctx.require_viewer().user_id
        wallets = await ctx.container.wallets.list_wallets(user_id, page.first, page.after, page.last, page.before)
        return to_connection(wallets, Wallet.from_view)  # their fields batch through ctx.batch

    @strawberry.field(description="One of the viewer's wallets (NOT_FOUND otherwise).")
    async def wallet(self, info: Info[Context, None], id: strawberry.ID) -> Wallet:
        ctx = info.context
        return Wallet.from_view(await ctx.container.wallets.get_wallet(ctx.require_viewer().user_id, str(id)))


@strawberry.type
class WalletMutation:
    @strawberry.mutation(description="Import a watch-only wallet; its first sync starts in the background.")
    async def import_wallet(self, info: Info[Context, None], input: ImportWalletInput) -> Wallet:
        ctx = info.context
        user_id = ctx.require_viewer().user_id
        view = await ctx.container.wallets.import_wallet(
            user_id,
            svc.ImportWalletInput(
                name=input.name,
                source=input.source,
                network=Network(input.network),
                script_type=ScriptType(input.script_type) if input.script_type is not None else None,
                gap_limit=input.gap_limit,
                implied_change=input.implied_change,
                birthday=input.birthday,
            ),
        )
        return Wallet.from_view(view)

    @strawberry.mutation(description="Create a sorted multisig (BIP67) wallet from cosigner keys.")
    async def create_multisig_wallet(self, info: Info[Context, None], input: CreateMultisigWalletInput) -> Wallet:
        ctx = info.context
        user_id = ctx.require_viewer().user_id
        view = await ctx.container.wallets.create_multisig_wallet(
            user_id,
            svc.MultisigWalletInput(
                name=input.name,
                network=Network(input.network),
                threshold=input.threshold,
                cosigners=[
                    CosignerSpec(xpub=c.xpub, name=c.name, fingerprint=c.fingerprint, derivation_path=c.derivation_path)
                    for c in input.cosigners
                ],
                script_type=ScriptType(input.script_type) if input.script_type is not None else None,
                gap_limit=input.gap_limit,
            ),
        )
        return Wallet.from_view(view)

    @strawberry.mutation
    async def rename_wallet(self, info: Info[Context, None], id: strawberry.ID, name: str) -> Wallet:
        ctx = info.context
        view = await ctx.container.wallets.rename_wallet(ctx.require_viewer().user_id, str(id), name)
        return Wallet.from_view(view)

    @strawberry.mutation(description="Delete a wallet with its addresses, labels and chain data.")
    async def delete_wallet(self, info: Info[Context, None], id: strawberry.ID) -> bool:
        ctx = info.context
        return await ctx.container.wallets.delete_wallet(ctx.require_viewer().user_id, str(id))

    @strawberry.mutation(description="The first receive address not used nor handed out before (marked reserved).")
    async def next_receive_address(self, info: Info[Context, None], wallet_id: strawberry.ID) -> Address:
        ctx = info.context
        view = await ctx.container.wallets.next_receive_address(ctx.require_viewer().user_id, str(wallet_id))
        return Address.from_view(view)

    @strawberry.mutation(description="Label an address, a txid or an output (txid:vout); an empty label removes it.")
    async def set_label(self, info: Info[Context, None], wallet_id: strawberry.ID, ref: str, label: str) -> Label:
        ctx = info.context
        view = await ctx.container.wallets.set_label(ctx.require_viewer().user_id, str(wallet_id), ref, label)
        return Label.from_view(view)

    @strawberry.mutation(description="The wallet's labels as BIP-329 JSON Lines.")
    async def export_labels(self, info: Info[Context, None], wallet_id: strawberry.ID) -> str:
        ctx = info.context
        return await ctx.container.wallets.export_labels(ctx.require_viewer().user_id, str(wallet_id))

    @strawberry.mutation(
        description="Import BIP-329 JSON Lines (merged; a malformed line refuses the file); returns the number "
        "of records applied. importLabelFile returns the same with what was skipped."
    )
    async def import_labels(self, info: Info[Context, None], wallet_id: strawberry.ID, jsonl: str) -> int:
        ctx = info.context
        result = await ctx.container.wallets.import_labels(ctx.require_viewer().user_id, str(wallet_id), jsonl)
        return result.imported

    @strawberry.mutation(
        description="Import BIP-329 JSON Lines: records merge (absent label/spendable keep stored values), "
        "unknown types and fields are skipped and counted."
    )
    async def import_label_file(self, info: Info[Context, None], wallet_id: strawberry.ID, jsonl: str) -> LabelImport:
        ctx = info.context
        result = await ctx.container.wallets.import_labels(ctx.require_viewer().user_id, str(wallet_id), jsonl)
        return LabelImport.from_result(result)

    @strawberry.mutation(
        description="Freeze (spendable: false) or unfreeze an output (txid:vout) for coin selection (BIP-329)."
    )
    async def set_output_spendable(
        self, info: Info[Context, None], wallet_id: strawberry.ID, outpoint: str, spendable: bool
    ) -> Label:
        ctx = info.context
        view = await ctx.container.wallets.set_output_spendable(
            ctx.require_viewer().user_id, str(wallet_id), outpoint, spendable
        )
        return Label.from_view(view)
