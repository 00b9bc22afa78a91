"""importWallet / createMultisigWallet over real HTTP: every source kind, vectors, refusals."""

from __future__ import annotations

import pytest
from embit.descriptor import Descriptor
from sqlmodel import func, select

from app.bitcoin.addresses import address_from_script
from app.bitcoin.networks import Network
from app.store.models.wallets import Wallet, WalletAddress
from tests.support.server import GraphQLClient, LiveServer
from tests.wallets.helpers import IMPORT, MULTISIG, addresses, error, import_wallet

ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
ACCOUNT84 = (
    "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V"
)
UPUB = "upub5EFU65HtV5TeiSHmZZm7FUffBGy8UKeqp7vw43jYbvZPpoVsgU93oac7Wk3u6moKegAEWtGNF8DehrnHtv21XXEMYRUocHqguyjknFHYfgY"
BIP86 = (
    "xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ"
)
XPRV = "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"
WIF = "L4rK1yDtCWekvXuE6oXD9jCYfFNV2cWRpVuPLBcCU2z8TrisoyY1"
# Depth-4 mainnet keys (BIP32 test-vector keys; the last is m/0H/1/2H/7), stand-ins for BIP48 keys.
MS_KEYS = [
    "xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV",
    "xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL",
    "xpub6FHa3pjLCk84NdrhviETPPFMg3w1d1t71WLZ271zk58J2PinjjKJZNYSSEAin6qqcnU9fzDM4G1V26PGiwndJqPy56bNVPQ7r6EhFJA8wqc",
]


async def first_addresses(gql: GraphQLClient, wallet_id: str, chain: str, n: int = 2) -> list[str]:
    conn = await addresses(gql, wallet_id, chain=chain, first=n)
    return [e["node"]["address"] for e in conn["edges"]]


async def test_import_zpub_gives_bip84_addresses(any_engine: str, gql: GraphQLClient, user_token: str) -> None:
    w = await import_wallet(gql, name="  Cold   storage ", source=ZPUB)
    assert w["name"] == "Cold storage"
    assert (w["kind"], w["scriptType"], w["network"], w["gapLimit"]) == ("SINGLE", "P2WPKH", "MAINNET", 20)
    assert w["descriptor"].startswith(f"wpkh({ACCOUNT84}/<0;1>/*)#")
    assert w["receiveDescriptor"].startswith(f"wpkh({ACCOUNT84}/0/*)#")
    assert w["changeDescriptor"].startswith(f"wpkh({ACCOUNT84}/1/*)#")
    assert w["syncStatus"] == "PENDING" and w["lastSyncedAt"] is None
    assert w["balance"] == {"confirmed": 0, "unconfirmed": 0, "total": 0}
    assert await first_addresses(gql, w["id"], "RECEIVE") == [
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
        "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g",
    ]
    assert await first_addresses(gql, w["id"], "CHANGE", 1) == ["bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"]
    conn = await addresses(gql, w["id"], first=500)
    assert conn["totalCount"] == 40  # gap limit on each chain
    node = conn["edges"][0]["node"]
    assert node["used"] is False and node["reserved"] is False and node["balance"] == 0
    assert node["scriptPubKey"] == "0014c0cebcd6c3d3ca8c75dc5ec62ebe55330ef910e2"


async def test_import_other_source_kinds(gql: GraphQLClient, user_token: str) -> None:
    # upub on testnet: P2SH-P2WPKH (BIP49 vector)
    w = await import_wallet(gql, source=UPUB, network="TESTNET", gapLimit=5)
    assert w["scriptType"] == "P2SH_P2WPKH" and w["gapLimit"] == 5
    assert (await first_addresses(gql, w["id"], "RECEIVE", 1)) == ["2Mww8dCYPUpKHofjgcXcBCEGmniw9CoaiD2"]
    # plain xpub with explicit script type P2TR (BIP86 vector)
    w = await import_wallet(gql, source=f"[73c5da0a/86'/0'/0']{BIP86}", scriptType="P2TR")
    assert w["descriptor"].startswith(f"tr([73c5da0a/86h/0h/0h]{BIP86}/<0;1>/*)#")
    assert (await first_addresses(gql, w["id"], "RECEIVE", 1)) == [
        "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"
    ]
    # descriptor pair (receive + change lines) for the BIP86 key as P2PKH
    w = await import_wallet(gql, source=f"pkh({BIP86}/0/*)\npkh({BIP86}/1/*)")
    assert w["scriptType"] == "P2PKH" and w["descriptor"].startswith(f"pkh({BIP86}/<0;1>/*)#")
    got = await first_addresses(gql, w["id"], "CHANGE", 2)
    ref = Descriptor.from_string(f"pkh({BIP86}/1/*)")
    assert got == [address_from_script(ref.derive(i).script_pubkey().data, Network.MAINNET) for i in range(2)]
    # a multisig descriptor with checksum
    ms = f"wsh(sortedmulti(2,{MS_KEYS[0]}/<0;1>/*,{MS_KEYS[1]}/<0;1>/*,{MS_KEYS[2]}/<0;1>/*))"
    from app.bitcoin.descriptors import add_checksum

    w = await import_wallet(gql, source=add_checksum(ms))
    assert (w["kind"], w["scriptType"], w["threshold"]) == ("MULTISIG", "P2WSH", 2)
    assert [c["xpub"] for c in w["cosigners"]] == MS_KEYS
    got = await first_addresses(gql, w["id"], "RECEIVE", 3)
    ref = Descriptor.from_string(ms.replace("<0;1>", "0"))
    assert got == [address_from_script(ref.derive(i).script_pubkey().data, Network.MAINNET) for i in range(3)]


