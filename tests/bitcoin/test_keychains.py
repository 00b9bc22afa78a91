"""Every descriptor Bitcoin Core watches: BIP-380..386 and 389 test vectors through the parser
(:mod:`app.bitcoin.keychains`), with private keys of the published vectors replaced by their public
keys (this service is watch-only; the scripts are the same). Vectors copied from the BIPs
(https://github.com/bitcoin/bips: bip-0381/382/383/385/386/389.mediawiki)."""

from __future__ import annotations

import re

import pytest
from embit.bip32 import HDKey
from embit.ec import PrivateKey

from app.bitcoin.keychains import parse_watched
from app.bitcoin.networks import Network
from app.bitcoin.scripts import ScriptType
from app.errors import BadInput

MAIN = Network.MAINNET


def public(desc: str) -> str:
    """The published vector with its xprv/WIF keys replaced by their public keys."""

    def xprv(m: re.Match[str]) -> str:
        return HDKey.from_string(m.group(0)).to_public().to_base58()

    def wif(m: re.Match[str]) -> str:
        return PrivateKey.from_wif(m.group(0)).get_public_key().sec().hex()

    desc = re.sub(r"xprv[1-9A-HJ-NP-Za-km-z]{107,108}", xprv, desc)
    return re.sub(r"(?<![0-9A-Za-z])[5KL][1-9A-HJ-NP-Za-km-z]{50,51}(?![0-9A-Za-z])", wif, desc)


def scripts_of(desc: str, count: int = 3, keychain: int = 0) -> list[str]:
    w = parse_watched(desc, MAIN, implied_change=False)
    return [s.hex() for s in w.keychains[keychain].script_pubkeys(0, count)]


XPUB_A = (
    "xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL"
)
XPUB_B = (
    "xpub68NZiKmJWnxxS6aaHmn81bvJeTESw724CRDs6HbuccFQN9Ku14VQrADWgqbhhTHBaohPX4CjNLf9fq9MYo6oDaPPLPxSb7gwQN3ih19Zm4Y"
)
XPUB_C = (
    "xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB"
)
XPUB_D = (
    "xpub661MyMwAqRbcGDZQUKLqmWodYLcoBQnQH33yYkkF3jjxeLvY8qr2wWGEWkiKFaaQfJCoi3HeEq3Dc5DptfbCyjD38fNhSqtKc1UHaP4ba3t"
)
K_A34 = "a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd"
WIF_L4 = "L4rK1yDtCWekvXuE6oXD9jCYfFNV2cWRpVuPLBcCU2z8TrisoyY1"
WIF_5K = "5KYZdUEo39z3FPrtuX2QbbwGnNP5zTd7yyr2SC1j299sBCnWjss"

