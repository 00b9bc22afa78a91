"""BIP-329 exactly: the spec's example file round-trips, imports merge (absent fields keep stored
values), unknown types/fields are skipped and counted, text is kept byte for byte, ``origin`` and
``spendable`` survive, and ``spendable: false`` is the frozen-output read API for coin selection.

tests/data/bip329_example.jsonl is the "Test Vectors" fragment of BIP-329
(https://github.com/bitcoin/bips/blob/master/bip-0329.mediawiki), copied as published."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import select

from app.services.wallets import Outpoint
from app.store.models.wallets import Wallet
from tests.support.server import GraphQLClient, LiveServer
from tests.wallets.helpers import error, import_wallet

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
EXAMPLE = (Path(__file__).parent.parent / "data" / "bip329_example.jsonl").read_text()
TX = "f91d0a8a78462bc59398f2c5d7a84fcff491c26ba54c4833478b202796c8aafd"
EXPORT = "mutation($w: ID!) { exportLabels(walletId: $w) }"
IMPORT_FILE = (
    "mutation($w: ID!, $j: String!) { importLabelFile(walletId: $w, jsonl: $j) "
    "{ imported skippedRecords skippedFields } }"
)
SET_LABEL = (
    "mutation($w: ID!, $r: String!, $l: String!) { setLabel(walletId: $w, ref: $r, label: $l) { label spendable } }"
)
FREEZE = (
    "mutation($w: ID!, $o: String!, $s: Boolean!) { setOutputSpendable(walletId: $w, outpoint: $o, spendable: $s) "
    "{ type ref label spendable } }"
)


def records(jsonl: str) -> list[dict[str, object]]:
    return sorted((json.loads(x) for x in jsonl.splitlines() if x.strip()), key=lambda d: (d["type"], d["ref"]))


async def export(gql: GraphQLClient, wid: str) -> list[dict[str, object]]:
    return records((await gql(EXPORT, {"w": wid}))["data"]["exportLabels"])


async def test_the_specs_example_file_imports_and_exports_back_to_the_same_records(
    server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    w = await import_wallet(gql, source=ZPUB)
    # one record type from a newer draft (silent payments) and an unknown field ride along
    extra = '{"type": "spscan", "ref": "sp1qqxyz", "label": "scan key"}\n'
    extra += '{"type": "tx", "ref": "' + "ab" * 32 + '", "label": "x", "note": "unknown field"}\n'
    r = (await gql(IMPORT_FILE, {"w": w["id"], "j": EXAMPLE + extra}))["data"]["importLabelFile"]
    assert r == {"imported": 8, "skippedRecords": 1, "skippedFields": 1}
    got = [x for x in await export(gql, w["id"]) if x["ref"] != "ab" * 32]
    assert got == records(EXAMPLE)


async def test_import_merges_absent_fields_keep_stored_values(
    server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    w = await import_wallet(gql, source=ZPUB)
    wid = w["id"]
    out = f"{TX}:1"
    first = (
        '{"type":"output","ref":"'
        + out
        + '","label":"  cold  storage ","spendable":false,"origin":"wpkh([d34db33f/84\'/0\'/0\'])"}'
    )
    await gql(IMPORT_FILE, {"w": wid, "j": first})
    # a record without label and without spendable changes neither
    await gql(IMPORT_FILE, {"w": wid, "j": '{"type":"output","ref":"' + out + '"}'})
    # a record with only spendable keeps the label; one with only a label keeps spendable
    await gql(IMPORT_FILE, {"w": wid, "j": '{"type":"output","ref":"' + out + '","label":"renamed "}'})
    (row,) = await export(gql, wid)
    assert row == {
        "type": "output",
        "ref": out,
        "label": "renamed ",  # byte for byte: no trimming
        "spendable": False,
        "origin": "wpkh([d34db33f/84'/0'/0'])",
    }
    assert await server.container.wallets.frozen_outpoints(await owner(server, wid), wid) == frozenset(
        {Outpoint(TX, 1)}
    )
    await gql(IMPORT_FILE, {"w": wid, "j": '{"type":"output","ref":"' + out + '","spendable":true}'})
    assert (await export(gql, wid))[0]["label"] == "renamed " and (await export(gql, wid))[0]["spendable"] is True
    assert await server.container.wallets.frozen_outpoints(await owner(server, wid), wid) == frozenset()


async def owner(server: LiveServer, wid: str) -> str:
    async with server.container.store.read() as s:
        return (await s.exec(select(Wallet.user_id).where(Wallet.id == wid))).one()


async def test_freezing_an_output_and_labels_that_keep_it(
    server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    w = await import_wallet(gql, source=ZPUB)
    wid = w["id"]
    out = f"{TX}:3"
    r = (await gql(FREEZE, {"w": wid, "o": out.upper().replace("X", "x"), "s": False}))["data"]["setOutputSpendable"]
    assert r == {"type": "output", "ref": out, "label": "", "spendable": False}
    # labelling and un-labelling the output keeps it frozen
    assert (await gql(SET_LABEL, {"w": wid, "r": out, "l": " donation "}))["data"]["setLabel"] == {
        "label": " donation ",
        "spendable": False,
    }
    await gql(SET_LABEL, {"w": wid, "r": out, "l": ""})
    assert await export(gql, wid) == [{"type": "output", "ref": out, "label": "", "spendable": False}]
    # unfreezing an unlabelled output leaves nothing behind
    await gql(FREEZE, {"w": wid, "o": out, "s": True})
    assert await export(gql, wid) == []
    body = await gql(FREEZE, {"w": wid, "o": "nope", "s": False}, expect_errors=True)
    ext = error(body)["extensions"]
    assert (ext["code"], ext["field"]) == ("BAD_USER_INPUT", "outpoint")
    # another user's wallet: NOT_FOUND, nothing written
    body = await gql(FREEZE, {"w": "01" + "0" * 24, "o": out, "s": False}, expect_errors=True)
    assert error(body)["extensions"]["code"] == "NOT_FOUND"


async def test_a_bad_line_of_a_known_type_still_refuses_the_file(
    server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    w = await import_wallet(gql, source=ZPUB)
    body = await gql(
        IMPORT_FILE,
        {"w": w["id"], "j": EXAMPLE + '{"type":"output","ref":"x:1","label":"bad ref"}\n'},
        expect_errors=True,
    )
    err = error(body)
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and err["message"].startswith("Line 8:")
    assert await export(gql, w["id"]) == []
    body = await gql(IMPORT_FILE, {"w": w["id"], "j": '{"ref":"' + TX + '","label":"no type"}'}, expect_errors=True)
    assert error(body)["message"].startswith("Line 1:")
