"""The GraphQL schema, assembled in the composition root: the root types of ``resolvers/`` and
``subscriptions/`` over the types of ``schema/``, with the query-safety extensions.

The arrows point one way: ``resolvers/`` and ``subscriptions/`` import ``schema/``, which imports
neither (``tests/foundation/test_layers.py``); only this module sees all three.
"""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, MaxTokensLimiter, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from app.config import Settings
from app.observability import tracing
from resolvers.accounts import AccountMutation, AccountQuery
from resolvers.lightning import LightningMutation, LightningQuery
from resolvers.lightning_backups import LightningBackupMutation, LightningBackupQuery
from resolvers.lightning_payments import LightningPaymentMutation, LightningPaymentQuery
from resolvers.portfolios import PortfolioMutation, PortfolioQuery
from resolvers.spend import SpendMutation, SpendQuery
from resolvers.sync import SyncMutation, SyncQuery
from resolvers.wallets import WalletMutation, WalletQuery
from schema import descriptions
from schema.authorization import Authorization
from schema.documents import DocumentCache, DocumentLRU
from schema.errors import ContractErrors
from schema.extensions import OperationLog
from schema.limits import CostMeter, QueryLimits, QueryLimitSettings
from schema.loaders import OperationScope
from schema.scalars import SCALAR_MAP
from schema.tracing import OperationTracing
from subscriptions.live import LiveSubscription
from subscriptions.payloads import EVENT_TYPES

QUERIES: tuple[type, ...] = (
    AccountQuery,
    WalletQuery,
    SyncQuery,
    LightningQuery,
    PortfolioQuery,
    LightningPaymentQuery,
    LightningBackupQuery,
    SpendQuery,
)
MUTATIONS: tuple[type, ...] = (
    AccountMutation,
    WalletMutation,
    SyncMutation,
    LightningMutation,
    PortfolioMutation,
    LightningPaymentMutation,
    LightningBackupMutation,
    SpendMutation,
)
SUBSCRIPTIONS: tuple[type, ...] = (LiveSubscription,)


class AppSchema(strawberry.Schema):
    """Errors are logged by :class:`ContractErrors` (with ids); skip Strawberry's own logging."""

    cost_meter: CostMeter  # query cost figures, for a metrics exporter
    documents: DocumentLRU  # parsed and validated documents

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        return None


def build_schema(settings: Settings | None = None) -> AppSchema:
    settings = settings or Settings()
    s = settings
    meter = CostMeter()
    documents = DocumentLRU(s.document_cache_size)
    limits = QueryLimitSettings(max_depth=s.max_query_depth, max_aliases=s.max_aliases, max_cost=s.max_query_cost)
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        OperationLog,  # outermost: logs after ContractErrors has shaped the errors
        lambda: ContractErrors(hide_suggestions=s.is_production),
        lambda: MaxTokensLimiter(max_token_count=s.max_query_tokens),
        lambda: QueryLimits(limits, meter),  # depth, aliases, cost, input sizes: linear in the document
        Authorization,  # roles and API-key scopes, before anything executes
        OperationScope,  # one database snapshot and one set of DataLoaders per operation
        lambda: DocumentCache(documents),  # after QueryLimits: the limits run on every request
    ]
    if not settings.introspection_enabled:
        extensions.append(DisableIntrospection)
    if tracing.configured():  # per-field hook only when traces are exported
        extensions.insert(0, lambda: OperationTracing(resolver_min_ms=s.trace_resolver_min_ms))
    schema = AppSchema(
        query=merge_types("Query", QUERIES),
        mutation=merge_types("Mutation", MUTATIONS),
        subscription=merge_types("Subscription", SUBSCRIPTIONS),
        extensions=extensions,
        types=EVENT_TYPES,  # implementations of the Event interface that only `events` yields
        config=StrawberryConfig(disable_field_suggestions=settings.is_production, scalar_map=SCALAR_MAP),
    )
    descriptions.apply(schema._schema)  # what the code does not describe itself (schema/descriptions.py)
    schema.cost_meter = meter
    schema.documents = documents
    return schema
