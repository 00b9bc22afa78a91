"""importWallet for every descriptor Bitcoin Core watches (issue #14), over real HTTP: keychains
(external/internal, implied change, single chain), miniscript, taproot trees, 20-key multisig,
non-ranged descriptors, addr()/raw()/combo(); refusals name the rule; returned descriptors
round-trip with the same checksums; nothing is stored after a refusal."""

from __future__ import annotations

from typing import Any

from embit.bip32 import HDKey
from embit.descriptor import Descriptor
from sqlmodel import func, select

from app.store.models.wallets import Wallet
from tests.support.server import GraphQLClient, LiveServer
from tests.wallets.helpers import addresses, error

FIELDS = """id kind scriptType descriptor receiveDescriptor changeDescriptor threshold changeImplied
  keychains { index descriptor internal ranged implied scriptType }"""
IMPORT = f"mutation($i: ImportWalletInput!) {{ importWallet(input: $i) {{ {FIELDS} }} }}"
XA = "xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL"
XB = "xpub68NZiKmJWnxxS6aaHmn81bvJeTESw724CRDs6HbuccFQN9Ku14VQrADWgqbhhTHBaohPX4CjNLf9fq9MYo6oDaPPLPxSb7gwQN3ih19Zm4Y"
XC = "xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB"


async def imported(gql: GraphQLClient, source: str, **extra: Any) -> dict[str, Any]:
    body = await gql(IMPORT, {"i": {"name": "W", "network": "MAINNET", "source": source, "gapLimit": 3, **extra}})
    assert "errors" not in body, body
    w: dict[str, Any] = body["data"]["importWallet"]
    return w


def embit_scripts(desc: str, n: int) -> list[str]:
    d = Descriptor.from_string(desc.split("#")[0])
    return [d.derive(i).script_pubkey().data.hex() for i in range(n)]


async def script_pubkeys(gql: GraphQLClient, wid: str, chain: str) -> list[str]:
    conn = await addresses(gql, wid, chain=chain, first=100)
    return [e["node"]["scriptPubKey"] for e in conn["edges"]]


async def test_miniscript_timelock_wallet(gql: GraphQLClient, user_token: str) -> None:
    src = f"wsh(or_d(pk({XA}/<0;1>/*),and_v(v:pkh({XB}/<0;1>/*),older(52560))))"
    w = await imported(gql, src)
    assert (w["kind"], w["scriptType"], w["changeImplied"]) == ("MULTISIG", "P2WSH", False)
    ext, int_ = w["keychains"]
    assert (ext["internal"], int_["internal"], ext["ranged"]) == (False, True, True)
    assert ext["descriptor"].split("#")[0] == src.replace("<0;1>", "0")
    assert await script_pubkeys(gql, w["id"], "RECEIVE") == embit_scripts(ext["descriptor"], 3)
    assert await script_pubkeys(gql, w["id"], "CHANGE") == embit_scripts(int_["descriptor"], 3)
    # round trip: the returned descriptor imports as the same wallet (same checksums): a duplicate
    body = await gql(
        IMPORT, {"i": {"name": "again", "network": "MAINNET", "source": w["descriptor"]}}, expect_errors=True
    )
    assert error(body)["extensions"]["code"] == "CONFLICT"


async def test_taproot_script_path_wallet_and_multi_leaf(gql: GraphQLClient, user_token: str) -> None:
    src = f"tr({XA}/<0;1>/*,{{pk({XB}/<0;1>/*),multi_a(1,{XC}/<0;1>/*,{XB}/7/<0;1>/*)}})"
    w = await imported(gql, src)
    assert w["scriptType"] == "P2TR" and len(w["keychains"]) == 2
    assert await script_pubkeys(gql, w["id"], "RECEIVE") == embit_scripts(w["keychains"][0]["descriptor"], 3)


