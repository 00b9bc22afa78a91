"""Chain-sync root fields: ``syncWallet`` (mutation) and ``syncJob`` (query)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from schema.context import Context
from schema.types.sync import SyncJob


@strawberry.type
class SyncQuery:
    @strawberry.field(description="A sync job of the viewer (NOT_FOUND otherwise).")
    async def sync_job(self, info: Info[Context, None], id: strawberry.ID) -> SyncJob:
        ctx = info.context
        job = await ctx.container.sync.get_job(ctx.require_viewer().user_id, str(id))
        return SyncJob.from_view(job)


@strawberry.type
class SyncMutation:
    @strawberry.mutation(
        description=(
            "Sync a wallet with the chain in the background. One job per wallet at a time: while one is "
            "queued or running, this returns it. `full` rescans every address instead of asking only for "
            "what changed."
        )
    )
    async def sync_wallet(self, info: Info[Context, None], id: strawberry.ID, full: bool = False) -> SyncJob:
        ctx = info.context
        job = await ctx.container.sync.request_sync(
            ctx.require_viewer().user_id, str(id), kind="full" if full else "incremental"
        )
        return SyncJob.from_view(job)
