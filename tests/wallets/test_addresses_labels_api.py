"""Addresses, nextReceiveAddress, labels (BIP-329), rename/delete and user isolation over HTTP."""

from __future__ import annotations

import json

from sqlmodel import func, select

from app.store.models.wallets import WalletAddress, WalletLabel
from tests.support.server import GraphQLClient, LiveServer
from tests.wallets.helpers import IMPORT, addresses, error, import_wallet

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
FIRST = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
TXID = "f" * 64
NEXT = "mutation($w: ID!) { nextReceiveAddress(walletId: $w) { address index chain reserved used label } }"
SET_LABEL = (
    "mutation($w: ID!, $r: String!, $l: String!) { setLabel(walletId: $w, ref: $r, label: $l) { type ref label } }"
)
EXPORT = "mutation($w: ID!) { exportLabels(walletId: $w) }"
IMPORT_LABELS = "mutation($w: ID!, $j: String!) { importLabels(walletId: $w, jsonl: $j) }"


async def test_next_receive_address_hands_out_each_address_once_and_extends(
    gql: GraphQLClient, user_token: str
) -> None:
    w = await import_wallet(gql, source=ZPUB, gapLimit=3)
    got = [(await gql(NEXT, {"w": w["id"]}))["data"]["nextReceiveAddress"] for _ in range(5)]
    assert [a["index"] for a in got] == [0, 1, 2, 3, 4]
    assert got[0]["address"] == FIRST and all(a["reserved"] and a["chain"] == "RECEIVE" for a in got)
    conn = await addresses(gql, w["id"], chain="RECEIVE", first=100)
    assert conn["totalCount"] == 6  # 3 derived at import, 3 more when the window ran out
    assert [e["node"]["reserved"] for e in conn["edges"]] == [True] * 5 + [False]
    assert (await addresses(gql, w["id"], chain="CHANGE", first=100))["totalCount"] == 3


