"""A watched wallet as one or more descriptors (BDK-style keychains), for every descriptor Bitcoin
Core imports into a watch-only wallet.

A wallet is the descriptors the user gave; each expands into *keychains*, single-path
descriptors deriving one scriptPubKey per index, numbered 0.. (that number is the ``chain`` of
stored addresses and of the sync's script refs):

- BIP-389 multipath ``<a;b;...>`` (any position, any number of branches, the same count in every
  key) expands into one keychain per branch: two branches are receive (external) and change
  (internal), more are all external (as Bitcoin Core's ``importdescriptors`` does);
- two single-path descriptors on two lines are the external and internal keychains (BDK);
- a lone ``.../0/*`` (every key ending in ``/0/*``) also watches the conventional change chain
  ``.../1/*`` (what Sparrow, Specter and Core users expect), shown as an *implied* keychain;
  ``implied_change=False`` watches the given chain only; any other single path is watched as given;
- ``combo(KEY)`` expands into ``pk``, ``pkh`` and, for compressed keys, ``wpkh`` and ``sh(wpkh)``;
- non-ranged descriptors have one script (index 0); ``addr()`` and ``raw()`` watch exactly that script.

Derivation: the shapes :mod:`app.bitcoin.descriptors` knows (``pkh/wpkh/sh(wpkh)/tr(KEY)`` and
``multi/sortedmulti`` under ``sh/wsh/sh(wsh)`` with ranged xpubs) use the fast libsecp256k1 path of
:mod:`app.bitcoin.derive`; miniscript (``wsh``/``sh``/tap leaves), taproot trees, ``multi_a`` and
the rest go through embit's descriptor, miniscript and taptree support; ``pk()``, bare
``multi``/``sortedmulti``, ``rawtr()``, ``combo()``, ``addr()`` and ``raw()``, which embit lacks,
are built here.

Limits (each refusal names the rule): ``multi``/``sortedmulti`` 1..20 keys in ``wsh`` (and
``sh(wsh)``), 1..15 in ``sh`` (the 520-byte P2SH redeem script limit), 1..3 bare (Core's standardness
rule); ``multi_a``/``sortedmulti_a`` only inside ``tr()``, 1..999 keys (BIP-387); uncompressed
keys are refused in segwit and taproot; capital ``H`` in key origins is refused (BIP-380).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.bitcoin import scripts
from app.bitcoin.addresses import script_from_address
from app.bitcoin.descriptors import (
    Chain,
    WalletDescriptor,
    _parse_one,
    _parse_step,
    _split_call,
    add_checksum,
    descriptors_from_wallet_file,
    looks_like_descriptor,
    looks_like_wallet_file,
    parse_descriptors,
    parse_wallet_source,
    split_checksum,
)
from app.bitcoin.keys import WATCH_ONLY_HINT, parse_extended_key, parse_origin, refuse_private
from app.bitcoin.networks import Network
from app.bitcoin.scripts import ScriptType
from app.errors import BadInput

MAX_KEYCHAINS = 16
_B58_TOKEN = re.compile(r"[1-9A-HJ-NP-Za-km-z]{50,}")
_XKEY = re.compile(r"(?<![0-9A-Za-z])([a-zA-Z]{4}[1-9A-HJ-NP-Za-km-z]{100,112})((?:/[^,(){}\[\]]*)?)")
_ORIGIN = re.compile(r"\[([^\]]*)\]")
_MULTIPATH = re.compile(r"<([^<>]*)>")
_UNCOMPRESSED = re.compile(r"(?<![0-9a-fA-F])04[0-9a-fA-F]{128}(?![0-9a-fA-F])")
_HEX_KEY = re.compile(r"(?<![0-9a-fA-F])(0[23][0-9a-fA-F]{64}|04[0-9a-fA-F]{128}|[0-9a-fA-F]{64})(?![0-9a-fA-F])")
_MULTI_CALL = re.compile(r"(?<![a-z_:])(sortedmulti_a|multi_a|sortedmulti|multi)\(")


def _bad(message: str, field: str, hint: str | None = None) -> BadInput:
    return BadInput(message, field=field, hint=hint)


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Keychain:
    """One single-path descriptor: one scriptPubKey per index (index 0 only when not ranged)."""

    descriptor: str  # with checksum
    internal: bool
    ranged: bool
    script_type: ScriptType
    implied: bool = False  # the conventional change chain added for a lone .../0/*
    derive: Callable[[int, int], list[bytes]] = field(default=lambda s, c: [], compare=False, repr=False)

    def script_pubkeys(self, start: int, count: int) -> list[bytes]:
        """Scripts of indexes ``start..start+count-1`` (a non-ranged keychain has only index 0)."""
        if not self.ranged:
            count = max(0, min(count, 1 - start))
        return self.derive(start, count) if count > 0 else []

    def __repr__(self) -> str:  # keep key material out of logs
        return f"Keychain({self.script_type.value}, internal={self.internal}, ranged={self.ranged})"


@dataclass(frozen=True)
class WatchedWallet:
    """A parsed wallet: the descriptors to store and the keychains they expand into."""

    network: Network
    descriptors: tuple[str, ...]  # as stored and returned (checksummed); importable as one source
    keychains: tuple[Keychain, ...]
    legacy: WalletDescriptor | None = None  # set for the classic shapes (fast derivation, cosigners, PSBTs)
    key_count: int = 1
    threshold: int | None = None

    @property
    def source(self) -> str:
        return "\n".join(self.descriptors)

    @property
    def script_type(self) -> ScriptType:
        if self.legacy is not None:
            return self.legacy.script_type
        kinds = {k.script_type for k in self.keychains}
        return kinds.pop() if len(kinds) == 1 else ScriptType.MIXED

    @property
    def is_multisig(self) -> bool:
        return self.key_count > 1

    @property
    def change_implied(self) -> bool:
        return any(k.implied for k in self.keychains)

    def canonical(self) -> str:
        """Normal form for duplicate detection (origins dropped, ``'`` written ``h``)."""
        if self.legacy is not None:
            return self.legacy.canonical()
        lines = []
        for k in self.keychains:
            body = _ORIGIN.sub("", k.descriptor.rpartition("#")[0]).replace("'", "h")
            lines.append(("int " if k.internal else "ext ") + body)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"WatchedWallet({self.network.value}, keychains={len(self.keychains)})"


# --------------------------------------------------------------------------- parsing


def from_legacy(desc: WalletDescriptor, *, implied_change: bool = False) -> WatchedWallet:
    """A classic receive/change wallet (xpub import, multisig, ``<0;1>`` descriptor)."""
    keychains = tuple(
        Keychain(
            desc.descriptor(chain),
            chain is Chain.CHANGE,
            True,
            desc.script_type,
            implied_change and chain is Chain.CHANGE,
            _fast(desc, chain),
        )
        for chain in Chain
    )
    return WatchedWallet(desc.network, (desc.multipath_descriptor,), keychains, desc, len(desc.keys), desc.threshold)


def parse_source(
    source: str,
    network: Network,
    script_type: ScriptType | None = None,
    *,
    implied_change: bool = True,
    field: str = "source",
    script_type_field: str = "scriptType",
) -> WatchedWallet:
    """``importWallet``'s ``source``: an extended key, descriptor(s) or a wallet file."""
    text = source.strip()
    if not text:
        raise _bad("The source is empty: paste an xpub/zpub or an output descriptor.", field)
    if looks_like_wallet_file(text):
        text = descriptors_from_wallet_file(text, script_type, field=field, script_type_field=script_type_field)
    if not looks_like_descriptor(text):
        return from_legacy(
            parse_wallet_source(text, network, script_type, field=field, script_type_field=script_type_field)
        )
    w = parse_watched(text, network, field=field, implied_change=implied_change)
    if script_type is not None and script_type != w.script_type:
        raise _bad(
            f"The descriptor describes {w.script_type.value} outputs but scriptType is {script_type.value}.",
            script_type_field,
            "Leave scriptType empty when importing a descriptor.",
        )
    return w


def parse_watched(
    source_text: str, network: Network, *, field: str = "source", implied_change: bool = True
) -> WatchedWallet:
    """Parse descriptor text (one descriptor, or two on separate lines: external then internal)."""
    parts = source_text.split()
    if not parts:
        raise _bad("The source is empty: paste an xpub/zpub or an output descriptor.", field)
    if len(parts) > 2:
        raise _bad("Expected one descriptor, or two (external and internal) on separate lines.", field)
    bodies = [_normalise(split_checksum(p.strip(), field=field), network, field) for p in parts]
    try:  # the classic shapes keep their storage form and the fast derivation
        legacy = parse_descriptors("\n".join(bodies), network, field=field)
    except BadInput:
        legacy = None
    lone_receive = len(bodies) == 1 and _multipath_count(bodies[0]) == 1
    if legacy is not None and not (lone_receive and not implied_change):
        return from_legacy(legacy, implied_change=lone_receive)
    keychains_: list[Keychain] = []
    stored: list[str] = []
    for line, body in enumerate(bodies):
        branches = _expand_multipath(body, field)
        for b, single in enumerate(branches):
            if len(branches) == 2:
                internal = b == 1
            elif len(branches) == 1:
                internal = len(bodies) == 2 and line == 1
            else:
                internal = False
            keychains_.extend(_keychains_of(single, network, field, internal=internal))
        stored.append(add_checksum(body))
    if lone_receive and implied_change:
        change = _implied_change(bodies[0])
        if change is not None:
            keychains_.extend(_keychains_of(change, network, field, internal=True, implied=True))
            stored.append(add_checksum(change))
    if len(keychains_) > MAX_KEYCHAINS:
        raise _bad(f"At most {MAX_KEYCHAINS} keychains per wallet ({len(keychains_)} after expansion).", field)
    seen: set[str] = set()
    for k in keychains_:
        if k.descriptor in seen:
            raise _bad("Two of the descriptors are the same; each keychain is watched once.", field)
        seen.add(k.descriptor)
    keys = _distinct_keys(bodies)
    return WatchedWallet(network, tuple(stored), tuple(keychains_), None, max(len(keys), 1), _threshold(bodies[0]))


def _normalise(body: str, network: Network, field: str) -> str:
    """Security and format checks common to every descriptor; returns the body with every
    extended key in canonical ``xpub``/``tpub`` form (SLIP-132 prefixes normalised)."""
    for token in _B58_TOKEN.findall(body):
        refuse_private(token, field=field)
    for origin in _ORIGIN.findall(body):
        if "<" in origin or ";" in origin:
            raise _bad("A multipath <a;b> step cannot be inside a key origin [...] (BIP-389).", field)
        parse_origin(origin, field=field)

    def canonical_key(m: re.Match[str]) -> str:
        key, path = m.group(1), m.group(2)
        parsed = parse_extended_key(key, network, field=field)
        _check_path(path, field)
        return parsed.xpub.to_base58() + path

    out = _XKEY.sub(canonical_key, body)
    _check_uncompressed(out, field)
    _check_limits(out, field)
    return out


def _check_path(path: str, field: str) -> None:
    if not path:
        return
    steps = path[1:].split("/")
    multipath = 0
    for i, step in enumerate(steps):
        if step in ("*", ""):
            if step == "" or i != len(steps) - 1:
                raise _bad("Invalid derivation path after a key: '*' must be the last step.", field)
            continue
        if step in ("*'", "*h", "*H"):
            raise _bad(
                "Hardened derivation (*h) after an extended public key needs the private key. " + WATCH_ONLY_HINT,
                field,
            )
        if step.startswith("<"):
            multipath += 1
            if multipath > 1:
                raise _bad("Only one multipath <a;b> step is allowed per key (BIP-389).", field)
            if not step.endswith(">"):
                raise _bad("Unclosed multipath step <a;b> (BIP-389).", field)
            items = step[1:-1].split(";")
            if len(items) < 2 or any(not x for x in items):
                raise _bad("A multipath step needs at least two indexes: <a;b> (BIP-389).", field)
            values = [_parse_step(x, field) for x in items]
            if len(set(values)) != len(values):
                raise _bad("Duplicate indexes in a multipath step are not allowed (BIP-389).", field)
            continue
        if ">" in step or ";" in step:
            raise _bad("Invalid multipath step: expected <a;b> (BIP-389).", field)
        _parse_step(step, field)


def _check_uncompressed(body: str, field: str) -> None:
    segwit = body.startswith(("wpkh(", "wsh(", "sh(wpkh(", "sh(wsh(", "tr(", "rawtr("))
    if segwit and _UNCOMPRESSED.search(body):
        raise _bad("Uncompressed public keys are not allowed in segwit or taproot descriptors (BIP-143/341).", field)


def _call_args(body: str, start: int, field: str) -> list[str]:
    """Arguments of the call whose '(' is at ``start``."""
    depth = 0
    args: list[str] = []
    current: list[str] = []
    for c in body[start + 1 :]:
        if c in "([{<":
            depth += 1
        elif c in ")]}>":
            if depth == 0:
                args.append("".join(current))
                return args
            depth -= 1
        if c == "," and depth == 0:
            args.append("".join(current))
            current = []
        else:
            current.append(c)
    raise _bad("Unbalanced parentheses in the descriptor.", field)


def _check_limits(body: str, field: str) -> None:
    """Key-count limits of multisig fragments, by script context (consensus and standardness)."""
    if body.startswith(("wsh(", "sh(wsh(")):
        context, limit, rule = "wsh", 20, "at most 20 keys in a P2WSH multisig (consensus MAX_PUBKEYS_PER_MULTISIG)"
    elif body.startswith("sh("):
        context, limit, rule = "sh", 15, "at most 15 keys in a P2SH multisig (the 520-byte redeem script limit)"
    elif body.startswith("tr("):
        context, limit, rule = "tr", 999, "at most 999 keys in multi_a (BIP-387)"
    else:
        context, limit, rule = "bare", 3, "at most 3 keys in a bare multisig (Bitcoin Core's standardness rule)"
    for m in _MULTI_CALL.finditer(body):
        fn = m.group(1)
        is_a = fn.endswith("_a")
        if is_a and context != "tr":
            raise _bad(f"{fn}() is only valid inside tr() tap leaves (BIP-387).", field)
        if not is_a and context == "tr":
            raise _bad(f"{fn}() is not valid in tapscript; use multi_a/sortedmulti_a inside tr() (BIP-387).", field)
        args = _call_args(body, m.end() - 1, field)
        keys = args[1:]
        if not args[0].isdigit() or not keys:
            raise _bad(f"{fn}() needs a threshold followed by keys.", field)
        k, n = int(args[0]), len(keys)
        if n > limit:
            raise _bad(f"{fn}() has {n} keys: {rule}.", field)
        if not 1 <= k <= n:
            raise _bad(f"The threshold of {fn}() must be between 1 and the number of keys ({n}); got {k}.", field)
        normalised = [_ORIGIN.sub("", x) for x in keys]
        if len(set(normalised)) != n:
            raise _bad(f"The same key appears twice in {fn}(): every cosigner needs its own key.", field)


def _multipath_count(body: str) -> int:
    counts = {len(m.split(";")) for m in _MULTIPATH.findall(body)}
    if len(counts) > 1:
        raise BadInput(
            "Multipath steps of different lengths in one descriptor: every <...> needs the same count (BIP-389).",
            field="source",
        )
    return counts.pop() if counts else 1


def _expand_multipath(body: str, field: str) -> list[str]:
    try:
        n = _multipath_count(body)
    except BadInput as e:
        raise _bad(str(e), field) from None
    if n == 1:
        return [body]
    return [_MULTIPATH.sub(lambda m, i=i: m.group(1).split(";")[i], body) for i in range(n)]  # type: ignore[misc]


def _implied_change(body: str) -> str | None:
    """``.../0/*`` in every ranged key -> the same with ``.../1/*``; None if not that shape."""
    ends = re.findall(r"/(\d+)/\*", body)
    ranged_keys = len(re.findall(r"/\*", body))
    if not ends or len(ends) != ranged_keys or any(e != "0" for e in ends):
        return None
    return re.sub(r"/0/\*", "/1/*", body)


def _distinct_keys(bodies: Sequence[str]) -> set[str]:
    keys: set[str] = set()
    for body in bodies:
        for m in _XKEY.finditer(body):
            keys.add(m.group(1))
        for m in _HEX_KEY.finditer(body):
            if not body[: m.start()].endswith("raw("):
                keys.add(m.group(1)[-64:] if len(m.group(1)) != 130 else m.group(1))
    return keys


def _threshold(body: str) -> int | None:
    m = _MULTI_CALL.search(body)
    if m is None:
        return None
    args = _call_args(body, m.end() - 1, "source")
    return int(args[0]) if args[0].isdigit() else None


# --------------------------------------------------------------------------- keychains


def _fast(desc: WalletDescriptor, chain: Chain) -> Callable[[int, int], list[bytes]]:
    from app.bitcoin.derive import ScriptPubKeyDeriver

    deriver = ScriptPubKeyDeriver(desc, chain)
    return deriver.script_pubkeys


def _keychains_of(body: str, network: Network, field: str, *, internal: bool, implied: bool = False) -> list[Keychain]:
    node = _split_call(body, field)
    if node.name == "combo":
        if len(node.args) != 1:
            raise _bad("combo() takes exactly one key.", field)
        key = node.args[0]
        forms = ["pk", "pkh"]
        if not _UNCOMPRESSED.fullmatch(_ORIGIN.sub("", key).split("/")[0]):
            forms += ["wpkh", "sh(wpkh"]
        out = []
        for f in forms:
            text = f"{f}({key}))" if f == "sh(wpkh" else f"{f}({key})"
            out.append(_keychain(text, network, field, internal=internal, implied=implied))
        return out
    return [_keychain(body, network, field, internal=internal, implied=implied)]


def _keychain(body: str, network: Network, field: str, *, internal: bool, implied: bool) -> Keychain:
    desc = add_checksum(body)
    ranged = "*" in body
    st, derive = _deriver(body, network, field)
    kc = Keychain(desc, internal, ranged, st, implied, derive)
    try:
        kc.script_pubkeys(0, 1)  # parse errors surface here, before anything is stored
    except BadInput:
        raise
    except Exception as e:
        raise _bad(f"Cannot derive scripts from the descriptor: {_reason(e)}.", field) from None
    return kc


def _reason(e: Exception) -> str:
    text = str(e).split("\n")[0][:120]
    return re.sub(r"[a-zA-Z]pub[1-9A-HJ-NP-Za-km-z]{20,}", "(key)", text) or type(e).__name__


_ST_BY_PREFIX = (
    ("sh(wpkh(", ScriptType.P2SH_P2WPKH),
    ("sh(wsh(", ScriptType.P2SH_P2WSH),
    ("sh(", ScriptType.P2SH),
    ("wsh(", ScriptType.P2WSH),
    ("wpkh(", ScriptType.P2WPKH),
    ("pkh(", ScriptType.P2PKH),
    ("tr(", ScriptType.P2TR),
    ("rawtr(", ScriptType.P2TR),
)


def script_type_of_script(spk: bytes) -> ScriptType:
    if len(spk) == 25 and spk[:3] == b"\x76\xa9\x14" and spk[-2:] == b"\x88\xac":
        return ScriptType.P2PKH
    if len(spk) == 23 and spk[:2] == b"\xa9\x14" and spk[-1:] == b"\x87":
        return ScriptType.P2SH
    if len(spk) == 22 and spk[:2] == b"\x00\x14":
        return ScriptType.P2WPKH
    if len(spk) == 34 and spk[:2] == b"\x00\x20":
        return ScriptType.P2WSH
    if len(spk) == 34 and spk[:2] == b"\x51\x20":
        return ScriptType.P2TR
    return ScriptType.BARE


def _deriver(body: str, network: Network, field: str) -> tuple[ScriptType, Callable[[int, int], list[bytes]]]:
    node = _split_call(body, field)
    name = node.name
    if name == "addr":
        spk = script_from_address(node.args[0], network, field=field)
        return script_type_of_script(spk), lambda s, c: [spk] if s == 0 and c >= 1 else []
    if name == "raw":
        text = node.args[0]
        if not text or len(text) % 2 or not re.fullmatch(r"[0-9a-fA-F]+", text):
            raise _bad("raw() takes the scriptPubKey in hex.", field)
        spk = bytes.fromhex(text)
        return script_type_of_script(spk), lambda s, c: [spk] if s == 0 and c >= 1 else []
    if name in ("pk", "multi", "sortedmulti", "rawtr"):
        return _own(node.name, node.args, field)
    # classic single-path shapes: the fast derivation
    try:
        parsed = _parse_one(body, network, field)
        if all(b is not None for b in parsed.branches):
            d = parsed.descriptor
            return d.script_type, _fast(d, Chain.RECEIVE)
    except BadInput:
        pass
    st = next((t for prefix, t in _ST_BY_PREFIX if body.startswith(prefix)), None)
    if st is None:
        raise _bad(
            f"Unsupported descriptor {name}(...).",
            field,
            "Supported: pk, pkh, wpkh, sh, wsh, tr, rawtr, combo, addr, raw, multi, sortedmulti and miniscript.",
        )
    from embit.descriptor import Descriptor

    if body.startswith("tr("):  # tapscript keys are x-only (BIP-386): 33-byte hex keys lose their prefix
        body = re.sub(r"(?<![0-9a-fA-F])0[23]([0-9a-fA-F]{64})(?![0-9a-fA-F])", r"\1", body)
    try:
        d = Descriptor.from_string(body)
    except Exception as e:
        raise _bad(f"Cannot parse the descriptor: {_reason(e)}.", field) from None

    def derive(start: int, count: int) -> list[bytes]:
        if not d.is_wildcard:  # derive(0) applies the key's fixed path (script_pubkey() alone does not)
            return [d.derive(0).script_pubkey().data] if start == 0 and count >= 1 else []
        return [d.derive(i).script_pubkey().data for i in range(start, start + count)]

    return st, derive


def _key_deriver(text: str, field: str, *, xonly: bool = False) -> Callable[[int], bytes]:
    from embit.descriptor.arguments import Key

    try:
        key = Key.from_string(text)
    except Exception as e:
        raise _bad(f"Invalid key in the descriptor: {_reason(e)}.", field) from None

    def at(i: int) -> bytes:
        sec = key.derive(i if key.is_wildcard else 0).get_public_key().sec()  # applies the fixed path too
        return sec[1:] if xonly and len(sec) == 33 else sec

    return at


def _own(name: str, args: list[str], field: str) -> tuple[ScriptType, Callable[[int, int], list[bytes]]]:
    """The top-level fragments embit does not build: pk(), bare multi/sortedmulti, rawtr()."""
    if name in ("pk", "rawtr"):
        if len(args) != 1:
            raise _bad(f"{name}() takes exactly one key.", field)
        if name == "rawtr":
            at = _key_deriver(args[0], field, xonly=True)
            return ScriptType.P2TR, lambda s, c: [b"\x51\x20" + at(i)[-32:] for i in range(s, s + c)]
        at = _key_deriver(args[0], field)
        return ScriptType.BARE, lambda s, c: [bytes((len(k),)) + k + b"\xac" for k in (at(i) for i in range(s, s + c))]
    threshold = int(args[0])
    ats = [_key_deriver(a, field) for a in args[1:]]
    sort = name == "sortedmulti"

    def derive(s: int, c: int) -> list[bytes]:
        return [scripts.multisig_script(threshold, [at(i) for at in ats], sort=sort) for i in range(s, s + c)]

    return ScriptType.BARE, derive
