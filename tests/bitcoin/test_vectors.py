"""Official vectors (bitcoin/bips): BIP32 public derivation, BIP49, BIP84, BIP86, BIP67, BIP383."""

from __future__ import annotations

import pytest

from app.bitcoin import scripts
from app.bitcoin.addresses import address_from_script, scripthash
from app.bitcoin.derive import (
    ScriptPubKeyDeriver,
    child_pubkeys,
    ckd_pub,
    derive_xpub,
    secp256k1_backend,
    taproot_output_keys,
)
from app.bitcoin.descriptors import Chain, parse_wallet_source
from app.bitcoin.keys import parse_extended_key
from app.bitcoin.networks import Network
from app.bitcoin.scripts import ScriptType

MAIN, TEST = Network.MAINNET, Network.TESTNET


def xpub(s: str, net: Network = MAIN):  # type: ignore[no-untyped-def]
    return parse_extended_key(s, net).xpub


def test_uses_libsecp256k1() -> None:
    assert secp256k1_backend() == "libsecp256k1"


# BIP32 test vectors 1 and 2: every non-hardened (public) derivation step.
BIP32_PUBLIC_STEPS = [
    # TV1: m/0H -> m/0H/1
    (
        "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw",
        1,
        "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ",
    ),
    # TV1: m/0H/1/2H -> m/0H/1/2H/2
    (
        "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5",
        2,
        "xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV",
    ),
    # TV1: m/0H/1/2H/2 -> m/0H/1/2H/2/1000000000
    (
        "xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV",
        1000000000,
        "xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy",
    ),
    # TV2: m -> m/0
    (
        "xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB",
        0,
        "xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH",
    ),
    # TV2: m/0/2147483647H -> m/0/2147483647H/1
    (
        "xpub6ASAVgeehLbnwdqV6UKMHVzgqAG8Gr6riv3Fxxpj8ksbH9ebxaEyBLZ85ySDhKiLDBrQSARLq1uNRts8RuJiHjaDMBU4Zn9h8LZNnBC5y4a",
        1,
        "xpub6DF8uhdarytz3FWdA8TvFSvvAh8dP3283MY7p2V4SeE2wyWmG5mg5EwVvmdMVCQcoNJxGoWaU9DCWh89LojfZ537wTfunKau47EL2dhHKon",
    ),
    # TV2: m/0/2147483647H/1/2147483646H -> .../2
    (
        "xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL",
        2,
        "xpub6FnCn6nSzZAw5Tw7cgR9bi15UV96gLZhjDstkXXxvCLsUXBGXPdSnLFbdpq8p9HmGsApME5hQTZ3emM2rnY5agb9rXpVGyy3bdW6EEgAtqt",
    ),
]


@pytest.mark.parametrize(("parent", "index", "child"), BIP32_PUBLIC_STEPS)
def test_bip32_public_derivation(parent: str, index: int, child: str) -> None:
    assert ckd_pub(xpub(parent), index).to_base58() == child
    # the batch path gives the same key
    p = xpub(parent)
    assert child_pubkeys(p.pubkey, p.chain_code, index, 1) == [xpub(child).pubkey]


def test_bip32_tv1_multi_step() -> None:
    start = xpub(BIP32_PUBLIC_STEPS[1][0])  # m/0H/1/2H
    end = derive_xpub(start, (2, 1000000000))
    assert end.to_base58() == BIP32_PUBLIC_STEPS[2][2]


BIP84_ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
)


def test_bip84() -> None:
    desc = parse_wallet_source(BIP84_ZPUB, MAIN)
    assert desc.script_type is ScriptType.P2WPKH
    d = ScriptPubKeyDeriver(desc, Chain.RECEIVE)
    assert d.pubkeys(0, 2)[0] == [
        bytes.fromhex("0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c"),
        bytes.fromhex("03e775fd51f0dfb8cd865d9ff1cca2a158cf651fe997fdc9fee9c1d3b5e995ea77"),
    ]
    receive = [address_from_script(s, MAIN) for s in d.script_pubkeys(0, 2)]
    assert receive == [
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
        "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g",
    ]
    change = ScriptPubKeyDeriver(desc, Chain.CHANGE).script_pubkeys(0, 1)
    assert address_from_script(change[0], MAIN) == "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"