async def test_create_multisig_2_of_3(any_engine: str, gql: GraphQLClient, user_token: str) -> None:
    cosigners = [{"name": f"Device {i}", "xpub": k, "fingerprint": f"0000000{i}"} for i, k in enumerate(MS_KEYS)]
    body = await gql(MULTISIG, {"i": {"name": "Vault", "threshold": 2, "cosigners": cosigners}})
    w = body["data"]["createMultisigWallet"]
    assert (w["kind"], w["scriptType"], w["threshold"]) == ("MULTISIG", "P2WSH", 2)
    assert w["descriptor"].startswith(f"wsh(sortedmulti(2,[00000000/48h/0h/0h/2h]{MS_KEYS[0]}/<0;1>/*,")
    assert w["cosigners"][1] == {
        "name": "Device 1",
        "xpub": MS_KEYS[1],
        "fingerprint": "00000001",
        "derivationPath": "m/48h/0h/0h/2h",
    }
    ref = Descriptor.from_string(w["receiveDescriptor"].partition("#")[0])
    got = await first_addresses(gql, w["id"], "RECEIVE", 3)
    assert got == [address_from_script(ref.derive(i).script_pubkey().data, Network.MAINNET) for i in range(3)]
    # the same keys in another order (or as a descriptor) are the same wallet
    body = await gql(
        MULTISIG, {"i": {"name": "Again", "threshold": 2, "cosigners": cosigners[::-1]}}, expect_errors=True
    )
    assert error(body)["extensions"]["code"] == "CONFLICT"
    body = await gql(IMPORT, {"i": {"name": "x", "source": w["descriptor"], "network": "MAINNET"}}, expect_errors=True)
    assert error(body)["extensions"]["code"] == "CONFLICT"


BAD_IMPORTS = [
    ({"source": XPRV}, "source", "watch-only"),
    ({"source": WIF}, "source", "watch-only"),
    ({"source": f"wpkh({XPRV}/<0;1>/*)"}, "source", "watch-only"),
    ({"source": "abandon " * 11 + "about"}, "source", "watch-only"),
    ({"source": ZPUB, "network": "TESTNET"}, "source", "mainnet key"),
    ({"source": UPUB}, "source", "test-network key"),
    ({"source": f"wpkh({ACCOUNT84}/<0;1>/*)#qqqqqqqq"}, "source", "checksum"),
    ({"source": f"wpkh({ACCOUNT84}/0h/*)"}, "source", "ardened"),
    ({"source": "not a key"}, "source", "Not a valid"),
    ({"source": ""}, "source", "empty"),
    ({"source": ACCOUNT84}, "scriptType", "scriptType"),
    ({"source": ZPUB, "scriptType": "P2TR"}, "scriptType", "zpub"),
    ({"source": ACCOUNT84, "scriptType": "P2WSH"}, "scriptType", "multisig"),
    ({"source": ZPUB, "gapLimit": 0}, "gapLimit", "gapLimit"),
    ({"source": ZPUB, "gapLimit": 1001}, "gapLimit", "gapLimit"),
    ({"source": ZPUB, "name": "   "}, "name", "name"),
    ({"source": ZPUB, "name": "x" * 101}, "name", "too long"),
]


async def test_bad_imports_are_refused_and_nothing_is_stored(
    server: LiveServer, gql: GraphQLClient, user_token: str
) -> None:
    for fields, field, needle in BAD_IMPORTS:  # one server for every case (each case is one request)
        body = await gql(IMPORT, {"i": {"name": "W", "network": "MAINNET", **fields}}, expect_errors=True)
        err = error(body)
        assert err["extensions"]["code"] == "BAD_USER_INPUT", (fields, err)
        assert err["extensions"]["field"] == field, (fields, err)
        assert needle in err["message"], (fields, err)
        for secret in (XPRV, WIF, "abandon abandon"):
            assert secret not in err["message"]
    listed = await gql("{ wallets { totalCount } }")
    assert listed["data"]["wallets"]["totalCount"] == 0
    async with server.container.store.read() as s:
        assert (await s.exec(select(func.count()).select_from(Wallet))).one() == 0
        assert (await s.exec(select(func.count()).select_from(WalletAddress))).one() == 0