# (descriptor, first scripts) — BIP-381/382/383/385/386 "Valid descriptors" sections
VECTORS = [
    # BIP-381
    ("pk(" + WIF_L4 + ")", ["2103a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bdac"]),
    ("pkh(" + WIF_L4 + ")", ["76a9149a1c78a507689f6f54b847ad1cef1e614ee23f1e88ac"]),
    (
        "sh(pk(03a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd))",
        ["a9141857af51a5e516552b3086430fd8ce55f7c1a52487"],
    ),
    # BIP-382
    ("wpkh(" + WIF_L4 + ")", ["00149a1c78a507689f6f54b847ad1cef1e614ee23f1e"]),
    (
        "sh(wpkh(03a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd))",
        ["a91484ab21b1b2fd065d4504ff693d832434b6108d7b87"],
    ),
    (
        "wpkh([ffffffff/13']xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH/1/2/*)",
        [
            "0014326b2249e3a25d5dc60935f044ee835d090ba859",
            "0014af0bd98abc2f2cae66e36896a39ffe2d32984fb7",
            "00141fa798efd1cbf95cebf912c031b8a4a6e9fb9f27",
        ],
    ),
    ("wsh(pkh(" + WIF_L4 + "))", ["0020338e023079b91c58571b20e602d7805fb808c22473cbc391a41b1bd3a192e75b"]),
    (
        "wsh(pk(03a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd))",
        ["00202e271faa2325c199d25d22e1ead982e45b64eeb4f31e73dbdf41bd4b5fec23fa"],
    ),
    ("sh(wsh(pkh(" + WIF_L4 + ")))", ["a914b61b92e2ca21bac1e72a3ab859a742982bea960a87"]),
    # BIP-383
    (
        "multi(1," + WIF_L4 + "," + WIF_5K + ")",
        [
            "512103a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd4104a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd5b8dec5235a0fa8722476c7709c02559e3aa73aa03918ba2d492eea75abea23552ae"
        ],
    ),
    (
        "sortedmulti(1,04a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd5b8dec5235a0fa8722476c7709c02559e3aa73aa03918ba2d492eea75abea235,03a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd)",
        [
            "512103a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd4104a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd5b8dec5235a0fa8722476c7709c02559e3aa73aa03918ba2d492eea75abea23552ae"
        ],
    ),
    (
        "sh(multi(2,[00000000/111'/222]xprvA1RpRA33e1JQ7ifknakTFpgNXPmW2YvmhqLQYMmrj4xJXXWYpDPS3xz7iAxn8L39njGVyuoseXzU6rcxFLJ8HFsTjSyQbLYnMpCqE2VbFWc,xprv9uPDJpEQgRQfDcW7BkF7eTya6RPxXeJCqCJGHuCJ4GiRVLzkTXBAJMu2qaMWPrS7AANYqdq6vcBcBUdJCVVFceUvJFjaPdGZ2y9WACViL4L/0))",
        ["a91445a9a622a8b0a1269944be477640eedc447bbd8487"],
    ),
    (
        f"sortedmulti(2,{XPUB_A}/*,{XPUB_B}/0/0/*)",
        [
            "5221025d5fc65ebb8d44a5274b53bac21ff8307fec2334a32df05553459f8b1f7fe1b62102fbd47cc8034098f0e6a94c6aeee8528abf0a2153a5d8e46d325b7284c046784652ae",
            "52210264fd4d1f5dea8ded94c61e9641309349b62f27fbffe807291f664e286bfbe6472103f4ece6dfccfa37b211eb3d0af4d0c61dba9ef698622dc17eecdf764beeb005a652ae",
            "5221022ccabda84c30bad578b13c89eb3b9544ce149787e5b538175b1d1ba259cbb83321024d902e1a2fc7a8755ab5b694c575fce742c48d9ff192e63df5193e4c7afe1f9c52ae",
        ],
    ),
    # BIP-385
    ("raw(deadbeef)", ["deadbeef"]),
    ("raw(a9149a4d9901d6af519b2a23d4a2f51650fcba87ce7b87)", ["a9149a4d9901d6af519b2a23d4a2f51650fcba87ce7b87"]),
    ("addr(3PUNyaW7M55oKWJ3kDukwk9bsKvryra15j)", ["a914eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee87"]),
    # BIP-386
    (f"tr({K_A34})", ["512077aab6e066f8a7419c5ab714c12c67d25007ed55a43cadcacb4d7a970a093f11"]),
    (
        "tr(xprvA1RpRA33e1JQ7ifknakTFpgNXPmW2YvmhqLQYMmrj4xJXXWYpDPS3xz7iAxn8L39njGVyuoseXzU6rcxFLJ8HFsTjSyQbLYnMpCqE2VbFWc/0/*,pk(xprvA1RpRA33e1JQ7ifknakTFpgNXPmW2YvmhqLQYMmrj4xJXXWYpDPS3xz7iAxn8L39njGVyuoseXzU6rcxFLJ8HFsTjSyQbLYnMpCqE2VbFWc/1/*))",
        [
            "512078bc707124daa551b65af74de2ec128b7525e10f374dc67b64e00ce0ab8b3e12",
            "512001f0a02a17808c20134b78faab80ef93ffba82261ccef0a2314f5d62b6438f11",
            "512021024954fcec88237a9386fce80ef2ced5f1e91b422b26c59ccfc174c8d1ad25",
        ],
    ),
    (
        f"tr({K_A34},pk(669b8afcec803a0d323e9a17f3ea8e68e8abe5a278020a929adbec52421adbd0))",
        ["512017cf18db381d836d8923b1bdb246cfcd818da1a9f0e6e7907f187f0b2f937754"],
    ),
    (
        f"tr({K_A34},{{pk(xprvA2JDeKCSNNZky6uBCviVfJSKyQ1mDYahRjijr5idH2WwLsEd4Hsb2Tyh8RfQMuPh7f7RtyzTtdrbdqqsunu5Mm3wDvUAKRHSC34sJ7in334/0),"
        f"{{{{pk({XPUB_A}),pk(02df12b7035bdac8e3bab862a3a83d06ea6b17b6753d52edecba9be46f5d09e076)}},pk({WIF_L4})}}}})",
        ["512071fff39599a7b78bc02623cbe814efebf1a404f5d8ad34ea80f213bd8943f574"],
    ),
]