def test_bip49() -> None:
    upub = (
        "upub5EFU65HtV5TeiSHmZZm7FUffBGy8UKeqp7vw43jYbvZPpoVsgU93oac7"
        "Wk3u6moKegAEWtGNF8DehrnHtv21XXEMYRUocHqguyjknFHYfgY"
    )
    desc = parse_wallet_source(upub, TEST)
    assert desc.script_type is ScriptType.P2SH_P2WPKH
    d = ScriptPubKeyDeriver(desc, Chain.RECEIVE)
    pub = d.pubkeys(0, 1)[0][0]
    assert pub.hex() == "03a1af804ac108a8a51782198c2d034b28bf90c8803f5a53f76276fa69a4eae77f"
    assert scripts.hash160(pub).hex() == "38971f73930f6c141d977ac4fd4a727c854935b3"
    assert scripts.p2wpkh(pub).hex() == "001438971f73930f6c141d977ac4fd4a727c854935b3"
    (spk,) = d.script_pubkeys(0, 1)
    assert spk.hex() == "a914336caa13e08b96080a32b5d818d59b4ab3b3674287"
    assert address_from_script(spk, TEST) == "2Mww8dCYPUpKHofjgcXcBCEGmniw9CoaiD2"


BIP86_XPUB = (
    "xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ"
)


def test_bip86() -> None:
    desc = parse_wallet_source(f"[73c5da0a/86h/0h/0h]{BIP86_XPUB}", MAIN)
    assert desc.script_type is ScriptType.P2TR  # implied by the origin's purpose 86'
    d = ScriptPubKeyDeriver(desc, Chain.RECEIVE)
    internal = d.pubkeys(0, 2)[0]
    assert [k[1:].hex() for k in internal] == [
        "cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115",
        "83dfe85a3151d2517290da461fe2815591ef69f2b18a2ce63f01697a8b313145",
    ]
    assert [k.hex() for k in taproot_output_keys(internal)] == [
        "a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c",
        "a82f29944d65b86ae6b5e5cc75e294ead6c59391a1edc5e016e3498c67fc7bbb",
    ]
    spks = d.script_pubkeys(0, 2)
    assert [address_from_script(s, MAIN) for s in spks] == [
        "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr",
        "bc1p4qhjn9zdvkux4e44uhx8tc55attvtyu358kutcqkudyccelu0was9fqzwh",
    ]
    (change,) = ScriptPubKeyDeriver(desc, Chain.CHANGE).script_pubkeys(0, 1)
    assert change.hex() == "5120882d74e5d0572d5a816cef0041a96b6c1de832f6f9676d9605c44d5e9a97d3dc"
    assert address_from_script(change, MAIN) == "bc1p3qkhfews2uk44qtvauqyr2ttdsw7svhkl9nkm9s9c3x4ax5h60wqwruhk7"


