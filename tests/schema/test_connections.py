"""Relay connections page both ways: ``first``/``after`` forward, ``last``/``before`` backward.

Over the same data a forward walk and a backward walk give the same items in the same order, the
page flags and cursors follow the Relay specification at both ends, bad arguments answer
``BAD_USER_INPUT`` naming the argument, and a cursor never shows another user's items. The lists
tested over HTTP cover each kind of paging the API has: SQL keysets (wallets, audit log), SQL
keysets batched per wallet (transactions, addresses) and in-memory lists (the paginator's own
tests below, which the computed lists - disposals, forwards, reports, channels - share)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from embit import bip32

from app.errors import BadInput
from app.store.models.chain import WalletTx
from app.store.paging import MAX_PAGE, encode_cursor, paginate_list, paginate_positions, window
from tests.support.connections import connection, walk
from tests.support.server import GraphQLClient, LiveServer

IMPORT = "mutation($i: ImportWalletInput!) { importWallet(input: $i) { id } }"
PAGE = "totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { %s } }"
ARGS = "$first: Int, $after: String, $last: Int, $before: String"
PASS = "first: $first, after: $after, last: $last, before: $before"
WALLETS = f"query({ARGS}) {{ wallets({PASS}) {{ {PAGE % 'id name'} }} }}"
TRANSACTIONS = f"query($id: ID!, {ARGS}) {{ wallet(id: $id) {{ transactions({PASS}) {{ {PAGE % 'txid'} }} }} }}"
ADDRESSES = (
    f"query($id: ID!, {ARGS}) {{ wallet(id: $id) {{ addresses(chain: RECEIVE, {PASS}) {{ {PAGE % 'index'} }} }} }}"
)
AUDIT = f"query({ARGS}) {{ auditLog({PASS}) {{ {PAGE % 'id action'} }} }}"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"price_providers": [], "mainnet_esplora_url": "http://127.0.0.1:9", "chain_retries": 0}


async def _no_first_sync(user_id: str, wallet_id: str) -> None:
    """The test writes the chain data itself."""


def _xpub(n: int) -> str:
    root = bip32.HDKey.from_seed(hashlib.sha256(f"connections-{n}".encode()).digest())
    return str(root.derive("m/84h/0h/0h").to_public().to_base58())


async def _user_with_wallets(
    server: LiveServer, email: str, wallets: int, offset: int
) -> tuple[GraphQLClient, list[str]]:
    gql = GraphQLClient(server.url)
    gql.token = await gql.register(email)
    ids = []
    for n in range(wallets):
        body = await gql(IMPORT, {"i": {"name": f"W{n}", "source": _xpub(offset + n), "scriptType": "P2WPKH"}})
        ids.append(body["data"]["importWallet"]["id"])
    return gql, ids


async def _seed_transactions(server: LiveServer, user_id: str, wallet_id: str, count: int) -> None:
    """``count`` transactions, two of them unconfirmed, some sharing a height (the txid orders those)."""
    base = datetime(2024, 1, 1, tzinfo=UTC)
    async with server.container.store.write() as s:
        for t in range(count):
            txid = hashlib.sha256(f"{wallet_id}:{t}".encode()).hexdigest()
            height = None if t < 2 else 100 + t // 2
            s.add(
                WalletTx(
                    user_id=user_id, wallet_id=wallet_id, txid=txid,
                    status="mempool" if height is None else "confirmed", height=height, first_seen=base,
                    block_time=None if height is None else base + timedelta(days=t),
                    fee=200, vsize=141, weight=561, received=1000 + t, sent=0, net_amount=1000 + t,
                    direction="INCOMING", io='{"v":2,"l":0,"i":[],"o":[]}',
                )
            )  # fmt: skip


async def test_forward_and_backward_walks_agree_on_every_kind_of_list(server: LiveServer) -> None:
    server.container.wallets.connect_sync(_no_first_sync)
    alice, ids = await _user_with_wallets(server, "alice@example.com", 5, 0)
    bob, bob_ids = await _user_with_wallets(server, "bob@example.com", 2, 50)
    try:
        alice_id = (await alice("{ viewer { id } }"))["data"]["viewer"]["id"]
        await _seed_transactions(server, alice_id, ids[0], 9)

        for size in (1, 2, 3, 5, 50):
            forward, backward = await walk(alice, WALLETS, size)
            assert forward == backward and [w["id"] for w in forward] == ids
            forward, backward = await walk(alice, TRANSACTIONS, size, id=ids[0])
            assert forward == backward and len(forward) == 9
            forward, backward = await walk(alice, ADDRESSES, size, id=ids[1])
            assert forward == backward and [a["index"] for a in forward] == list(range(20))
            forward, backward = await walk(alice, AUDIT, size)
            assert forward == backward and len(forward) >= 6  # registration, five imports

        # the transactions' order: mempool first, then by height descending, txid descending within one
        txs = [t["txid"] for t in (await walk(alice, TRANSACTIONS, 4, id=ids[0]))[0]]
        assert txs[:2] == sorted(txs[:2], reverse=True)

        # both cursors: the items strictly between them, from either end
        conn = connection(await alice(TRANSACTIONS, {"id": ids[0], "first": 9}))
        cursors = [e["cursor"] for e in conn["edges"]]
        middle = [e["node"]["txid"] for e in conn["edges"][2:7]]
        between = {"id": ids[0], "after": cursors[1], "before": cursors[7]}
        fwd = connection(await alice(TRANSACTIONS, {**between, "first": 3}))
        assert [e["node"]["txid"] for e in fwd["edges"]] == middle[:3]
        assert fwd["pageInfo"]["hasNextPage"] and fwd["pageInfo"]["hasPreviousPage"]
        bwd = connection(await alice(TRANSACTIONS, {**between, "last": 3}))
        assert [e["node"]["txid"] for e in bwd["edges"]] == middle[-3:]
        assert bwd["pageInfo"]["hasNextPage"] and bwd["pageInfo"]["hasPreviousPage"]
        whole = connection(await alice(TRANSACTIONS, {**between, "last": 10}))
        assert [e["node"]["txid"] for e in whole["edges"]] == middle and not whole["pageInfo"]["hasPreviousPage"]

        # boundaries: zero items, the last page exactly full, paging past either end
        empty = connection(await alice(WALLETS, {"first": 0}))
        assert empty["edges"] == [] and empty["pageInfo"]["hasNextPage"] and empty["totalCount"] == 5
        assert empty["pageInfo"]["startCursor"] is None and empty["pageInfo"]["endCursor"] is None
        assert not connection(await alice(WALLETS, {"last": 0}))["pageInfo"]["hasNextPage"]
        full = connection(await alice(WALLETS, {"first": 5}))
        assert not full["pageInfo"]["hasNextPage"] and not full["pageInfo"]["hasPreviousPage"]
        end = full["pageInfo"]["endCursor"]
        past = connection(await alice(WALLETS, {"first": 5, "after": end}))
        assert past["edges"] == [] and past["pageInfo"]["hasPreviousPage"] and not past["pageInfo"]["hasNextPage"]
        start = full["pageInfo"]["startCursor"]
        ahead = connection(await alice(WALLETS, {"last": 5, "before": start}))
        assert ahead["edges"] == [] and ahead["pageInfo"]["hasNextPage"] and not ahead["pageInfo"]["hasPreviousPage"]

        # owner isolation: alice's cursors page bob's own lists, never hers
        cursor = connection(await alice(WALLETS, {"first": 2}))["pageInfo"]["endCursor"]
        for args in ({"first": 10, "after": cursor}, {"last": 10, "before": cursor}):
            seen = [e["node"]["id"] for e in connection(await bob(WALLETS, args))["edges"]]
            assert set(seen) <= set(bob_ids)
        tx_cursor = cursors[3]
        body = await bob(TRANSACTIONS, {"id": ids[0], "first": 5, "after": tx_cursor}, expect_errors=True)
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        bob_txs = connection(await bob(TRANSACTIONS, {"id": bob_ids[0], "last": 5, "before": tx_cursor}))
        assert bob_txs["edges"] == [] and bob_txs["totalCount"] == 0
    finally:
        await alice.aclose()
        await bob.aclose()


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"first": 2, "last": 2}, "last"),
        ({"first": -1}, "first"),
        ({"last": -1}, "last"),
        ({"first": MAX_PAGE + 1}, "first"),
        ({"last": MAX_PAGE + 1}, "last"),
        ({"after": "not a cursor!"}, "after"),
        ({"last": 2, "before": "not a cursor!"}, "before"),
        ({"first": 2, "after": encode_cursor(["x"])}, "after"),  # a cursor of another list (audit log)
        ({"last": 2, "before": encode_cursor([1, 2])}, "before"),  # a cursor of addresses
    ],
)
async def test_bad_paging_arguments_name_the_argument(
    gql: GraphQLClient, user_token: str, args: dict[str, Any], field: str
) -> None:
    body = await gql(WALLETS, args, expect_errors=True)
    assert body["data"] is None
    (err,) = body["errors"]
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and err["extensions"]["field"] == field, err
    assert field in err["message"]


# -- the paginator of in-memory and computed lists (channels, closed channels, graph nodes use
# paginate_list; disposals, forwards, reports use paginate_positions) -------------------------

ITEMS = [(10 - n, f"k{n}") for n in range(10)]


def _all(pager: Any, size: int) -> tuple[list[Any], list[Any]]:
    forward: list[Any] = []
    after = None
    while True:
        page = pager(window(first=size, after=after))
        forward += page.items
        if not page.has_next:
            break
        after = page.end_cursor
    backward: list[Any] = []
    before = None
    while True:
        page = pager(window(last=size, before=before))
        backward = page.items + backward
        if not page.has_previous:
            break
        before = page.start_cursor
    return forward, backward


@pytest.mark.parametrize("size", [1, 3, 4, 10, 11])
def test_in_memory_lists_page_both_ways(size: int) -> None:
    for pager in (lambda w: paginate_list(ITEMS, lambda i: i, w), lambda w: paginate_positions(ITEMS, w)):
        forward, backward = _all(pager, size)
        assert forward == backward == ITEMS


def test_in_memory_flags_and_cursors() -> None:
    for pager in (lambda w: paginate_list(ITEMS, lambda i: i, w), lambda w: paginate_positions(ITEMS, w)):
        head = pager(window(first=3))
        assert head.items == ITEMS[:3] and head.has_next and not head.has_previous and head.total == 10
        tail = pager(window(last=3))
        assert tail.items == ITEMS[-3:] and tail.has_previous and not tail.has_next
        between = pager(window(first=10, after=head.end_cursor, before=tail.start_cursor))
        assert between.items == ITEMS[3:7] and between.has_previous and not between.has_next
        back = pager(window(last=2, after=head.end_cursor, before=tail.start_cursor))
        assert back.items == ITEMS[5:7] and back.has_previous and back.has_next
        assert pager(window(last=0)).items == [] and pager(window(first=0)).has_next


def test_a_cursor_whose_item_is_gone_is_refused_with_its_argument() -> None:
    gone = encode_cursor([99, "k99"])
    for kwargs, field in (({"first": 2, "after": gone}, "after"), ({"last": 2, "before": gone}, "before")):
        with pytest.raises(BadInput) as caught:
            paginate_list(ITEMS, lambda i: i, window(**kwargs))
        assert caught.value.field == field
    with pytest.raises(BadInput) as caught:
        paginate_positions(ITEMS, window(last=1, before=encode_cursor(["k1"])))
    assert caught.value.field == "before"
