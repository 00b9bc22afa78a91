"""One query per level of a GraphQL query: per-operation DataLoaders over the areas' batch read APIs.

A resolver of a field under a list (``wallets { edges { node { balance transactions utxos } } }``)
asks its loader for its own object (``ctx.batch.transactions.load(...)``); the loader collects the
keys asked in the same event-loop tick and calls the owning area's typed batch API once
(``SyncQueries.transactions_of(user_id, wallet_ids, ...)``), so the number of SQL statements of a
query depends on its shape, not on how many wallets it returns. Keys carry the user id (the batch
APIs are owner-scoped) and the field's arguments; keys with the same arguments share a batch.

The loaders live for one operation (:class:`OperationScope`, a schema extension), together with the
operation's database snapshot (``Store.snapshot``): every field of one result reads one state of the
database. A mutation's write ends both: what is read after it is loaded afresh.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from strawberry.dataloader import DataLoader
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from app.bitcoin.descriptors import Chain
from app.container import Container
from app.services.portfolios import PortfolioView

Key = tuple[Any, ...]


async def _by_group(
    keys: Sequence[Key], fetch: Callable[..., Awaitable[dict[Any, Any]]], *, missing: Any = None
) -> list[Any]:
    """Keys are ``(user_id, object_id, *arguments)``: one ``fetch(user_id, ids, *arguments)`` per
    distinct (user, arguments); a failing group answers its error to its own keys only."""
    groups: dict[Key, list[Any]] = {}
    for key in keys:
        groups.setdefault((key[0], *key[2:]), []).append(key[1])
    found: dict[Key, Any] = {}
    for (user_id, *args), ids in groups.items():
        try:
            answer = await fetch(user_id, list(dict.fromkeys(ids)), *args)
        except Exception as exc:
            answer = dict.fromkeys(ids, exc)
        for object_id in ids:
            found[(user_id, object_id, *args)] = answer.get(object_id, missing)
    return [found[key] for key in keys]


class Loaders:
    """The DataLoaders of one operation (``ctx.batch``)."""

    def __init__(self, container: Container) -> None:
        c = container

        def loader(fetch: Callable[..., Awaitable[dict[Any, Any]]], missing: Any = None) -> DataLoader[Key, Any]:
            async def batch(keys: list[Key]) -> list[Any]:
                return await _by_group(keys, fetch, missing=missing)

            return DataLoader(batch)

        # wallets -> sync state (balance, status, tip), transactions, UTXOs, addresses, labels
        self.sync_state = loader(lambda u, ids: c.sync.states(u, ids))
        self.transactions = loader(lambda u, ids, window: c.sync.transactions_of(u, ids, w=window))
        self.utxos = loader(lambda u, ids: c.sync.utxos_of(u, ids), missing=[])
        self.labels = loader(lambda u, ids: c.wallets.labels_of(u, ids), missing={})
        self.addresses = loader(
            lambda u, ids, chain, used, window: c.wallets.addresses_of(
                u, ids, window, chain=None if chain is None else Chain(chain), used=used
            )
        )
        # portfolios -> wallets and valuations
        self.wallets = loader(lambda u, ids: c.wallets.wallets_of(u, ids))
        self.portfolio_balance = loader(self._portfolio_balances(c))
        # lightning nodes -> channels (one call per node: each is its own LND, asked concurrently)
        self.lightning_nodes: dict[str, Any] = {}
        self.channels = loader(
            lambda u, ids, active, window, with_policy: c.lightning.channel_pages(
                [self.lightning_nodes[i] for i in ids], window, active=active, with_policy=with_policy
            )
        )

    @staticmethod
    def _portfolio_balances(c: Container) -> Callable[..., Awaitable[dict[Any, Any]]]:
        async def fetch(user_id: str, views: list[PortfolioView]) -> dict[PortfolioView, Any]:
            balances = await c.portfolios.balances_of(user_id, views)
            return {v: balances[v.id] for v in views}

        return fetch


@dataclass
class _Scope:
    container: Container
    snapshot: Any | None  # app.store.db.Snapshot (the GraphQL layer does not import the store)
    loaders: Loaders | None = None
    generation: int = 0


_SCOPE: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("mbf_operation_scope", default=None)


def loaders_for(container: Container) -> Loaders:
    """The current operation's loaders (fresh ones after a mutation's write). Outside an operation
    scope (a subscription's events) every call gets new loaders: nothing is cached across events."""
    scope = _SCOPE.get()
    if scope is None or scope.container is not container:
        return Loaders(container)
    generation = scope.snapshot.writes if scope.snapshot is not None else 0
    if scope.loaders is None or scope.generation != generation:
        scope.loaders, scope.generation = Loaders(container), generation
    return scope.loaders


class OperationScope(SchemaExtension):
    """Queries and mutations execute in one database snapshot with one set of DataLoaders.

    Subscriptions do not: a snapshot held for a subscription's lifetime would pin old data (and,
    on SQLite, the WAL) for hours.
    """

    async def on_execute(self) -> AsyncIterator[None]:
        ec = self.execution_context
        container = ec.context.container
        if ec.operation_type is OperationType.SUBSCRIPTION:
            yield
            return
        refresh = ec.operation_type is OperationType.MUTATION
        async with container.store.snapshot(refresh_on_write=refresh) as snap:
            token = _SCOPE.set(_Scope(container, snap))
            try:
                yield
            finally:
                _SCOPE.reset(token)
