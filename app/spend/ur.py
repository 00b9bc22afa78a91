"""BC-UR (Blockchain Commons Uniform Resources) for PSBTs: ``ur:crypto-psbt`` single and animated
multi-part QR payloads, encoded and decoded.

No well-known PyPI package implements it (``urtypes`` and Foundation's ``ur`` are not published
there), so this follows the specifications directly: BCR-2020-005 (UR), BCR-2020-012 (Bytewords),
the fountain codes of BCR-2024-001 / the reference implementation ``bc-ur`` (Xoshiro256** seeded by
SHA-256, Vose alias sampler with degree weights 1/i, fragment mixing by XOR), and BCR-2020-006
(``crypto-psbt``: the PSBT as a CBOR byte string). Tests check the specification's published
test vectors.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_MASK = (1 << 64) - 1

_WORDS_TEXT = """
    able acid also apex aqua arch atom aunt away axis back bald barn belt beta bias blue body brag brew
    bulb buzz calm cash cats chef city claw code cola cook cost crux curl cusp cyan dark data days deli
    dice diet door down draw drop drum dull duty each easy echo edge epic even exam exit eyes fact fair
    fern figs film fish fizz flap flew flux foxy free frog fuel fund gala game gear gems gift girl glow
    good gray grim guru gush gyro half hang hard hawk heat help high hill holy hope horn huts iced idea
    idle inch inky into iris iron item jade jazz join jolt jowl judo jugs jump junk jury keep keno kept
    keys kick kiln king kite kiwi knob lamb lava lazy leaf legs liar limp lion list logo loud love luau
    luck lung main many math maze memo menu meow mild mint miss monk nail navy need news next noon note
    numb obey oboe omit onyx open oval owls paid part peck play plus poem pool pose puff puma purr quad
    quiz race ramp real redo rich road rock roof ruby ruin runs rust safe saga scar sets silk skew slot
    soap solo song stub surf swan taco task taxi tent tied time tiny toil tomb toys trip tuna twin ugly
    undo unit urge user vast very veto vial vibe view visa void vows wall wand warm wasp wave waxy webs
    what when whiz wolf work yank yawn yell yoga yurt zaps zero zest zinc zone zoom
"""
WORDS = tuple(_WORDS_TEXT.split())
assert len(WORDS) == 256
_MINIMAL = {w[0] + w[3]: i for i, w in enumerate(WORDS)}
_FULL = {w: i for i, w in enumerate(WORDS)}


class URError(ValueError):
    """A malformed, corrupted or incomplete UR."""


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


# --------------------------------------------------------------------------------- bytewords


def bytewords_encode(data: bytes, *, minimal: bool = True) -> str:
    body = data + crc32(data).to_bytes(4, "big")
    if minimal:
        return "".join(WORDS[b][0] + WORDS[b][3] for b in body)
    return " ".join(WORDS[b] for b in body)


def bytewords_decode(text: str, *, minimal: bool = True) -> bytes:
    t = text.strip().lower()
    try:
        if minimal:
            if len(t) % 2:
                raise URError("bytewords: odd length")
            body = bytes(_MINIMAL[t[i : i + 2]] for i in range(0, len(t), 2))
        else:
            body = bytes(_FULL[w] for w in t.replace("-", " ").split())
    except KeyError:
        raise URError("bytewords: unknown word") from None
    if len(body) < 5:
        raise URError("bytewords: too short")
    data, check = body[:-4], body[-4:]
    if crc32(data).to_bytes(4, "big") != check:
        raise URError("bytewords: checksum mismatch")
    return data


# --------------------------------------------------------------------------- randomness


class Xoshiro256:
    """xoshiro256** seeded from a SHA-256 digest (four big-endian 64-bit words), as bc-ur does."""

    def __init__(self, digest: bytes) -> None:
        self.s = [int.from_bytes(digest[i * 8 : i * 8 + 8], "big") for i in range(4)]

    @classmethod
    def from_bytes(cls, data: bytes) -> Xoshiro256:
        return cls(hashlib.sha256(data).digest())

    def next(self) -> int:
        s = self.s
        x = (s[1] * 5) & _MASK
        result = ((((x << 7) | (x >> 57)) & _MASK) * 9) & _MASK
        t = (s[1] << 17) & _MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = ((s[3] << 45) | (s[3] >> 19)) & _MASK
        return result

    def next_double(self) -> float:
        return self.next() / float(1 << 64)

    def next_int(self, low: int, high: int) -> int:
        return int(self.next_double() * (high - low + 1)) + low

    def next_data(self, count: int) -> bytes:
        return bytes(self.next_int(0, 255) for _ in range(count))


class RandomSampler:
    """Vose's alias method over weights."""

    def __init__(self, weights: Sequence[float]) -> None:
        n = len(weights)
        total = sum(weights)
        p = [w * n / total for w in weights]
        small = [j for j in range(n - 1, -1, -1) if p[j] < 1]
        large = [j for j in range(n - 1, -1, -1) if p[j] >= 1]
        self.probs = [0.0] * n
        self.aliases = [0] * n
        while small and large:
            a, g = small.pop(), large.pop()
            self.probs[a] = p[a]
            self.aliases[a] = g
            p[g] += p[a] - 1
            (small if p[g] < 1 else large).append(g)
        while large:
            self.probs[large.pop()] = 1.0
        while small:
            self.probs[small.pop()] = 1.0

    def next(self, rng: Xoshiro256) -> int:
        r1, r2 = rng.next_double(), rng.next_double()
        i = int(len(self.probs) * r1)
        return i if r2 < self.probs[i] else self.aliases[i]