BIP67 = [
    (
        [
            "02ff12471208c14bd580709cb2358d98975247d8765f92bc25eab3b2763ed605f8",
            "02fe6f0a5a297eb38c391581c4413e084773ea23954d93f7753db7dc0adc188b2f",
        ],
        "522102fe6f0a5a297eb38c391581c4413e084773ea23954d93f7753db7dc0adc188b2f2102ff12471208c14bd580709cb2358d98975247d8765f92bc25eab3b2763ed605f852ae",
        "39bgKC7RFbpoCRbtD5KEdkYKtNyhpsNa3Z",
    ),
    (
        [
            "02632b12f4ac5b1d1b72b2a3b508c19172de44f6f46bcee50ba33f3f9291e47ed0",
            "027735a29bae7780a9755fae7a1c4374c656ac6a69ea9f3697fda61bb99a4f3e77",
            "02e2cc6bd5f45edd43bebe7cb9b675f0ce9ed3efe613b177588290ad188d11b404",
        ],
        "522102632b12f4ac5b1d1b72b2a3b508c19172de44f6f46bcee50ba33f3f9291e47ed021027735a29bae7780a9755fae7a1c4374c656ac6a69ea9f3697fda61bb99a4f3e772102e2cc6bd5f45edd43bebe7cb9b675f0ce9ed3efe613b177588290ad188d11b40453ae",
        "3CKHTjBKxCARLzwABMu9yD85kvtm7WnMfH",
    ),
    (
        [
            "030000000000000000000000000000000000004141414141414141414141414141",
            "020000000000000000000000000000000000004141414141414141414141414141",
            "020000000000000000000000000000000000004141414141414141414141414140",
            "030000000000000000000000000000000000004141414141414141414141414140",
        ],
        "522102000000000000000000000000000000000000414141414141414141414141414021020000000000000000000000000000000000004141414141414141414141414141210300000000000000000000000000000000000041414141414141414141414141402103000000000000000000000000000000000000414141414141414141414141414154ae",
        "32V85igBri9zcfBRVupVvwK18NFtS37FuD",
    ),
    (
        [
            "022df8750480ad5b26950b25c7ba79d3e37d75f640f8e5d9bcd5b150a0f85014da",
            "03e3818b65bcc73a7d64064106a859cc1a5a728c4345ff0b641209fba0d90de6e9",
            "021f2f6e1e50cb6a953935c3601284925decd3fd21bc445712576873fb8c6ebc18",
        ],
        "5221021f2f6e1e50cb6a953935c3601284925decd3fd21bc445712576873fb8c6ebc1821022df8750480ad5b26950b25c7ba79d3e37d75f640f8e5d9bcd5b150a0f85014da2103e3818b65bcc73a7d64064106a859cc1a5a728c4345ff0b641209fba0d90de6e953ae",
        "3Q4sF6tv9wsdqu2NtARzNCpQgwifm2rAba",
    ),
]


@pytest.mark.parametrize(("keys", "script", "address"), BIP67)
def test_bip67_sorted_multisig(keys: list[str], script: str, address: str) -> None:
    ws = scripts.multisig_script(2, [bytes.fromhex(k) for k in keys], sort=True)
    assert ws.hex() == script
    assert address_from_script(scripts.wrap_multisig(ScriptType.P2SH, ws), MAIN) == address


def test_bip383_sortedmulti_with_extended_keys() -> None:
    """sortedmulti(2,xpub6ERA.../*,xpub68NZ.../0/0/*): keys sorted after derivation, in lockstep."""
    k1 = xpub(
        "xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL"
    )
    k2 = derive_xpub(
        xpub(
            "xpub68NZiKmJWnxxS6aaHmn81bvJeTESw724CRDs6HbuccFQN9Ku14VQrADWgqbhhTHBaohPX4CjNLf9fq9MYo6oDaPPLPxSb7gwQN3ih19Zm4Y"
        ),
        (0, 0),
    )
    a = child_pubkeys(k1.pubkey, k1.chain_code, 0, 3)
    b = child_pubkeys(k2.pubkey, k2.chain_code, 0, 3)
    got = [scripts.multisig_script(2, [x, y], sort=True).hex() for x, y in zip(a, b, strict=True)]
    assert got == [
        "5221025d5fc65ebb8d44a5274b53bac21ff8307fec2334a32df05553459f8b1f7fe1b62102fbd47cc8034098f0e6a94c6aeee8528abf0a2153a5d8e46d325b7284c046784652ae",
        "52210264fd4d1f5dea8ded94c61e9641309349b62f27fbffe807291f664e286bfbe6472103f4ece6dfccfa37b211eb3d0af4d0c61dba9ef698622dc17eecdf764beeb005a652ae",
        "5221022ccabda84c30bad578b13c89eb3b9544ce149787e5b538175b1d1ba259cbb83321024d902e1a2fc7a8755ab5b694c575fce742c48d9ff192e63df5193e4c7afe1f9c52ae",
    ]