@pytest.mark.parametrize(("desc", "expected"), VECTORS, ids=[v[0][:24] for v in VECTORS])
def test_bip_vectors_derive_the_published_scripts(desc: str, expected: list[str]) -> None:
    assert scripts_of(public(desc), len(expected)) == expected


def test_bip383_twenty_keys_in_wsh_and_sh_wsh() -> None:
    keys = (
        "KzoAz5CanayRKex3fSLQ2BwJpN7U52gZvxMyk78nDMHuqrUxuSJy,KwGNz6YCCQtYvFzMtrC6D3tKTKdBBboMrLTsjr2NYVBwapCkn7Mr,"
        "KxogYhiNfwxuswvXV66eFyKcCpm7dZ7TqHVqujHAVUjJxyivxQ9X,L2BUNduTSyZwZjwNHynQTF14mv2uz2NRq5n5sYWTb4FkkmqgEE9f,"
        "L1okJGHGn1kFjdXHKxXjwVVtmCMR2JA5QsbKCSpSb7ReQjezKeoD,KxDCNSST75HFPaW5QKpzHtAyaCQC7p9Vo3FYfi2u4dXD1vgMiboK,"
        "L5edQjFtnkcf5UWURn6UuuoFrabgDQUHdheKCziwN42aLwS3KizU,KzF8UWFcEC7BYTq8Go1xVimMkDmyNYVmXV5PV7RuDicvAocoPB8i,"
        "L3nHUboKG2w4VSJ5jYZ5CBM97oeK6YuKvfZxrefdShECcjEYKMWZ,KyjHo36dWkYhimKmVVmQTq3gERv3pnqA4xFCpvUgbGDJad7eS8WE,"
        "KwsfyHKRUTZPQtysN7M3tZ4GXTnuov5XRgjdF2XCG8faAPmFruRF,KzCUbGhN9LJhdeFfL9zQgTJMjqxdBKEekRGZX24hXdgCNCijkkap,"
        "KzgpMBwwsDLwkaC5UrmBgCYaBD2WgZ7PBoGYXR8KT7gCA9UTN5a3,KyBXTPy4T7YG4q9tcAM3LkvfRpD1ybHMvcJ2ehaWXaSqeGUxEdkP,"
        "KzJDe9iwJRPtKP2F2AoN6zBgzS7uiuAwhWCfGdNeYJ3PC1HNJ8M8,L1xbHrxynrqLKkoYc4qtoQPx6uy5qYXR5ZDYVYBSRmCV5piU3JG9,"
        "KzRedjSwMggebB3VufhbzpYJnvHfHe9kPJSjCU5QpJdAW3NSZxYS,Kyjtp5858xL7JfeV4PNRCKy2t6XvgqNNepArGY9F9F1SSPqNEMs3,"
        "L2D4RLHPiHBidkHS8ftx11jJk1hGFELvxh8LoxNQheaGT58dKenW,KyLPZdwY4td98bKkXqEXTEBX3vwEYTQo1yyLjX2jKXA63GBpmSjv"
    )
    assert scripts_of(public(f"wsh(multi(20,{keys}))"), 1) == [
        "0020376bd8344b8b6ebe504ff85ef743eaa1aa9272178223bcb6887e9378efb341ac"
    ]
    assert scripts_of(public(f"sh(wsh(multi(20,{keys})))"), 1) == ["a914c2c9c510e9d7f92fd6131e94803a8d34a8ef675e87"]
    w = parse_watched(public(f"wsh(multi(20,{keys}))"), MAIN)
    assert w.key_count == 20 and w.threshold == 20 and w.script_type is ScriptType.P2WSH


