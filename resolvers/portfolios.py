"""Portfolio, price and report root fields (thin: one service call each)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from app.errors import BadInput
from app.prices.provider import DailyClose
from app.store.paging import paginate_list
from schema.context import Context
from schema.pagination import Connection, PageArgs, paged, to_connection
from schema.types.portfolios import (
    CreatePortfolioInput,
    GenerateReportInput,
    Portfolio,
    Price,
    PriceCurrency,
    Report,
    SetTransactionCostInput,
    TaxSettings,
    UpdatePortfolioInput,
    UpdateTaxSettingsInput,
    paginate,
    period_input,
)


@strawberry.type
class PortfolioQuery:
    @strawberry.field(
        description="Your portfolios, the implicit 'All wallets' view (id \"all\") first; the contract's list form "
        "of `portfolioConnection`."
    )
    async def portfolios(self, info: Info[Context, None]) -> list[Portfolio]:
        ctx = info.context
        return [Portfolio.of(v) for v in await ctx.container.portfolios.list_portfolios(ctx.require_viewer().user_id)]

    @strawberry.field(
        description='Your portfolios as a Relay connection, in the order of `portfolios` (the implicit "all" '
        "first, then oldest first)."
    )
    @paged
    async def portfolio_connection(
        self,
        info: Info[Context, None],
        page: PageArgs,
    ) -> Connection[Portfolio]:
        ctx = info.context
        w = page.window(types=(str,))
        views = await ctx.container.portfolios.list_portfolios(ctx.require_viewer().user_id)
        return to_connection(paginate_list(views, lambda v: (v.id,), w), Portfolio.of)

    @strawberry.field(description='One portfolio; `"all"` is the view of all your wallets.')
    async def portfolio(self, info: Info[Context, None], id: strawberry.ID) -> Portfolio:
        ctx = info.context
        return Portfolio.of(await ctx.container.portfolios.get(ctx.require_viewer().user_id, str(id)))

    @strawberry.field(description="The BTC price in `currency` now, or the close of the UTC day of `at`.")
    async def price(self, info: Info[Context, None], currency: str = "USD", at: datetime | None = None) -> Price:
        ctx = info.context
        ctx.require_viewer()
        return Price.of(await ctx.container.prices.price_at(currency, at))

    @strawberry.field(description="Base currencies with their live providers; only USD has an offline history.")
    async def price_currencies(self, info: Info[Context, None]) -> list[PriceCurrency]:
        ctx = info.context
        ctx.require_viewer()
        return [PriceCurrency.of(*c) for c in ctx.container.prices.currency_sources()]

    @strawberry.field(
        description="Daily closes from `from` to `to` (inclusive, UTC days), oldest first; missing days are absent. "
        "The contract's list form of `priceHistoryConnection`."
    )
    async def price_history(
        self,
        info: Info[Context, None],
        currency: str,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date | None = None,
    ) -> list[Price]:
        return [Price.of_close(r) for r in await _closes(info, currency, from_, to)]

    @strawberry.field(
        description="Daily closes from `from` to `to` as a Relay connection, oldest first (the cursor is the day: "
        "it keeps its place whatever the range)."
    )
    @paged
    async def price_history_connection(
        self,
        info: Info[Context, None],
        currency: str,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date | None = None,
        *,
        page: PageArgs,
    ) -> Connection[Price]:
        w = page.window(types=(str,))
        rows = sorted(await _closes(info, currency, from_, to), key=lambda r: r.day)
        found = paginate_list(rows, lambda r: (r.day.isoformat(),), w, rank=tuple)
        return to_connection(found, Price.of_close)

    @strawberry.field(description="Your tax settings (fiscal-year start, long-term threshold, fee treatment).")
    async def tax_settings(self, info: Info[Context, None]) -> TaxSettings:
        ctx = info.context
        return TaxSettings.of(await ctx.container.portfolios.tax_settings(ctx.require_viewer().user_id))

    @strawberry.field(description="Your generated reports, newest first.")
    @paged
    async def reports(
        self,
        info: Info[Context, None],
        page: PageArgs,
    ) -> Connection[Report]:
        ctx = info.context
        args = page
        args.window()  # bad arguments answer before the read
        views = await ctx.container.reports.list_reports(ctx.require_viewer().user_id)
        return paginate(views, args, Report.of)

    @strawberry.field
    async def report(self, info: Info[Context, None], id: strawberry.ID) -> Report:
        ctx = info.context
        return Report.of(await ctx.container.reports.get(ctx.require_viewer().user_id, str(id)))


@strawberry.type
class PortfolioMutation:
    @strawberry.mutation(description="Group some of your wallets (a wallet may be in several portfolios).")
    async def create_portfolio(self, info: Info[Context, None], input: CreatePortfolioInput) -> Portfolio:
        ctx = info.context
        view = await ctx.container.portfolios.create(
            ctx.require_viewer().user_id, input.name, [str(w) for w in input.wallet_ids], input.base_currency
        )
        return Portfolio.of(view)

    @strawberry.mutation(description="Rename, change the wallets (replaces the set) or the base currency.")
    async def update_portfolio(self, info: Info[Context, None], input: UpdatePortfolioInput) -> Portfolio:
        ctx = info.context
        view = await ctx.container.portfolios.update(
            ctx.require_viewer().user_id,
            str(input.id),
            name=input.name,
            wallet_ids=None if input.wallet_ids is None else [str(w) for w in input.wallet_ids],
            base_currency=input.base_currency,
        )
        return Portfolio.of(view)

    @strawberry.mutation
    async def delete_portfolio(self, info: Info[Context, None], id: strawberry.ID) -> bool:
        ctx = info.context
        return await ctx.container.portfolios.delete(ctx.require_viewer().user_id, str(id))

    @strawberry.mutation(description="Start a report job; follow `reports`/`report(id)` or `reportProgress` events.")
    async def generate_report(self, info: Info[Context, None], input: GenerateReportInput) -> Report:
        ctx = info.context
        view = await ctx.container.reports.generate(
            ctx.require_viewer().user_id,
            str(input.portfolio_id),
            input.timeframe.value,
            input.format.value,
            period_input(input.period),
            input.method.value,
        )
        return Report.of(view)

    @strawberry.mutation(description="Change your tax settings; omitted fields keep their value.")
    async def update_tax_settings(self, info: Info[Context, None], input: UpdateTaxSettingsInput) -> TaxSettings:
        ctx = info.context
        settings = await ctx.container.portfolios.update_tax_settings(
            ctx.require_viewer().user_id,
            input.fiscal_year_start,
            input.long_term_months,
            None if input.fee_treatment is None else input.fee_treatment.value,
        )
        return TaxSettings.of(settings)

    @strawberry.mutation(description="Your own acquisition cost for an incoming transaction (cost basis).")
    async def set_transaction_cost(self, info: Info[Context, None], input: SetTransactionCostInput) -> bool:
        ctx = info.context
        await ctx.container.portfolios.set_cost(ctx.require_viewer().user_id, input.txid, input.cost, input.currency)
        return True


async def _closes(info: Info[Context, None], currency: str, from_: date, to: date | None) -> list[DailyClose]:
    """The stored daily closes of ``priceHistory`` and its connection: one range check, one read."""
    ctx = info.context
    ctx.require_viewer()
    end = to or datetime.now(UTC).date()
    if from_ > end:
        raise BadInput("'from' must not be after 'to'.", field="from")
    return await ctx.container.prices.history(currency, from_, end)