async def test_addresses_paging_and_filters(gql: GraphQLClient, user_token: str) -> None:
    w = await import_wallet(gql, source=ZPUB, gapLimit=5)
    seen: list[tuple[str, int]] = []
    after = None
    while True:
        conn = await addresses(gql, w["id"], first=4, after=after)
        seen += [(e["node"]["chain"], e["node"]["index"]) for e in conn["edges"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert seen == [("RECEIVE", i) for i in range(5)] + [("CHANGE", i) for i in range(5)]
    assert (await addresses(gql, w["id"], used=True))["totalCount"] == 0
    assert (await addresses(gql, w["id"], used=False))["totalCount"] == 10
    body = await gql(
        'query($id: ID!) { wallet(id: $id) { addresses(first: 5, after: "bogus") { totalCount } } }',
        {"id": w["id"]},
        expect_errors=True,
    )
    assert error(body)["extensions"]["code"] == "BAD_USER_INPUT"


async def test_labels_set_export_import(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    w = await import_wallet(gql, source=ZPUB)
    wid = w["id"]
    r = await gql(SET_LABEL, {"w": wid, "r": FIRST, "l": "Donations"})
    assert r["data"]["setLabel"] == {"type": "addr", "ref": FIRST, "label": "Donations"}
    await gql(SET_LABEL, {"w": wid, "r": TXID.upper(), "l": "Rent"})
    await gql(SET_LABEL, {"w": wid, "r": f"{TXID}:1", "l": "Change from rent"})
    conn = await addresses(gql, wid, first=1)
    assert conn["edges"][0]["node"]["label"] == "Donations"
    exported = (await gql(EXPORT, {"w": wid}))["data"]["exportLabels"]
    lines = [json.loads(x) for x in exported.splitlines()]
    assert sorted(lines, key=lambda d: d["type"]) == [
        {"type": "addr", "ref": FIRST, "label": "Donations", "keypath": "/0/0"},  # BIP-329 data field
        {"type": "output", "ref": f"{TXID}:1", "label": "Change from rent"},
        {"type": "tx", "ref": TXID, "label": "Rent"},
    ]
    # an empty label removes it
    await gql(SET_LABEL, {"w": wid, "r": TXID, "l": ""})
    assert 'Rent"' not in (await gql(EXPORT, {"w": wid}))["data"]["exportLabels"]
    # bad refs
    body = await gql(
        SET_LABEL, {"w": wid, "r": "tb1qcr8te4kr609gcawutmrza0j4xv80jy8zeqchgx", "l": "x"}, expect_errors=True
    )
    ext = error(body)["extensions"]
    assert (ext["code"], ext["field"]) == ("BAD_USER_INPUT", "ref")

    # import: the exported lines come back (restoring the removed tx label) plus a new output
    extra = '{"type":"output","ref":"' + TXID + ':0","label":"x","spendable":false}\n'
    n = await gql(IMPORT_LABELS, {"w": wid, "j": exported + extra})
    assert n["data"]["importLabels"] == 4
    again = [json.loads(x) for x in (await gql(EXPORT, {"w": wid}))["data"]["exportLabels"].splitlines()]
    assert {"type": "output", "ref": f"{TXID}:0", "label": "x", "spendable": False} in again
    assert {"type": "tx", "ref": TXID, "label": "Rent"} in again
    # an empty label in an import removes that label
    n = await gql(IMPORT_LABELS, {"w": wid, "j": '{"type":"tx","ref":"' + TXID + '","label":""}'})
    assert n["data"]["importLabels"] == 1
    assert TXID + '","label":"Rent' not in (await gql(EXPORT, {"w": wid}))["data"]["exportLabels"]


BAD_LABEL_FILES = [
    ('{"type":"tx","ref":"' + "a" * 64 + '","label":"ok"}\nnot json\n', 2),
    ('\n\n{"ref":"x","label":"y"}', 3),
    ('{"type":"tx","ref":"abc","label":"y"}', 1),
    ('{"type":"addr","ref":"tb1qcr8te4kr609gcawutmrza0j4xv80jy8zeqchgx","label":"y"}', 1),
    ('{"type":"output","ref":"' + "a" * 64 + '","label":"y"}', 1),
    ('{"type":"tx","ref":"' + "a" * 64 + '","label":"y","spendable":true}', 1),
    ('{"type":"tx","ref":"' + "a" * 64 + '","label":5}', 1),
    ("[1,2]", 1),
]


async def test_import_labels_is_all_or_nothing(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    w = await import_wallet(gql, source=ZPUB)
    for jsonl, line in BAD_LABEL_FILES:
        body = await gql(IMPORT_LABELS, {"w": w["id"], "j": jsonl}, expect_errors=True)
        err = error(body)
        assert err["extensions"]["code"] == "BAD_USER_INPUT" and err["extensions"]["field"] == "jsonl"
        assert err["message"].startswith(f"Line {line}:"), (jsonl, err)
    async with server.container.store.read() as s:
        assert (await s.exec(select(func.count()).select_from(WalletLabel))).one() == 0


async def test_rename_and_delete(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    w = await import_wallet(gql, source=ZPUB)
    r = await gql('mutation($id: ID!) { renameWallet(id: $id, name: " Savings ") { id name } }', {"id": w["id"]})
    assert r["data"]["renameWallet"] == {"id": w["id"], "name": "Savings"}
    await gql(SET_LABEL, {"w": w["id"], "r": FIRST, "l": "Donations"})
    r = await gql("mutation($id: ID!) { deleteWallet(id: $id) }", {"id": w["id"]})
    assert r["data"]["deleteWallet"] is True
    body = await gql("query($id: ID!) { wallet(id: $id) { id } }", {"id": w["id"]}, expect_errors=True)
    assert error(body)["extensions"]["code"] == "NOT_FOUND"
    async with server.container.store.read() as s:
        assert (await s.exec(select(func.count()).select_from(WalletAddress))).one() == 0
        assert (await s.exec(select(func.count()).select_from(WalletLabel))).one() == 0
    # it can be imported again
    await import_wallet(gql, source=ZPUB)


OTHER_USER_CALLS = [
    ("query($id: ID!) { wallet(id: $id) { id } }", {}),
    ("query($id: ID!) { wallet(id: $id) { addresses { totalCount } } }", {}),
    ('mutation($id: ID!) { renameWallet(id: $id, name: "mine") { id } }', {}),
    ("mutation($id: ID!) { deleteWallet(id: $id) }", {}),
    ("mutation($id: ID!) { nextReceiveAddress(walletId: $id) { address } }", {}),
    ('mutation($id: ID!) { setLabel(walletId: $id, ref: "' + TXID + '", label: "x") { ref } }', {}),
    ("mutation($id: ID!) { exportLabels(walletId: $id) }", {}),
    ('mutation($id: ID!) { importLabels(walletId: $id, jsonl: "") }', {}),
]


async def test_other_users_wallets_are_not_found(gql: GraphQLClient, user_token: str) -> None:
    w = await import_wallet(gql, source=ZPUB)
    alice = gql.token
    bob = await gql.register("bob@example.com")
    for query, extra in OTHER_USER_CALLS:
        body = await gql(query, {"id": w["id"], **extra}, token=bob, expect_errors=True)
        err = error(body)
        assert err["extensions"]["code"] == "NOT_FOUND", (query, err)
        assert err["extensions"]["field"] == ("walletId" if "walletId" in query else "id")
    listed = (await gql("{ wallets { totalCount edges { node { id } } } }", token=bob))["data"]["wallets"]
    assert listed == {"totalCount": 0, "edges": []}
    # Bob may watch the same xpub in his own account: another user's wallet is no duplicate
    # (and the answer must not reveal that someone else watches it).
    imported = await gql(IMPORT, {"i": {"name": "Wallet", "network": "MAINNET", "source": ZPUB}}, token=bob)
    bobs = imported["data"]["importWallet"]["id"]
    assert bobs != w["id"]
    listed = (await gql("{ wallets { totalCount edges { node { id } } } }", token=bob))["data"]["wallets"]
    assert listed == {"totalCount": 1, "edges": [{"node": {"id": bobs}}]}
    # and alice's wallet is untouched
    r = await gql("query($id: ID!) { wallet(id: $id) { name } }", {"id": w["id"]}, token=alice)
    assert r["data"]["wallet"]["name"] == "Wallet"
    labels = await gql(EXPORT, {"w": w["id"]}, token=alice)
    assert labels["data"]["exportLabels"] == ""


async def test_wallets_connection_pages(gql: GraphQLClient, user_token: str) -> None:
    from tests.wallets.test_import_api import ACCOUNT84

    ids = [await import_wallet(gql, source=ZPUB, name="w0", gapLimit=1)]

    for st in ("P2TR", "P2PKH", "P2SH_P2WPKH"):
        ids.append(await import_wallet(gql, source=ACCOUNT84, scriptType=st, name=st, gapLimit=1))
    q = (
        "query($a: String) { wallets(first: 2, after: $a) "
        "{ totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }"
    )
    seen, after = [], None
    while True:
        conn = (await gql(q, {"a": after}))["data"]["wallets"]
        assert conn["totalCount"] == 4
        seen += [e["node"]["id"] for e in conn["edges"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert seen == [w["id"] for w in ids]


async def test_changes_publish_wallet_updated(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    import asyncio

    viewer = await gql("{ viewer { id } }")
    user_id = viewer["data"]["viewer"]["id"]
    sub = server.container.hub.subscribe(user_id, types=["walletUpdated"])
    try:
        w = await import_wallet(gql, source=ZPUB)
        await gql('mutation($id: ID!) { renameWallet(id: $id, name: "n") { id } }', {"id": w["id"]})
        await gql(SET_LABEL, {"w": w["id"], "r": FIRST, "l": "x"})
        await gql("mutation($id: ID!) { deleteWallet(id: $id) }", {"id": w["id"]})
        changes = []
        while len(changes) < 4:
            event = await asyncio.wait_for(sub.__anext__(), 10)
            if event.payload.get("change"):  # sync results publish walletUpdated too
                assert event.subject == w["id"] and event.payload["walletId"] == w["id"]
                changes.append(event.payload["change"])
        assert changes == ["created", "renamed", "labels", "deleted"]
    finally:
        sub.close()