def shuffled(items: Sequence[int], rng: Xoshiro256, count: int | None = None) -> list[int]:
    remaining = list(items)
    out: list[int] = []
    want = len(remaining) if count is None else count
    while len(out) < want:
        out.append(remaining.pop(rng.next_int(0, len(remaining) - 1)))
    return out


def choose_degree(seq_len: int, rng: Xoshiro256) -> int:
    return RandomSampler([1.0 / i for i in range(1, seq_len + 1)]).next(rng) + 1


def choose_fragments(seq_num: int, seq_len: int, checksum: int) -> set[int]:
    if seq_num <= seq_len:
        return {seq_num - 1}
    rng = Xoshiro256.from_bytes(seq_num.to_bytes(4, "big") + checksum.to_bytes(4, "big"))
    degree = choose_degree(seq_len, rng)
    return set(shuffled(range(seq_len), rng, degree))


# --------------------------------------------------------------------------------- CBOR


def _cbor_head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for size, code in ((1, 24), (2, 25), (4, 26), (8, 27)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | code]) + n.to_bytes(size, "big")
    raise URError("CBOR integer too large")


def cbor_bytes(data: bytes) -> bytes:
    return _cbor_head(2, len(data)) + data


def _cbor_read(buf: bytes, pos: int) -> tuple[int, int, int]:
    """(major type, argument, new position) of the item head at ``pos``."""
    if pos >= len(buf):
        raise URError("CBOR: truncated")
    first = buf[pos]
    major, info = first >> 5, first & 0x1F
    pos += 1
    if info < 24:
        return major, info, pos
    size = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if size is None or pos + size > len(buf):
        raise URError("CBOR: unsupported or truncated head")
    return major, int.from_bytes(buf[pos : pos + size], "big"), pos + size


def cbor_unbytes(buf: bytes) -> bytes:
    major, n, pos = _cbor_read(buf, 0)
    if major != 2 or pos + n != len(buf):
        raise URError("CBOR: expected one byte string")
    return buf[pos:]


# ----------------------------------------------------------------------------- fountain


@dataclass(frozen=True, slots=True)
class Part:
    seq_num: int
    seq_len: int
    message_len: int
    checksum: int
    data: bytes

    def cbor(self) -> bytes:
        return (
            b"\x85"
            + _cbor_head(0, self.seq_num)
            + _cbor_head(0, self.seq_len)
            + _cbor_head(0, self.message_len)
            + _cbor_head(0, self.checksum)
            + cbor_bytes(self.data)
        )

    @classmethod
    def from_cbor(cls, buf: bytes) -> Part:
        major, n, pos = _cbor_read(buf, 0)
        if major != 4 or n != 5:
            raise URError("UR part: expected a CBOR array of 5")
        vals: list[int] = []
        for _ in range(4):
            major, v, pos = _cbor_read(buf, pos)
            if major != 0:
                raise URError("UR part: expected unsigned integers")
            vals.append(v)
        major, n, pos = _cbor_read(buf, pos)
        if major != 2 or pos + n != len(buf):
            raise URError("UR part: expected the fragment bytes last")
        return cls(vals[0], vals[1], vals[2], vals[3], buf[pos:])