def test_bip389_multipath_vectors_expand_in_order() -> None:
    w = parse_watched(f"pk({XPUB_B}/<0;1>)", MAIN)
    assert [k.descriptor.split("#")[0] for k in w.keychains] == [f"pk({XPUB_B}/0)", f"pk({XPUB_B}/1)"]
    assert [k.internal for k in w.keychains] == [False, True]
    w = parse_watched(f"pkh({XPUB_C}/<0;1;2>)", MAIN)
    assert [k.descriptor.split("#")[0] for k in w.keychains] == [f"pkh({XPUB_C}/{i})" for i in range(3)]
    assert [k.internal for k in w.keychains] == [False, False, False]  # >2 branches: all external (Core)
    w = parse_watched(f"sh(multi(2,{XPUB_A}/<1;2;3>/0/*,{XPUB_B}/0/*,{XPUB_D}/0/0/<3;4;5>/*))", MAIN)
    assert [k.descriptor.split("#")[0] for k in w.keychains] == [
        f"sh(multi(2,{XPUB_A}/{a}/0/*,{XPUB_B}/0/*,{XPUB_D}/0/0/{b}/*))" for a, b in ((1, 3), (2, 4), (3, 5))
    ]
    # the multipath step need not be last; the same scripts as the expanded descriptors
    w = parse_watched(f"wpkh([ffffffff/13h]{XPUB_A}/<1;3>/2/*)", MAIN)
    one = parse_watched(f"wpkh([ffffffff/13h]{XPUB_A}/3/2/*)", MAIN, implied_change=False)
    assert w.keychains[1].script_pubkeys(0, 3) == one.keychains[0].script_pubkeys(0, 3)


INVALID = [
    # BIP-389
    (f"pkh({XPUB_C}/<0;1>/<2;3>)", "one multipath"),
    (f"pkh([deadbeef/<0;1>]{XPUB_C}/0)", "key origin"),
    (f"tr({XPUB_C}/<6;7;8;9>/*,{{pk({XPUB_A}/<1;2;3>/0/*),pk({XPUB_D}/0/0/<3;4;5>/*)}})", "same count"),
    (f"wpkh({XPUB_C}/<>/*)", "at least two"),
    (f"wpkh({XPUB_C}/0>/*)", "multipath"),
    (f"wpkh({XPUB_C}/<0/*)", "multipath"),
    (f"wpkh({XPUB_C}/<0;>/*)", "at least two"),
    (f"wpkh({XPUB_C}/<0;0>/*)", "Duplicate"),
    # BIP-385
    ("raw(asdf)", "hex"),
    ("addr(asdf)", "not a valid bitcoin address"),
    ("sh(raw(deadbeef))", ""),
    ("wsh(addr(3PUNyaW7M55oKWJ3kDukwk9bsKvryra15j))", ""),
    # BIP-386
    (
        "tr(04a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd5b8dec5235a0fa8722476c7709c02559e3aa73aa03918ba2d492eea75abea235)",
        "Uncompressed",
    ),
    (f"wsh(tr({K_A34}))", ""),
    (f"sh(tr({K_A34}))", ""),
    # BIP-383
    ("multi(a,03a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd)", "threshold"),
    ("multi(0,03a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd)", "between 1"),
    # BIP-382: uncompressed keys in segwit
    (
        "wpkh(04a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd5b8dec5235a0fa8722476c7709c02559e3aa73aa03918ba2d492eea75abea235)",
        "Uncompressed",
    ),
    ("wsh(wpkh(03a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd))", ""),
    ("wsh(wsh(pkh(03a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd)))", ""),
    ("wpkh(wsh(pkh(03a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd)))", ""),
    ("wsh(03a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd)", ""),
    (
        "wsh(pk(04a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd5b8dec5235a0fa8722476c7709c02559e3aa73aa03918ba2d492eea75abea235))",
        "Uncompressed",
    ),
    # BIP-380: capital H is not a hardened marker; hardened steps after an xpub need the private key
    (f"pkh([deadbeef/0H]{XPUB_C}/0/*)", "BIP-380"),
    (f"wpkh({XPUB_C}/0h/*)", "private key"),
    (f"wpkh({XPUB_C}/0/*h)", "private key"),
    (f"wsh(and_v(pk({XPUB_A}/0/*),pk({XPUB_B}/0/*)))", "Cannot parse"),
]