async def test_invalid_enum_is_a_bad_input(gql: GraphQLClient, user_token: str) -> None:
    body = await gql(
        IMPORT, {"i": {"name": "W", "network": "MAINNET", "source": ZPUB, "scriptType": "P2XX"}}, expect_errors=True
    )
    assert error(body)["extensions"]["code"] == "BAD_USER_INPUT"


async def test_duplicate_import_is_a_conflict(gql: GraphQLClient, user_token: str) -> None:
    await import_wallet(gql, source=ZPUB)
    # the same wallet written differently: canonical xpub descriptor with origin and checksum
    from app.bitcoin.descriptors import add_checksum

    same = add_checksum(f"wpkh([73c5da0a/84h/0h/0h]{ACCOUNT84}/<0;1>/*)")
    body = await gql(IMPORT, {"i": {"name": "dup", "network": "MAINNET", "source": same}}, expect_errors=True)
    err = error(body)
    assert err["extensions"]["code"] == "CONFLICT"
    assert (await gql("{ wallets { totalCount } }"))["data"]["wallets"]["totalCount"] == 1
    # the same key as another script type is a different wallet
    await import_wallet(gql, source=ACCOUNT84, scriptType="P2TR")
    # and another user may import the same key
    gql.token = await gql.register("bob@example.com")
    await import_wallet(gql, source=ZPUB)


BAD_MULTISIG = [
    ({"threshold": 0}, "threshold"),
    ({"threshold": 4}, "threshold"),
    ({"scriptType": "P2WPKH"}, "scriptType"),
    ({"cosigners": []}, "cosigners"),
    ({"dup": True}, "cosigners.2.xpub"),
    ({"nofp": True}, "cosigners.0.fingerprint"),
    ({"path": "m/48h/0h/0h"}, "cosigners.0.derivationPath"),
    ({"tpub": True}, "cosigners.1.xpub"),
    ({"xprv": True}, "cosigners.1.xpub"),
]


def _multisig_case(change: dict[str, object]) -> dict[str, object]:
    from embit import base58

    cos: list[dict[str, object]] = [{"xpub": k, "fingerprint": f"0000000{i}"} for i, k in enumerate(MS_KEYS)]
    inp: dict[str, object] = {"name": "V", "threshold": 2, "cosigners": cos}
    if change.get("dup"):
        cos[2] = {"xpub": MS_KEYS[0], "fingerprint": "00000002"}
    elif change.get("nofp"):
        cos[0] = {"xpub": MS_KEYS[0]}
    elif "path" in change:
        cos[0] = {**cos[0], "derivationPath": change["path"]}
    elif change.get("tpub"):
        raw = base58.decode_check(MS_KEYS[1])
        cos[1] = {"xpub": base58.encode_check(bytes.fromhex("043587cf") + raw[4:]), "fingerprint": "00000001"}
    elif change.get("xprv"):
        cos[1] = {"xpub": XPRV, "fingerprint": "00000001"}
    else:
        inp.update(change)
    return inp


async def test_bad_multisig_is_refused(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    for change, field in BAD_MULTISIG:
        body = await gql(MULTISIG, {"i": _multisig_case(change)}, expect_errors=True)
        err = error(body)
        assert err["extensions"]["code"] == "BAD_USER_INPUT", (change, err)
        assert err["extensions"]["field"] == field, (change, err)
    async with server.container.store.read() as s:
        assert (await s.exec(select(func.count()).select_from(Wallet))).one() == 0


async def test_key_material_is_encrypted_at_rest(server: LiveServer, gql: GraphQLClient, user_token: str) -> None:
    import hashlib

    w = await import_wallet(gql, source=f"[73c5da0a/84h/0h/0h]{ZPUB}")
    async with server.container.store.read() as s:
        row = (await s.exec(select(Wallet).where(Wallet.id == w["id"]))).one()
    for secret in (ACCOUNT84, ZPUB, "73c5da0a"):
        assert secret not in row.descriptor_enc
    assert row.descriptor_enc.startswith("v1.")
    assert row.fingerprint not in (
        hashlib.sha256(ACCOUNT84.encode()).hexdigest(),
        hashlib.sha256(w["descriptor"].encode()).hexdigest(),
    )
    # bound to the owner: decrypting with another user id fails
    from app.security.crypto import DecryptionError

    with pytest.raises(DecryptionError):
        server.container.keyring.decrypt(row.descriptor_enc, aad="someone-else")


async def test_needs_sign_in(gql: GraphQLClient) -> None:
    body = await gql(IMPORT, {"i": {"name": "W", "network": "MAINNET", "source": ZPUB}}, expect_errors=True)
    assert error(body)["extensions"]["code"] == "UNAUTHENTICATED"
    body = await gql("{ wallets { totalCount } }", expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
