"""Extended public keys: parsing (SLIP-132 aware), key origins and derivation paths.

Pure functions, no I/O. Everything a user pastes goes through :func:`parse_extended_key`,
which answers :class:`~app.errors.BadInput` with a message meant for that user:

- private material (``xprv``/``tprv``/``yprv``/``zprv``... , WIF keys, seed words) is refused
  because this is a watch-only service;
- a key of another network than the wallet's is refused;
- SLIP-132 prefixes are understood and mapped to the canonical ``xpub``/``tpub`` encoding plus
  the script type they imply (``ypub`` → P2SH-P2WPKH, ``zpub`` → P2WPKH, ``Ypub`` → P2SH-P2WSH
  multisig, ``Zpub`` → P2WSH multisig, and their testnet forms ``upub``/``vpub``/``Upub``/``Vpub``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from embit import base58
from embit.ec import PublicKey

from app.bitcoin.networks import Network
from app.bitcoin.scripts import ScriptType
from app.errors import BadInput

HARDENED = 0x80000000

WATCH_ONLY_HINT = (
    "MyBitcoinFuture is a watch-only service and never accepts private keys. "
    "Export the extended public key (xpub/ypub/zpub, or tpub/upub/vpub on test networks) "
    "or a public output descriptor from your wallet instead."
)


@dataclass(frozen=True)
class _Version:
    prefix: str
    testnet: bool
    private: bool
    script_type: ScriptType | None  # implied by SLIP-132, None for plain xpub/tpub


_VERSIONS: dict[bytes, _Version] = {
    bytes.fromhex(hexv): _Version(prefix, testnet, private, st)
    for hexv, prefix, testnet, private, st in [
        ("0488b21e", "xpub", False, False, None),
        ("049d7cb2", "ypub", False, False, ScriptType.P2SH_P2WPKH),
        ("04b24746", "zpub", False, False, ScriptType.P2WPKH),
        ("0295b43f", "Ypub", False, False, ScriptType.P2SH_P2WSH),
        ("02aa7ed3", "Zpub", False, False, ScriptType.P2WSH),
        ("043587cf", "tpub", True, False, None),
        ("044a5262", "upub", True, False, ScriptType.P2SH_P2WPKH),
        ("045f1cf6", "vpub", True, False, ScriptType.P2WPKH),
        ("024289ef", "Upub", True, False, ScriptType.P2SH_P2WSH),
        ("02575483", "Vpub", True, False, ScriptType.P2WSH),
        ("0488ade4", "xprv", False, True, None),
        ("049d7878", "yprv", False, True, None),
        ("04b2430c", "zprv", False, True, None),
        ("0295b005", "Yprv", False, True, None),
        ("02aa7a99", "Zprv", False, True, None),
        ("04358394", "tprv", True, True, None),
        ("044a4e28", "uprv", True, True, None),
        ("045f18bc", "vprv", True, True, None),
        ("024285b5", "Uprv", True, True, None),
        ("02575048", "Vprv", True, True, None),
    ]
}
_XPUB = bytes.fromhex("0488b21e")
_TPUB = bytes.fromhex("043587cf")


def hash160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


# --------------------------------------------------------------------------- paths

_STEP = re.compile(r"^(\d+)(['hH]?)$")


def parse_path(text: str, *, field: str = "derivationPath", descriptor: bool = False) -> tuple[int, ...]:
    """``m/48'/0'/0'/2'``, ``48h/0h/0h/2h`` or ``m`` → indexes (hardened ones have bit 31 set).

    ``descriptor=True`` (a key origin inside a descriptor): BIP-380 allows only ``'`` and ``h`` as
    hardened markers, so a capital ``H`` is refused there (Bitcoin Core refuses it too).
    """
    s = text.strip()
    if s in ("", "m", "M"):
        return ()
    if s[:2] in ("m/", "M/"):
        s = s[2:]
    out: list[int] = []
    for part in s.split("/"):
        m = _STEP.match(part)
        if not m:
            raise BadInput(
                f"Invalid derivation step {part[:16]!r} in the path.",
                field=field,
                hint="Write paths like m/84'/0'/0' (' or h marks a hardened step).",
            )
        if descriptor and m.group(2) == "H":
            raise BadInput(
                f"Capital H in the key origin step {part[:16]!r}: BIP-380 allows only ' or h as the hardened marker.",
                field=field,
                hint="Write the origin as [fingerprint/84h/0h/0h] (lower-case h) or [fingerprint/84'/0'/0'].",
            )
        index = int(m.group(1))
        if index >= HARDENED:
            raise BadInput(f"Derivation index {index} is out of range (max 2147483647).", field=field)
        out.append(index | HARDENED if m.group(2) else index)
    return tuple(out)


def format_path(path: tuple[int, ...] | list[int], *, prefix: str = "m") -> str:
    """Indexes → ``m/84h/0h/0h`` (``prefix=""`` gives ``84h/0h/0h`` for key origins)."""
    steps = [f"{i & ~HARDENED}h" if i & HARDENED else str(i) for i in path]
    return "/".join([prefix, *steps]) if prefix else "/".join(steps)


@dataclass(frozen=True)
class KeyOrigin:
    """Where a key comes from: master fingerprint and path (``[d34db33f/84h/0h/0h]``)."""

    fingerprint: bytes
    path: tuple[int, ...]

    def __str__(self) -> str:
        steps = "".join("/" + step for step in format_path(self.path, prefix="").split("/") if step)
        return f"[{self.fingerprint.hex()}{steps}]"

    @property
    def path_str(self) -> str:
        return format_path(self.path)


def parse_fingerprint(text: str, *, field: str = "fingerprint") -> bytes:
    s = text.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{8}", s):
        raise BadInput(
            f"Invalid master fingerprint {text[:16]!r}: expected 8 hex characters (e.g. d34db33f).",
            field=field,
        )
    return bytes.fromhex(s)


def parse_origin(text: str, *, field: str) -> KeyOrigin:
    """The inside of ``[...]``: ``fingerprint/path``."""
    fp, _, path = text.partition("/")
    if path.endswith("/") or "*" in path:
        raise BadInput(f"Invalid key origin [{text}].", field=field)
    return KeyOrigin(parse_fingerprint(fp, field=field), parse_path(path, field=field, descriptor=True) if path else ())


# --------------------------------------------------------------------------- extended keys


@dataclass(frozen=True)
class ExtendedPubKey:
    """A BIP32 extended public key (the 78-byte payload, decoded)."""

    depth: int
    parent_fingerprint: bytes
    child_number: int
    chain_code: bytes
    pubkey: bytes  # 33-byte compressed SEC
    testnet: bool

    def to_base58(self) -> str:
        """Canonical encoding: ``xpub`` on mainnet, ``tpub`` on every test network."""
        return base58.encode_check(self.serialize())

    def serialize(self) -> bytes:
        return (
            (_TPUB if self.testnet else _XPUB)
            + bytes((self.depth,))
            + self.parent_fingerprint
            + self.child_number.to_bytes(4, "big")
            + self.chain_code
            + self.pubkey
        )

    @property
    def fingerprint(self) -> bytes:
        """This key's own fingerprint (first 4 bytes of HASH160 of the public key)."""
        return hash160(self.pubkey)[:4]

    def __repr__(self) -> str:  # never print key material in logs or tracebacks
        return f"ExtendedPubKey(depth={self.depth}, fingerprint={self.fingerprint.hex()})"


