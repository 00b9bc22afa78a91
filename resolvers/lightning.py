"""Lightning root fields (contract: Lightning (LND))."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.errors import BadInput
from app.services.lightning import ConnectNodeInput
from app.store.paging import paginate_list
from schema.context import Context
from schema.pagination import Connection, PageArgs, paged, to_connection
from schema.types.lightning import (
    BakeMacaroonInput,
    CloseChannelInput,
    ClosingChannel,
    ConnectLightningNodeInput,
    ConnectLightningPeerInput,
    CreateInvoiceInput,
    Invoice,
    LightningNode,
    LightningPeer,
    OpenChannelInput,
    PendingChannel,
    PolicyUpdateFailure,
    UpdateChannelPolicyInput,
    UpdateChannelPolicyPayload,
    service,
)


def _user(info: Info[Context, Any]) -> str:
    return info.context.require_viewer().user_id


@strawberry.type
class LightningQuery:
    @strawberry.field(
        description="The viewer's LND nodes, oldest first; the contract's list form of `lightningNodeConnection`."
    )
    async def lightning_nodes(self, info: Info[Context, Any]) -> list[LightningNode]:
        return [LightningNode.of(r) for r in await service(info).list_nodes(_user(info))]

    @strawberry.field(description="The viewer's LND nodes as a Relay connection, oldest first.")
    @paged
    async def lightning_node_connection(
        self,
        info: Info[Context, Any],
        page: PageArgs,
    ) -> Connection[LightningNode]:
        w = page.window(types=(str,))
        rows = await service(info).list_nodes(_user(info))
        return to_connection(paginate_list(rows, lambda r: (r.id,), w), LightningNode.of)

    @strawberry.field
    async def lightning_node(self, info: Info[Context, Any], id: strawberry.ID) -> LightningNode:
        return LightningNode.of(await service(info).get_node(_user(info), str(id)))


@strawberry.type
class LightningMutation:
    @strawberry.mutation(
        description="Check the node with GetInfo, then save it (certificate and macaroon "
        "encrypted). Nothing is saved if any check fails."
    )
    async def connect_lightning_node(self, info: Info[Context, Any], input: ConnectLightningNodeInput) -> LightningNode:
        node = await service(info).connect(
            _user(info),
            ConnectNodeInput(
                name=input.name,
                host=input.host,
                port=input.port,
                tls_cert=input.tls_cert,
                macaroon=input.macaroon,
                network=input.network.value,
            ),
        )
        return LightningNode.of(node)

    @strawberry.mutation
    async def disconnect_lightning_node(self, info: Info[Context, Any], id: strawberry.ID) -> bool:
        return await service(info).disconnect(_user(info), str(id))

    @strawberry.mutation(
        description="Bake (LND BakeMacaroon) a macaroon with only the ticked capabilities' permissions, store it "
        "encrypted in place of the current (admin) macaroon, and use it from now on. Needs macaroon:generate."
    )
    async def bake_macaroon(self, info: Info[Context, Any], input: BakeMacaroonInput) -> LightningNode:
        node = await info.context.container.lightning_macaroons.bake(
            _user(info), str(input.node_id), [c.value for c in input.capabilities]
        )
        return LightningNode.of(node)

    @strawberry.mutation(description="Connect the node to a peer (pubkey@host:port).")
    async def connect_lightning_peer(
        self, info: Info[Context, Any], input: ConnectLightningPeerInput
    ) -> LightningPeer | None:
        peer = await service(info).connect_peer(_user(info), str(input.node_id), input.peer)
        return LightningPeer.of(peer) if peer else None

    @strawberry.mutation(description="Fund a channel; returns it pending. Progress arrives on channelEvents.")
    async def open_channel(self, info: Info[Context, Any], input: OpenChannelInput) -> PendingChannel:
        pending = await service(info).open_channel(
            _user(info),
            str(input.node_id),
            peer=input.peer,
            capacity=int(input.capacity),
            push_amount=int(input.push_amount),
            private=input.private,
            sat_per_vbyte=input.sat_per_vbyte,
        )
        return PendingChannel.of(pending)

    @strawberry.mutation(description="Cooperative close, or unilateral with `force: true`.")
    async def close_channel(self, info: Info[Context, Any], input: CloseChannelInput) -> ClosingChannel:
        closing = await service(info).close_channel(
            _user(info),
            str(input.node_id),
            channel_point=input.channel_point,
            force=input.force,
            sat_per_vbyte=input.sat_per_vbyte,
        )
        return ClosingChannel(
            channel_point=closing.channel_point, closing_txid=closing.closing_txid, force=closing.force
        )

    @strawberry.mutation(description="Set base fee, fee rate and time-lock delta on one channel or all.")
    async def update_channel_policy(
        self, info: Info[Context, Any], input: UpdateChannelPolicyInput
    ) -> UpdateChannelPolicyPayload:
        failures = await service(info).update_channel_policy(
            _user(info),
            str(input.node_id),
            channel_point=input.channel_point,
            base_fee_msat=int(input.base_fee_msat),
            fee_rate_ppm=input.fee_rate_ppm,
            time_lock_delta=input.time_lock_delta,
        )
        return UpdateChannelPolicyPayload(
            failed_updates=[
                PolicyUpdateFailure(channel_point=f.channel_point, reason=f.reason, message=f.message) for f in failures
            ]
        )

    @strawberry.mutation
    async def create_invoice(self, info: Info[Context, Any], input: CreateInvoiceInput) -> Invoice:
        if input.amount is not None and input.amount_msat is not None:
            raise BadInput("Give amount or amountMsat, not both.", field="amountMsat")
        msat = int(input.amount_msat) if input.amount_msat is not None else int(input.amount or 0) * 1000
        inv = await service(info).create_invoice(
            _user(info),
            str(input.node_id),
            amount_msat=msat,
            memo=input.memo,
            expiry_s=input.expiry,
        )
        return Invoice.of(inv)