@pytest.mark.parametrize(("desc", "says"), INVALID, ids=[v[0][:24] for v in INVALID])
def test_invalid_descriptors_are_refused_with_a_reason(desc: str, says: str) -> None:
    with pytest.raises(BadInput) as e:
        parse_watched(desc, MAIN)
    assert e.value.field == "source"
    assert says in str(e.value)


def test_limits_name_the_rule() -> None:
    root = HDKey.from_string(XPUB_C)
    keys = [root.derive([i]).to_base58() + "/0/*" for i in range(22)]
    assert parse_watched(f"wsh(sortedmulti(2,{','.join(keys[:20])}))", MAIN).key_count == 20
    for desc, rule in [
        (f"wsh(sortedmulti(2,{','.join(keys[:21])}))", "at most 20 keys in a P2WSH multisig"),
        (f"sh(sortedmulti(2,{','.join(keys[:16])}))", "at most 15 keys in a P2SH multisig"),
        (f"multi(1,{','.join(keys[:4])})", "at most 3 keys in a bare multisig"),
        (f"wsh(multi_a(1,{keys[0]},{keys[1]}))", "only valid inside tr()"),
        (f"tr({keys[0]},multi(1,{keys[1]},{keys[2]}))", "not valid in tapscript"),
    ]:
        with pytest.raises(BadInput) as e:
            parse_watched(desc, MAIN)
        assert rule in str(e.value) and e.value.field == "source"
    assert parse_watched(f"sh(wsh(multi(16,{','.join(keys[:16])})))", MAIN).threshold == 16
    taproot = parse_watched(f"tr({keys[0]},sortedmulti_a(2,{','.join(keys[1:6])}))", MAIN)
    assert taproot.script_type is ScriptType.P2TR and taproot.key_count == 6


def test_combo_expands_per_bip384() -> None:
    k = "03a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd"
    w = parse_watched(f"combo({k})", MAIN)
    got = [kc.script_pubkeys(0, 1)[0].hex() for kc in w.keychains]
    assert got == [
        "21" + k + "ac",
        "76a9149a1c78a507689f6f54b847ad1cef1e614ee23f1e88ac",
        "00149a1c78a507689f6f54b847ad1cef1e614ee23f1e",
        "a91484ab21b1b2fd065d4504ff693d832434b6108d7b87",
    ]
    unc = (
        "04a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd"
        "5b8dec5235a0fa8722476c7709c02559e3aa73aa03918ba2d492eea75abea235"
    )
    assert len(parse_watched(f"combo({unc})", MAIN).keychains) == 2  # P2PK and P2PKH only
    assert w.script_type is ScriptType.MIXED