@dataclass(frozen=True)
class ParsedKey:
    """A user-supplied extended key, canonicalised."""

    xpub: ExtendedPubKey
    origin: KeyOrigin | None
    prefix: str  # as pasted: xpub, zpub, Vpub...
    implied_script_type: ScriptType | None

    @property
    def slip132_multisig(self) -> bool:
        return self.implied_script_type is not None and self.implied_script_type.is_multisig


_WORDS = re.compile(r"^[a-z]+( [a-z]+){11,23}$")


def refuse_private(text: str, *, field: str) -> None:
    """Raise the watch-only refusal for private key material (xprv..., WIF, seed words)."""
    s = text.strip()
    if _WORDS.match(" ".join(s.lower().split())) and len(s.split()) in (12, 15, 18, 21, 24):
        raise BadInput(
            "This looks like a seed phrase (mnemonic words). " + WATCH_ONLY_HINT,
            field=field,
            hint="Never paste seed words into any online service.",
        )
    try:
        raw = base58.decode_check(s)
    except Exception:
        return
    version = _VERSIONS.get(raw[:4]) if len(raw) == 78 else None
    if version is not None and version.private:
        raise BadInput(f"This is an extended private key ({version.prefix}). " + WATCH_ONLY_HINT, field=field)
    if len(raw) in (33, 34) and raw[0] in (0x80, 0xEF) and (len(raw) == 33 or raw[-1] == 0x01):
        raise BadInput("This is a private key (WIF). " + WATCH_ONLY_HINT, field=field)


def parse_extended_key(text: str, network: Network, *, field: str = "source") -> ParsedKey:
    """Parse ``[fingerprint/path]xpub...`` (origin optional) for ``network``.

    Raises BadInput for private keys, other networks, bad checksums or malformed keys.
    """
    s = text.strip()
    origin: KeyOrigin | None = None
    if s.startswith("["):
        end = s.find("]")
        if end < 0:
            raise BadInput("Unclosed key origin: expected [fingerprint/path]xpub...", field=field)
        origin = parse_origin(s[1:end], field=field)
        s = s[end + 1 :]
    refuse_private(s, field=field)
    try:
        raw = base58.decode_check(s)
    except Exception:
        raise BadInput(
            "Not a valid extended public key (bad characters or checksum).",
            field=field,
            hint="Paste the whole xpub/ypub/zpub (or tpub/upub/vpub), or an output descriptor.",
        ) from None
    if len(raw) != 78 or raw[:4] not in _VERSIONS:
        raise BadInput(
            "Not an extended public key: unknown version bytes or length.",
            field=field,
            hint=("Paste an xpub/ypub/zpub/Ypub/Zpub (or tpub/upub/vpub/Upub/Vpub), or an output descriptor."),
        )
    version = _VERSIONS[raw[:4]]
    if version.testnet == network.is_mainnet:
        key_net = "a test-network" if version.testnet else "a mainnet"
        raise BadInput(
            f"This is {key_net} key ({version.prefix}) but the wallet's network is {network.value}.",
            field=field,
            hint=("Choose the network the key belongs to (xpub/ypub/zpub are mainnet, tpub/upub/vpub test networks)."),
        )
    depth = raw[4]
    parent_fp = raw[5:9]
    child = int.from_bytes(raw[9:13], "big")
    chain_code = raw[13:45]
    pub = raw[45:78]
    if pub[0] not in (2, 3):
        raise BadInput("Invalid extended public key: the key data is not a compressed public key.", field=field)
    try:
        PublicKey.parse(pub)
    except Exception:
        raise BadInput("Invalid extended public key: the key is not a point on the curve.", field=field) from None
    if depth == 0 and (parent_fp != b"\0\0\0\0" or child != 0):
        raise BadInput("Invalid extended public key: a depth-0 key must have no parent.", field=field)
    xpub = ExtendedPubKey(depth, parent_fp, child, chain_code, pub, version.testnet)
    return ParsedKey(xpub, origin, version.prefix, version.script_type)