def test_bip383_sh_wsh_multi_16() -> None:
    keys = [
        bytes.fromhex(k)
        for k in (
            "03669b8afcec803a0d323e9a17f3ea8e68e8abe5a278020a929adbec52421adbd0",
            "0260b2003c386519fc9eadf2b5cf124dd8eea4c4e68d5e154050a9346ea98ce600",
            "0362a74e399c39ed5593852a30147f2959b56bb827dfa3e60e464b02ccf87dc5e8",
            "0261345b53de74a4d721ef877c255429961b7e43714171ac06168d7e08c542a8b8",
            "02da72e8b46901a65d4374fe6315538d8f368557dda3a1dcf9ea903f3afe7314c8",
            "0318c82dd0b53fd3a932d16e0ba9e278fcc937c582d5781be626ff16e201f72286",
            "0297ccef1ef99f9d73dec9ad37476ddb232f1238aff877af19e72ba04493361009",
            "02e502cfd5c3f972fe9a3e2a18827820638f96b6f347e54d63deb839011fd5765d",
            "03e687710f0e3ebe81c1037074da939d409c0025f17eb86adb9427d28f0f7ae0e9",
            "02c04d3a5274952acdbc76987f3184b346a483d43be40874624b29e3692c1df5af",
            "02ed06e0f418b5b43a7ec01d1d7d27290fa15f75771cb69b642a51471c29c84acd",
            "036d46073cbb9ffee90473f3da429abc8de7f8751199da44485682a989a4bebb24",
            "02f5d1ff7c9029a80a4e36b9a5497027ef7f3e73384a4a94fbfe7c4e9164eec8bc",
            "02e41deffd1b7cce11cde209a781adcffdabd1b91c0ba0375857a2bfd9302419f3",
            "02d76625f7956a7fc505ab02556c23ee72d832f1bac391bcd2d3abce5710a13d06",
            "0399eb0a5487515802dc14544cf10b3666623762fbed2ec38a3975716e2c29c232",
        )
    ]
    ws = scripts.multisig_script(16, keys, sort=False)
    spk = scripts.wrap_multisig(ScriptType.P2SH_P2WSH, ws)
    assert spk.hex() == "a9147fc63e13dc25e8a95a3cee3d9a714ac3afd96f1e87"


def test_scripthash_is_reversed_sha256() -> None:
    # Electrum protocol docs example: P2PKH of 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa
    spk = bytes.fromhex("76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac")
    assert scripthash(spk) == "8b01df4e368ea28f8dc0423bcf7a4923e3a12d307c875e47a0cfbf90b5c39161"


def test_pure_python_fallback_derives_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """If embit fell back to pure-Python secp256k1, results are the same (only slower)."""
    from app.bitcoin import derive

    desc = parse_wallet_source(f"[73c5da0a/86h/0h/0h]{BIP86_XPUB}", MAIN)
    fast = ScriptPubKeyDeriver(desc, Chain.RECEIVE).script_pubkeys(0, 3)
    single = parse_wallet_source(BIP84_ZPUB, MAIN)
    fast84 = ScriptPubKeyDeriver(single, Chain.CHANGE).script_pubkeys(5, 3)
    monkeypatch.setattr(derive, "_SECP", None)
    assert derive.secp256k1_backend() == "python"
    assert ScriptPubKeyDeriver(desc, Chain.RECEIVE).script_pubkeys(0, 3) == fast
    assert ScriptPubKeyDeriver(single, Chain.CHANGE).script_pubkeys(5, 3) == fast84
