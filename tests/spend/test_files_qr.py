"""PSBT drafts as files (binary .psbt and base64, owner only) and as ur:crypto-psbt QR parts."""

from __future__ import annotations

import base64
import random

from app.dev.devchain.runner import DevChain
from tests.spend.helpers import ANALYZE, CREATE, import_synced
from tests.support.server import GraphQLClient

QR = "query($p: String!, $m: Int!) { psbtQrParts(psbt: $p, maxFragmentLength: $m) }"
FROM_QR = "query($q: [String!]!) { psbtFromQr(parts: $q) }"


async def test_download_and_qr_round_trip(devchain: DevChain, gql: GraphQLClient, user_token: str) -> None:
    wallet = await import_synced(gql, devchain, "carol")  # P2PKH: full previous transactions, a big PSBT
    to = devchain.info["wallets"][0]["firstAddress"]
    draft = (await gql(CREATE, {"w": wallet["id"], "o": [{"address": to, "amount": 30_000}], "r": "2"}))["data"][
        "createPsbt"
    ]
    q = (
        "mutation($w: ID!, $o: [PsbtOutputInput!]!) "
        '{ createPsbt(walletId: $w, outputs: $o, feeRate: "2") { draftId psbt txid } }'
    )
    made = (await gql(q, {"w": wallet["id"], "o": [{"address": to, "amount": 30_000}]}))["data"]["createPsbt"]
    assert made["draftId"] and draft["psbt"]
    headers = {"authorization": f"Bearer {gql.token}"}
    r = await gql.http.get(f"/psbt/{made['draftId']}", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    assert r.content.startswith(b"psbt\xff") and r.content == base64.b64decode(made["psbt"])
    assert ".psbt" in r.headers["content-disposition"]
    r = await gql.http.get(f"/psbt/{made['draftId']}?format=base64", headers=headers)
    assert r.status_code == 200 and r.text == made["psbt"]
    assert (await gql.http.get(f"/psbt/{made['draftId']}")).status_code == 401
    other = await gql.register("eve@example.com")
    r = await gql.http.get(f"/psbt/{made['draftId']}", headers={"authorization": f"Bearer {other}"})
    assert r.status_code == 404

    parts = (await gql(QR, {"p": made["psbt"], "m": 120}))["data"]["psbtQrParts"]
    assert len(parts) > 2 and all(p.startswith("ur:crypto-psbt/") for p in parts)
    scanned = parts[1:]  # a scanner joins late and in any order
    random.Random(2).shuffle(scanned)
    assert (await gql(FROM_QR, {"q": scanned}))["data"]["psbtFromQr"] == made["psbt"]
    err = (await gql(FROM_QR, {"q": parts[:1]}, expect_errors=True))["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and "incomplete" in err["message"]
    seen = (await gql(ANALYZE, {"w": wallet["id"], "p": made["psbt"]}))["data"]["analyzePsbt"]
    assert seen["txid"] == made["txid"]