def test_single_chain_and_implied_change() -> None:
    lone = parse_watched(f"wpkh({XPUB_A}/0/*)", MAIN)
    assert [(k.internal, k.implied) for k in lone.keychains] == [(False, False), (True, True)]
    assert lone.keychains[1].descriptor.startswith(f"wpkh({XPUB_A}/1/*)")
    only = parse_watched(f"wpkh({XPUB_A}/0/*)", MAIN, implied_change=False)
    assert len(only.keychains) == 1 and only.descriptors == (only.keychains[0].descriptor,)
    for single in (f"wpkh({XPUB_A}/*)", f"wpkh({XPUB_A}/1/2/*)"):
        w = parse_watched(single, MAIN)
        assert len(w.keychains) == 1 and not w.keychains[0].internal
    assert len(parse_watched(f"wpkh({XPUB_A}/1/2/*)", MAIN).keychains[0].script_pubkeys(5, 10)) == 10
    nonranged = parse_watched(f"wpkh({XPUB_A}/0/7)", MAIN)
    assert not nonranged.keychains[0].ranged and len(nonranged.keychains[0].script_pubkeys(0, 20)) == 1
    assert nonranged.keychains[0].script_pubkeys(1, 20) == []


def test_miniscript_timelock_and_decaying_multisig() -> None:
    w = parse_watched(f"wsh(or_d(pk({XPUB_A}/<0;1>/*),and_v(v:pkh({XPUB_B}/<0;1>/*),older(52560))))", MAIN)
    assert len(w.keychains) == 2 and w.script_type is ScriptType.P2WSH and w.key_count == 2
    assert all(len(s) == 34 for s in w.keychains[0].script_pubkeys(0, 5))
    decaying = f"wsh(thresh(3,pk({XPUB_A}/<0;1>/*),s:pk({XPUB_B}/<0;1>/*),s:pk({XPUB_D}/<0;1>/*),sln:older(12960)))"
    assert parse_watched(decaying, MAIN).key_count == 3


def test_returned_descriptors_round_trip_with_the_same_checksums() -> None:
    for desc in (
        f"wsh(or_d(pk({XPUB_A}/<0;1>/*),and_v(v:pkh({XPUB_B}/<0;1>/*),older(52560))))",
        f"tr({XPUB_A}/<0;1>/*,{{pk({XPUB_B}/<0;1>/*),pk({XPUB_D}/<0;1>/*)}})",
        f"wpkh({XPUB_A}/0/*)",
        "addr(3PUNyaW7M55oKWJ3kDukwk9bsKvryra15j)",
        f"combo({K_A34.join(['02', ''])})",
    ):
        first = parse_watched(desc, MAIN)
        again = parse_watched(first.source, MAIN)
        assert again.descriptors == first.descriptors
        assert [k.descriptor for k in again.keychains] == [k.descriptor for k in first.keychains]


# Bitcoin Core's src/test/descriptor_tests.cpp (public halves of its Check/CheckUnparsable cases)
CORE_A = (
    "xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL"
)
CORE_SH_MULTI = f"sh(multi(2,[00000000/111'/222]{CORE_A},{XPUB_B}/0))"
K03 = "03a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd"


def test_core_checksum_cases() -> None:
    w = parse_watched(CORE_SH_MULTI + "#tjg09x5t", MAIN)
    assert w.keychains[0].script_pubkeys(0, 1)[0].hex() == "a91445a9a622a8b0a1269944be477640eedc447bbd8487"
    assert w.descriptors == (CORE_SH_MULTI + "#tjg09x5t",)
    for bad in ("#", "#tjg09x5tq", "#tjg09x5", "#tjq09x4t", "##tjq09x4t"):
        with pytest.raises(BadInput):
            parse_watched(CORE_SH_MULTI + bad, MAIN)


@pytest.mark.parametrize(
    "desc",
    [
        f"sh({K03})",
        f"sh(combo({K03}))",
        f"wsh({K03})",
        f"wsh(wpkh({K03}))",
        f"wsh(sh(pk({K03})))",
        f"sh(sh(pk({K03})))",
        f"wsh(wsh(pk({K03})))",
        "raw(Ü)#00000000",
        f"multi(3,{K03})",
    ],
)
def test_core_unparsable_nesting(desc: str) -> None:
    with pytest.raises(BadInput) as e:
        parse_watched(desc, MAIN)
    assert e.value.field == "source"