async def test_lone_receive_chain_keeps_the_conventional_change_unless_asked(
    gql: GraphQLClient, user_token: str
) -> None:
    w = await imported(gql, f"wpkh({XA}/0/*)")
    assert w["changeImplied"] is True
    assert [(k["internal"], k["implied"]) for k in w["keychains"]] == [(False, False), (True, True)]
    assert w["changeDescriptor"].startswith(f"wpkh({XA}/1/*)#")
    only = await imported(gql, f"wpkh({XB}/0/*)", impliedChange=False)
    assert only["changeImplied"] is False and only["changeDescriptor"] is None and len(only["keychains"]) == 1
    assert (await addresses(gql, only["id"], chain="CHANGE"))["totalCount"] == 0
    # any other single chain is watched as given
    for src in (f"wpkh({XC}/*)", f"wpkh({XC}/1/2/*)"):
        one = await imported(gql, src)
        assert len(one["keychains"]) == 1 and one["changeDescriptor"] is None
        assert one["keychains"][0]["descriptor"].split("#")[0] == src
        assert await script_pubkeys(gql, one["id"], "RECEIVE") == embit_scripts(src, 3)


async def test_twenty_key_multisig_and_the_limits(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    root = HDKey.from_string(XC)
    keys = [root.derive([i]).to_base58() for i in range(21)]
    src = f"wsh(sortedmulti(11,{','.join(k + '/<0;1>/*' for k in keys[:20])}))"
    w = await imported(gql, src)
    assert (w["kind"], w["threshold"], w["scriptType"]) == ("MULTISIG", 11, "P2WSH")
    assert await script_pubkeys(gql, w["id"], "RECEIVE") == embit_scripts(src.replace("<0;1>", "0"), 3)
    for bad, rule in [
        (f"wsh(sortedmulti(2,{','.join(k + '/<0;1>/*' for k in keys)}))", "at most 20 keys in a P2WSH multisig"),
        (f"sh(sortedmulti(2,{','.join(k + '/<0;1>/*' for k in keys[:16])}))", "at most 15 keys in a P2SH multisig"),
        (f"multi(1,{','.join(k + '/0/*' for k in keys[:4])})", "at most 3 keys in a bare multisig"),
        (f"pkh([deadbeef/44H/0h/0h]{XA}/<0;1>/*)", "BIP-380"),
        (f"wsh(and_v(pk({XA}/0/*),pk({XB}/0/*)))", "Cannot parse"),
    ]:
        body = await gql(IMPORT, {"i": {"name": "x", "network": "MAINNET", "source": bad}}, expect_errors=True)
        ext = error(body)["extensions"]
        assert (ext["code"], ext["field"]) == ("BAD_USER_INPUT", "source")
        assert rule in error(body)["message"]
    async with server.container.store.read() as s:
        assert (await s.exec(select(func.count()).select_from(Wallet))).one() == 1


async def test_non_ranged_addr_raw_combo_and_bare(gql: GraphQLClient, user_token: str) -> None:
    a = await imported(gql, "addr(3PUNyaW7M55oKWJ3kDukwk9bsKvryra15j)")
    assert a["scriptType"] == "P2SH" and a["keychains"][0]["ranged"] is False
    conn = await addresses(gql, a["id"], first=50)
    assert conn["totalCount"] == 1 and conn["edges"][0]["node"]["address"] == "3PUNyaW7M55oKWJ3kDukwk9bsKvryra15j"
    nxt = await gql("mutation($w: ID!) { nextReceiveAddress(walletId: $w) { address index } }", {"w": a["id"]})
    assert nxt["data"]["nextReceiveAddress"] == {"address": "3PUNyaW7M55oKWJ3kDukwk9bsKvryra15j", "index": 0}
    r = await imported(gql, "raw(deadbeef)")
    node = (await addresses(gql, r["id"]))["edges"][0]["node"]
    assert (node["scriptPubKey"], node["address"], r["scriptType"]) == ("deadbeef", "", "BARE")
    k = "03a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd"
    c = await imported(gql, f"combo({k})")
    assert c["scriptType"] == "MIXED" and [x["scriptType"] for x in c["keychains"]] == [
        "BARE",
        "P2PKH",
        "P2WPKH",
        "P2SH_P2WPKH",
    ]
    assert (await addresses(gql, c["id"]))["totalCount"] == 4
    single = await imported(gql, f"wpkh({k})")
    assert single["kind"] == "SINGLE" and single["keychains"][0]["ranged"] is False
    m = await imported(gql, f"pkh({XA}/<0;1;2>/*)")
    assert [x["internal"] for x in m["keychains"]] == [False, False, False]  # >2 branches: all external
    assert (await addresses(gql, m["id"], chain="RECEIVE"))["totalCount"] == 9