def nominal_fragment_length(message_len: int, min_len: int, max_len: int) -> int:
    fragment_len = message_len
    for count in range(1, max(1, message_len // min_len) + 1):
        fragment_len = math.ceil(message_len / count)
        if fragment_len <= max_len:
            break
    return fragment_len


def partition(message: bytes, fragment_len: int) -> list[bytes]:
    padded = message + b"\x00" * (-len(message) % fragment_len)
    return [padded[i : i + fragment_len] for i in range(0, len(padded), fragment_len)]


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


class FountainEncoder:
    def __init__(
        self, message: bytes, max_fragment_len: int, first_seq_num: int = 0, min_fragment_len: int = 10
    ) -> None:
        self.message_len = len(message)
        self.checksum = crc32(message)
        self.fragment_len = nominal_fragment_length(len(message), min_fragment_len, max_fragment_len)
        self.fragments = partition(message, self.fragment_len)
        self.seq_num = first_seq_num

    @property
    def seq_len(self) -> int:
        return len(self.fragments)

    def next_part(self) -> Part:
        self.seq_num = (self.seq_num + 1) & 0xFFFFFFFF
        data = b"\x00" * self.fragment_len
        for i in sorted(choose_fragments(self.seq_num, self.seq_len, self.checksum)):
            data = _xor(data, self.fragments[i])
        return Part(self.seq_num, self.seq_len, self.message_len, self.checksum, data)


class FountainDecoder:
    """Collects parts (any order, duplicates and mixed parts welcome) until the message is whole."""

    def __init__(self) -> None:
        self.simple: dict[int, bytes] = {}
        self.mixed: list[tuple[frozenset[int], bytes]] = []
        self.expected: tuple[int, int, int] | None = None  # seq_len, message_len, checksum
        self.result: bytes | None = None

    def receive(self, part: Part) -> None:
        key = (part.seq_len, part.message_len, part.checksum)
        if self.expected is None:
            if part.seq_len < 1 or part.message_len < 1:
                raise URError("UR part: empty")
            self.expected = key
        elif key != self.expected:
            raise URError("UR part belongs to another message")
        if self.result is not None:
            return
        self._add(frozenset(choose_fragments(part.seq_num, part.seq_len, part.checksum)), part.data)
        if len(self.simple) == part.seq_len:
            message = b"".join(self.simple[i] for i in range(part.seq_len))[: part.message_len]
            if crc32(message) != part.checksum:
                raise URError("UR message checksum mismatch")
            self.result = message

    def _add(self, indexes: frozenset[int], data: bytes) -> None:
        queue = [(indexes, data)]
        while queue:
            idx, d = queue.pop()
            for i in list(idx):  # reduce by what is already known
                if i in self.simple and len(idx) > 1:
                    d = _xor(d, self.simple[i])
                    idx = idx - {i}
            if len(idx) == 1:
                (i,) = idx
                if i in self.simple:
                    continue
                self.simple[i] = d
                still: list[tuple[frozenset[int], bytes]] = []
                for m_idx, m_d in self.mixed:  # a new simple part may reduce mixed ones
                    if i in m_idx:
                        queue.append((m_idx, m_d))
                    else:
                        still.append((m_idx, m_d))
                self.mixed = still
            elif idx and all(m[0] != idx for m in self.mixed):
                self.mixed.append((idx, d))

    @property
    def progress(self) -> float:
        if self.expected is None:
            return 0.0
        return len(self.simple) / self.expected[0]


# ----------------------------------------------------------------------------------- UR


def encode_ur(ur_type: str, cbor: bytes, max_fragment_len: int = 200, parts: int | None = None) -> list[str]:
    """The UR strings of a payload: one single-part UR when it fits, else the first ``parts``
    fountain parts (by default twice the sequence length, enough for a scanner to finish)."""
    if len(cbor) <= max_fragment_len:
        return [f"ur:{ur_type}/{bytewords_encode(cbor)}"]
    enc = FountainEncoder(cbor, max_fragment_len)
    count = parts if parts is not None else 2 * enc.seq_len
    out = []
    for _ in range(count):
        p = enc.next_part()
        out.append(f"ur:{ur_type}/{p.seq_num}-{p.seq_len}/{bytewords_encode(p.cbor())}")
    return out


def decode_ur(parts: Iterable[str]) -> tuple[str, bytes]:
    """(type, CBOR payload) from the UR strings scanned (a single part, or fountain parts in any
    order). ``URError`` when malformed or when the parts do not complete the message yet."""
    decoder = FountainDecoder()
    ur_type: str | None = None
    for raw in parts:
        text = raw.strip().lower()
        if not text.startswith("ur:"):
            raise URError("not a UR (it must start with ur:)")
        pieces = text[3:].split("/")
        if ur_type is None:
            ur_type = pieces[0]
        elif pieces[0] != ur_type:
            raise URError("the parts are of different UR types")
        if len(pieces) == 2:
            return ur_type, bytewords_decode(pieces[1])
        if len(pieces) != 3 or "-" not in pieces[1]:
            raise URError("UR: expected ur:type/payload or ur:type/seq-len/payload")
        part = Part.from_cbor(bytewords_decode(pieces[2]))
        seq, _, total = pieces[1].partition("-")
        if not (seq.isdigit() and total.isdigit()) or (int(seq), int(total)) != (part.seq_num, part.seq_len):
            raise URError("UR part: sequence in the path does not match the payload")
        decoder.receive(part)
        if decoder.result is not None:
            return ur_type, decoder.result
    raise URError(f"incomplete: {decoder.progress:.0%} of the message received; scan more parts")


def psbt_to_ur(psbt: bytes, max_fragment_len: int = 200, parts: int | None = None) -> list[str]:
    return encode_ur("crypto-psbt", cbor_bytes(psbt), max_fragment_len, parts)


def ur_to_psbt(parts: Iterable[str]) -> bytes:
    ur_type, cbor = decode_ur(parts)
    if ur_type not in ("crypto-psbt", "psbt"):
        raise URError(f"expected ur:crypto-psbt, got ur:{ur_type}")
    return cbor_unbytes(cbor)
