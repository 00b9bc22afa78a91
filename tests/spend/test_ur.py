"""BC-UR against the specification's published test vectors (bc-ur reference tests: Xoshiro256**,
the alias sampler, shuffling, fragment lengths, fountain parts, Bytewords, ``ur:bytes`` single and
multi-part), and ``ur:crypto-psbt`` round trips through the decoder in any order."""

from __future__ import annotations

import random

import pytest

from app.spend.ur import (
    FountainDecoder,
    FountainEncoder,
    RandomSampler,
    URError,
    Xoshiro256,
    bytewords_decode,
    bytewords_encode,
    cbor_bytes,
    choose_fragments,
    crc32,
    decode_ur,
    encode_ur,
    nominal_fragment_length,
    psbt_to_ur,
    shuffled,
    ur_to_psbt,
)


def message(n: int) -> bytes:
    return Xoshiro256.from_bytes(b"Wolf").next_data(n)


def test_crc_rng_sampler_shuffle_vectors() -> None:
    assert crc32(b"Wolf") == 0x598C84DC and crc32(b"Hello, world!") == 0xEBE6C6E6
    rng = Xoshiro256.from_bytes(b"Wolf")
    assert [rng.next() % 100 for _ in range(12)] == [42, 81, 85, 8, 82, 84, 76, 73, 70, 88, 2, 74]
    rng = Xoshiro256.from_bytes(crc32(b"Wolf").to_bytes(4, "big"))
    assert [rng.next() % 100 for _ in range(10)] == [88, 44, 94, 74, 0, 99, 7, 77, 68, 35]
    rng = Xoshiro256.from_bytes(b"Wolf")
    assert [rng.next_int(1, 10) for _ in range(10)] == [6, 5, 8, 4, 10, 5, 7, 10, 4, 9]
    sampler, rng = RandomSampler([1, 2, 4, 8]), Xoshiro256.from_bytes(b"Wolf")
    assert [sampler.next(rng) for _ in range(16)] == [3, 3, 3, 3, 3, 3, 3, 0, 2, 3, 3, 3, 3, 1, 2, 2]
    rng = Xoshiro256.from_bytes(b"Wolf")
    got = [shuffled(list(range(1, 11)), rng, c) for c in range(1, 6)]
    assert got == [[6], [5, 8], [4, 10, 5], [7, 10, 3, 8], [10, 8, 6, 5, 1]]
    assert nominal_fragment_length(12_345, 1_005, 1_955) == 1_764
    assert nominal_fragment_length(12_345, 1_005, 30_000) == 12_345
    rng = Xoshiro256.from_bytes(b"Wolf")
    assert rng.next_data(10).hex() == "916ec65cf77cadf55cd7"


def test_fountain_parts_and_fragment_choice_vectors() -> None:
    enc = FountainEncoder(message(256), 30)
    parts = [enc.next_part().cbor().hex() for _ in range(20)]
    assert parts[0] == "8501091901001a0167aa07581d916ec65cf77cadf55cd7f9cda1a1030026ddd42e905b77adc36e4f2d3c"
    assert parts[9] == "850a091901001a0167aa07581d330f0f33a05eead4f331df229871bee733b50de71afd2e5a79f196de09"
    assert parts[19] == "8514091901001a0167aa07581de055c2433562184fa71b4be94f262e200f01c6f74c284b0dc6fae6673f"
    checksum = crc32(message(1024))
    chosen = [sorted(choose_fragments(n, 11, checksum)) for n in range(1, 16)]
    assert chosen[:11] == [[i] for i in range(11)]


def test_bytewords_vectors() -> None:
    data = bytes([0, 1, 2, 128, 255])
    assert bytewords_encode(data) == "aeadaolazmjendeoti"
    assert bytewords_encode(data, minimal=False) == "able acid also lava zoom jade need echo taxi"
    assert bytewords_decode("aeadaolazmjendeoti") == data
    assert bytewords_decode("able acid also lava zoom jade need echo taxi", minimal=False) == data
    for bad in ("aeadaolazojendeowf", "wolf", ""):
        with pytest.raises(URError):
            bytewords_decode(bad)


def test_ur_bytes_single_and_multipart_vectors() -> None:
    single = encode_ur("bytes", cbor_bytes(message(50)), 1000)
    assert single == [
        "ur:bytes/hdeymejtswhhylkepmykhhtsytsnoyoyaxaedsuttydmmhhpktpmsrjtgwdpfnsboxgwlbaawzuefywkdplrsrjynbvygabwjl"
        "dapfcsdwkbrkch"
    ]
    parts = encode_ur("bytes", cbor_bytes(message(256)), 30, 20)
    assert parts[0] == (
        "ur:bytes/1-9/lpadascfadaxcywenbpljkhdcahkadaemejtswhhylkepmykhhtsytsnoyoyaxaedsuttydmmhhpktpmsrjtdkgslpgh"
    )
    assert parts[19] == (
        "ur:bytes/20-9/lpbbascfadaxcywenbpljkhdcayapmrleeleaxpasfrtrdkncffwjyjzgyetdmlewtkpktgllepfrltataztksmhkbot"
    )
    more = encode_ur("bytes", cbor_bytes(message(256)), 30, 40)
    assert more[:20] == parts
    assert decode_ur(more[9:]) == ("bytes", cbor_bytes(message(256)))  # only rateless parts, still decodes


def test_large_message_decodes_from_a_stream_starting_anywhere() -> None:
    payload = cbor_bytes(message(32_767))
    enc, dec = FountainEncoder(payload, 1000, first_seq_num=100), FountainDecoder()
    while dec.result is None:
        dec.receive(enc.next_part())
    assert dec.result == payload


def test_crypto_psbt_round_trip_in_any_order_and_errors() -> None:
    psbt = b"psbt\xff" + bytes(range(256)) * 6
    parts = psbt_to_ur(psbt, max_fragment_len=100)
    assert all(p.startswith("ur:crypto-psbt/") for p in parts)
    shuffled_parts = parts[:]
    random.Random(5).shuffle(shuffled_parts)
    assert ur_to_psbt(shuffled_parts) == psbt
    assert ur_to_psbt([p.upper() for p in parts]) == psbt  # QR alphanumeric mode is upper case
    with pytest.raises(URError, match="incomplete"):
        ur_to_psbt(parts[:3])
    with pytest.raises(URError):
        ur_to_psbt(["ur:bytes/hdeymejtswhhylkepmykhhtsytsnoyoyaxaedsuttydmmhhpktpmsrjtgwdpfnsboxgw"])
    small = psbt_to_ur(b"psbt\xff\x01\x00")
    assert len(small) == 1 and "/" not in small[0][len("ur:crypto-psbt/") :]
    assert ur_to_psbt(small) == b"psbt\xff\x01\x00"
