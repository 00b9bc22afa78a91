"""A small decoder (and encoder) for LND macaroons.

Format (libmacaroons "v2" binary, as written by ``gopkg.in/macaroon.v2``)::

    0x02                                  version
    [field 1: location]                   optional, LND writes "lnd"
    field 2: identifier
    0x00                                  end of section
    per caveat: [1: location] 2: id [4: verification id] 0x00
    0x00                                  end of caveats
    field 6: signature (32 bytes)

A field is ``type (1 byte) | length (uvarint) | bytes``. The signature is an HMAC-SHA256 chain:
``sig = HMAC(HMAC("macaroons-key-generator", root_key), identifier)`` then
``sig = HMAC(sig, caveat_id)`` per first-party caveat.

LND's identifier (macaroon-bakery v3) is one version byte ``0x03`` followed by the protobuf
``MacaroonId { bytes nonce = 1; bytes storageId = 2; repeated Op ops = 3; }`` with
``Op { string entity = 1; repeated string actions = 2; }``; the ops are the permissions.
The protobuf is decoded by hand here (wire types 0 and 2 are all that occur) so the decoder
does not depend on generated code.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

_V2 = 2
_EOS, _LOCATION, _IDENTIFIER, _VID, _SIGNATURE = 0, 1, 2, 4, 6
_BAKERY_V3 = 3
_KEY_GEN = b"macaroons-key-generator"


class MacaroonError(ValueError):
    """The bytes are not an LND macaroon we can read."""


@dataclass(frozen=True, slots=True)
class Caveat:
    id: bytes
    location: str | None = None
    verification_id: bytes | None = None

    @property
    def first_party(self) -> bool:
        return self.verification_id is None

    @property
    def condition(self) -> str:
        return self.id.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class MacaroonId:
    nonce: bytes
    storage_id: bytes
    ops: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset(f"{e}:{a}" for e, actions in self.ops.items() for a in actions)


@dataclass(frozen=True, slots=True)
class Macaroon:
    identifier: bytes
    signature: bytes
    location: str | None = None
    caveats: tuple[Caveat, ...] = ()

    @property
    def id(self) -> MacaroonId:
        return decode_id(self.identifier)

    @property
    def permissions(self) -> frozenset[str]:
        return self.id.permissions

    def serialize(self) -> bytes:
        return encode(self)

    def hex(self) -> str:
        return encode(self).hex()


# -- varints -------------------------------------------------------------------------------


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise MacaroonError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise MacaroonError("varint too long")


def _put_uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


# -- v2 binary -----------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def peek(self) -> int:
        if self.pos >= len(self.data):
            raise MacaroonError("unexpected end of macaroon")
        return self.data[self.pos]

    def field(self) -> tuple[int, bytes]:
        ftype = self.peek()
        self.pos += 1
        if ftype == _EOS:
            return _EOS, b""
        length, self.pos = _uvarint(self.data, self.pos)
        end = self.pos + length
        if end > len(self.data):
            raise MacaroonError("field runs past the end of the macaroon")
        value = self.data[self.pos : end]
        self.pos = end
        return ftype, value

    def section(self) -> dict[int, bytes]:
        """Fields up to the next end-of-section marker; types must ascend (as the format requires)."""
        fields: dict[int, bytes] = {}
        last = 0
        while True:
            ftype, value = self.field()
            if ftype == _EOS:
                return fields
            if ftype <= last:
                raise MacaroonError(f"field type {ftype} out of order")
            last = ftype
            fields[ftype] = value


def decode(raw: bytes) -> Macaroon:
    """Parse a v2 binary macaroon. Raises :class:`MacaroonError`."""
    if not raw:
        raise MacaroonError("empty macaroon")
    if raw[0] != _V2:
        raise MacaroonError(f"unsupported macaroon version byte 0x{raw[0]:02x} (LND writes v2, 0x02)")
    r = _Reader(raw)
    r.pos = 1
    head = r.section()
    if _IDENTIFIER not in head:
        raise MacaroonError("macaroon has no identifier")
    if set(head) - {_LOCATION, _IDENTIFIER}:
        raise MacaroonError("unexpected field in macaroon header")
    caveats = []
    while r.peek() != _EOS:
        sec = r.section()
        if _IDENTIFIER not in sec:
            raise MacaroonError("caveat has no identifier")
        caveats.append(
            Caveat(
                id=sec[_IDENTIFIER],
                location=sec[_LOCATION].decode() if _LOCATION in sec else None,
                verification_id=sec.get(_VID),
            )
        )
    r.pos += 1
    ftype, sig = r.field()
    if ftype != _SIGNATURE or len(sig) != 32:
        raise MacaroonError("macaroon has no 32-byte signature")
    if r.pos != len(raw):
        raise MacaroonError("trailing bytes after the signature")
    loc = head.get(_LOCATION)
    return Macaroon(
        identifier=head[_IDENTIFIER], signature=sig, location=loc.decode() if loc else None, caveats=tuple(caveats)
    )


def _field(ftype: int, value: bytes) -> bytes:
    return bytes([ftype]) + _put_uvarint(len(value)) + value


def encode(m: Macaroon) -> bytes:
    out = bytearray([_V2])
    if m.location:
        out += _field(_LOCATION, m.location.encode())
    out += _field(_IDENTIFIER, m.identifier)
    out.append(_EOS)
    for c in m.caveats:
        if c.location:
            out += _field(_LOCATION, c.location.encode())
        out += _field(_IDENTIFIER, c.id)
        if c.verification_id is not None:
            out += _field(_VID, c.verification_id)
        out.append(_EOS)
    out.append(_EOS)
    out += _field(_SIGNATURE, m.signature)
    return bytes(out)


def decode_hex(text: str) -> Macaroon:
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raise MacaroonError("not hexadecimal") from None
    return decode(raw)


# -- the MacaroonId protobuf -----------------------------------------------------------------


def _pb_fields(data: bytes) -> list[tuple[int, int | bytes]]:
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _uvarint(data, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, pos = _uvarint(data, pos)
            out.append((num, v))
        elif wire == 2:
            ln_, pos = _uvarint(data, pos)
            if pos + ln_ > len(data):
                raise MacaroonError("identifier protobuf truncated")
            out.append((num, data[pos : pos + ln_]))
            pos += ln_
        else:
            raise MacaroonError(f"unexpected protobuf wire type {wire} in identifier")
    return out


def decode_id(identifier: bytes) -> MacaroonId:
    if not identifier or identifier[0] != _BAKERY_V3:
        raise MacaroonError("identifier is not an LND (bakery v3) macaroon id")
    nonce = storage = b""
    ops: dict[str, list[str]] = {}
    for num, value in _pb_fields(identifier[1:]):
        if not isinstance(value, bytes):
            continue
        if num == 1:
            nonce = value
        elif num == 2:
            storage = value
        elif num == 3:
            entity = ""
            actions: list[str] = []
            for n2, v2 in _pb_fields(value):
                if isinstance(v2, bytes) and n2 == 1:
                    entity = v2.decode()
                elif isinstance(v2, bytes) and n2 == 2:
                    actions.append(v2.decode())
            ops.setdefault(entity, []).extend(actions)
    return MacaroonId(nonce=nonce, storage_id=storage, ops={e: tuple(a) for e, a in ops.items()})


def _pb_bytes(num: int, value: bytes) -> bytes:
    return _put_uvarint((num << 3) | 2) + _put_uvarint(len(value)) + value


def encode_id(mid: MacaroonId) -> bytes:
    out = bytearray([_BAKERY_V3])
    out += _pb_bytes(1, mid.nonce)
    out += _pb_bytes(2, mid.storage_id)
    for entity in sorted(mid.ops):
        op = _pb_bytes(1, entity.encode()) + b"".join(_pb_bytes(2, a.encode()) for a in mid.ops[entity])
        out += _pb_bytes(3, op)
    return bytes(out)


# -- signatures ------------------------------------------------------------------------------


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def signature_for(root_key: bytes, identifier: bytes, caveat_ids: list[bytes]) -> bytes:
    sig = _hmac(_hmac(_KEY_GEN, root_key), identifier)
    for cid in caveat_ids:
        sig = _hmac(sig, cid)
    return sig


def mint(
    root_key: bytes,
    ops: dict[str, tuple[str, ...]],
    *,
    nonce: bytes,
    storage_id: bytes = b"0",
    location: str = "lnd",
    caveats: tuple[str, ...] = (),
) -> Macaroon:
    """A macaroon as LND bakes it (used by devlnd; production code only decodes)."""
    identifier = encode_id(MacaroonId(nonce=nonce, storage_id=storage_id, ops=ops))
    cavs = tuple(Caveat(id=c.encode()) for c in caveats)
    return Macaroon(
        identifier=identifier,
        signature=signature_for(root_key, identifier, [c.id for c in cavs]),
        location=location,
        caveats=cavs,
    )


def add_first_party_caveat(m: Macaroon, condition: str) -> Macaroon:
    """Attenuate without the root key: ``new_sig = HMAC(old_sig, condition)``."""
    cid = condition.encode()
    return Macaroon(
        identifier=m.identifier,
        signature=_hmac(m.signature, cid),
        location=m.location,
        caveats=(*m.caveats, Caveat(id=cid)),
    )


def verify_signature(m: Macaroon, root_key: bytes) -> bool:
    if any(not c.first_party for c in m.caveats):
        return False
    expected = signature_for(root_key, m.identifier, [c.id for c in m.caveats])
    return hmac.compare_digest(expected, m.signature)
