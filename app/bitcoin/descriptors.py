"""Output descriptors for watch-only wallets (BIP-380/381/382/383/386/389).

Supported shapes (one ranged key per cosigner, every key an extended public key):

    pkh(KEY)  sh(wpkh(KEY))  wpkh(KEY)  tr(KEY)
    sh(multi|sortedmulti(k,KEY,...))  wsh(...)  sh(wsh(...))

where ``KEY`` is ``[fingerprint/origin/path]xpub/<steps>/<0;1>/*`` (BIP-389 multipath) or
``.../0/*`` — given alone (the change chain ``/1/*`` is then implied) or as a receive/change
pair of descriptors on separate lines. Checksums (BIP-380 ``#xxxxxxxx``) are verified when
present and always emitted by :class:`WalletDescriptor`.

Refused with :class:`~app.errors.BadInput` (``field="source"`` unless told otherwise): private
keys, hardened steps after an xpub, keys of another network, bad checksums, script-path
taproot, non-ranged or unsupported descriptors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from app.bitcoin.keys import (
    HARDENED,
    WATCH_ONLY_HINT,
    ExtendedPubKey,
    KeyOrigin,
    ParsedKey,
    parse_extended_key,
    refuse_private,
)
from app.bitcoin.networks import Network
from app.bitcoin.scripts import SINGLE_SIG_TYPES, ScriptType
from app.errors import BadInput

# --------------------------------------------------------------------------- BIP-380 checksum

_INPUT_CHARSET = "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "
_CHECKSUM_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0xF5DEE51989, 0xA9FDCA3312, 0x1BAB10E32D, 0x3706B1677A, 0x644D626FFD)
_CHARSET_INDEX = {c: i for i, c in enumerate(_INPUT_CHARSET)}


def _polymod(symbols: list[int]) -> int:
    chk = 1
    for value in symbols:
        top = chk >> 35
        chk = (chk & 0x7FFFFFFFF) << 5 ^ value  # pragma: no mutate
        for i in range(5):  # pragma: no mutate
            if (top >> i) & 1:
                chk ^= _GENERATOR[i]
    return chk


def _expand(s: str) -> list[int] | None:
    groups: list[int] = []
    symbols: list[int] = []
    for c in s:
        v = _CHARSET_INDEX.get(c)
        if v is None:
            return None
        symbols.append(v & 31)
        groups.append(v >> 5)
        if len(groups) == 3:
            symbols.append(groups[0] * 9 + groups[1] * 3 + groups[2])
            groups = []
    if len(groups) == 1:
        symbols.append(groups[0])  # pragma: no mutate
    elif len(groups) == 2:
        symbols.append(groups[0] * 3 + groups[1])
    return symbols


def descriptor_checksum(desc: str) -> str:
    """The 8-character BIP-380 checksum of a descriptor (without ``#``)."""
    symbols = _expand(desc)
    if symbols is None:
        raise ValueError("descriptor contains characters outside the descriptor character set")
    checksum = _polymod([*symbols, 0, 0, 0, 0, 0, 0, 0, 0]) ^ 1
    return "".join(_CHECKSUM_CHARSET[(checksum >> (5 * (7 - i))) & 31] for i in range(8))


def add_checksum(desc: str) -> str:
    return f"{desc}#{descriptor_checksum(desc)}"


def checksum_valid(desc_with_checksum: str) -> bool:
    if len(desc_with_checksum) < 9 or desc_with_checksum[-9] != "#":
        return False
    payload, checksum = desc_with_checksum[:-9], desc_with_checksum[-8:]
    if not all(c in _CHECKSUM_CHARSET for c in checksum):
        return False
    symbols = _expand(payload)
    if symbols is None:
        return False
    return _polymod(symbols + [_CHECKSUM_CHARSET.find(c) for c in checksum]) == 1


def split_checksum(text: str, *, field: str = "source") -> str:
    """Verify and strip ``#checksum`` if present; return the bare descriptor."""
    if "#" not in text:
        if _expand(text) is None:
            raise BadInput("The descriptor contains characters that descriptors never use.", field=field)
        return text
    body, _, checksum = text.rpartition("#")
    if len(checksum) != 8 or not checksum_valid(text):
        raise BadInput(
            f"Descriptor checksum #{checksum} does not match: the descriptor was mistyped or truncated.",
            field=field,
            hint=("Copy the descriptor again from your wallet, or remove the #checksum part to skip the check."),
        )
    return body


# --------------------------------------------------------------------------- model


class Chain(IntEnum):
    """Which branch of the wallet: receive (external) or change (internal)."""

    RECEIVE = 0
    CHANGE = 1


@dataclass(frozen=True)
class KeyExpression:
    """One ranged extended key: ``[origin]xpub/<steps>/<receive;change>/*``."""

    xpub: ExtendedPubKey
    origin: KeyOrigin | None
    steps: tuple[int, ...] = ()
    chains: tuple[int, int] = (0, 1)

    def render(self, chain: Chain | None) -> str:
        origin = str(self.origin) if self.origin else ""
        steps = "".join(f"/{s}" for s in self.steps)
        branch = f"<{self.chains[0]};{self.chains[1]}>" if chain is None else str(self.chains[int(chain)])
        return f"{origin}{self.xpub.to_base58()}{steps}/{branch}/*"

    @property
    def identity(self) -> tuple[bytes, bytes]:
        return (self.xpub.pubkey, self.xpub.chain_code)


@dataclass(frozen=True)
class WalletDescriptor:
    """A parsed, validated, canonical watch-only wallet descriptor."""

    network: Network
    script_type: ScriptType
    keys: tuple[KeyExpression, ...]
    threshold: int | None = None  # multisig only
    sorted_keys: bool = True  # sortedmulti (BIP67) vs multi

    @property
    def is_multisig(self) -> bool:
        return self.script_type.is_multisig

    def _body(self, chain: Chain | None) -> str:
        rendered = [k.render(chain) for k in self.keys]
        st = self.script_type
        if st is ScriptType.P2PKH:
            return f"pkh({rendered[0]})"  # pragma: no mutate
        if st is ScriptType.P2WPKH:
            return f"wpkh({rendered[0]})"  # pragma: no mutate
        if st is ScriptType.P2SH_P2WPKH:
            return f"sh(wpkh({rendered[0]}))"  # pragma: no mutate
        if st is ScriptType.P2TR:
            return f"tr({rendered[0]})"
        fn = "sortedmulti" if self.sorted_keys else "multi"
        inner = f"{fn}({self.threshold},{','.join(rendered)})"
        if st is ScriptType.P2WSH:
            return f"wsh({inner})"
        if st is ScriptType.P2SH_P2WSH:
            return f"sh(wsh({inner}))"
        return f"sh({inner})"

    def descriptor(self, chain: Chain | None = None) -> str:
        """The public descriptor with checksum: one chain, or both in ``<0;1>`` form (None)."""
        return add_checksum(self._body(chain))

    @property
    def receive_descriptor(self) -> str:
        return self.descriptor(Chain.RECEIVE)

    @property
    def change_descriptor(self) -> str:
        return self.descriptor(Chain.CHANGE)

    @property
    def multipath_descriptor(self) -> str:
        return self.descriptor(None)

    def canonical(self) -> str:
        """A normal form independent of how the user wrote it (used for duplicate detection).

        Key origins are left out (the same keys with a different origin are the same wallet);
        for ``sortedmulti`` the keys are sorted, since their order does not change the scripts.
        """
        keys = [KeyExpression(k.xpub, None, k.steps, k.chains) for k in self.keys]
        if self.sorted_keys and len(keys) > 1:  # pragma: no mutate
            keys.sort(key=lambda k: k.xpub.to_base58())
        return WalletDescriptor(self.network, self.script_type, tuple(keys), self.threshold, self.sorted_keys)._body(
            None
        )

    def __repr__(self) -> str:  # keep key material out of logs and tracebacks
        kind = f"{self.network.value}, {self.script_type.value}"
        return f"WalletDescriptor({kind}, keys={len(self.keys)})"


# --------------------------------------------------------------------------- parsing


def _bad(message: str, field: str, hint: str | None = None) -> BadInput:
    return BadInput(message, field=field, hint=hint)


@dataclass
class _Node:
    name: str
    args: list[str]


def _split_call(expr: str, field: str) -> _Node:
    m = re.fullmatch(r"([a-z_]+)\((.*)\)", expr, flags=re.S)
    if not m:
        raise _bad(
            "Cannot parse the descriptor: expected a script function such as wpkh(...) or wsh(sortedmulti(...)).",
            field,
            "Expected something like wpkh([fingerprint/84h/0h/0h]xpub.../<0;1>/*).",
        )
    name, inner = m.group(1), m.group(2)
    args: list[str] = []
    depth = 0
    current: list[str] = []
    for c in inner:
        if c in "([{<":
            depth += 1
        elif c in ")]}>":
            depth -= 1
            if depth < 0:
                raise _bad("Unbalanced parentheses in the descriptor.", field)
        if c == "," and depth == 0:
            args.append("".join(current))
            current = []
        else:
            current.append(c)
    if depth != 0:
        raise _bad("Unbalanced parentheses in the descriptor.", field)
    args.append("".join(current))
    return _Node(name, args)


def _shown(part: str) -> str:
    """A short input fragment to quote in an error; long ones (keys?) are never echoed back."""
    return repr(part) if len(part) <= 16 else "(a long step)"


_NUM = re.compile(r"^(\d+)(['hH]?)$")


def _parse_key_expression(text: str, network: Network, field: str) -> tuple[KeyExpression, ParsedKey, int | None]:
    """Parse ``[origin]KEY/path/<a;b>/*``; returns the key and, if single-branch, that branch."""
    s = text.strip()
    origin_text = ""
    if s.startswith("["):
        end = s.find("]")
        if end < 0:  # pragma: no mutate (s[0] is "[", so end is never 0)
            raise _bad("Unclosed key origin in the descriptor.", field)
        origin_text, s = s[: end + 1], s[end + 1 :]
    key_text, *path = s.split("/")
    refuse_private(key_text, field=field)
    if re.fullmatch(r"(02|03)[0-9a-fA-F]{64}|04[0-9a-fA-F]{128}|[0-9a-fA-F]{64}", key_text):
        raise _bad(
            "Single public keys are not supported: a wallet needs an extended public key with a /* range.",
            field,
            "Use an xpub-based descriptor such as wpkh(xpub.../<0;1>/*).",
        )
    parsed = parse_extended_key(origin_text + key_text, network, field=field)
    if not path or path[-1] not in ("*", "*'", "*h", "*H"):
        raise _bad(
            "The descriptor is not ranged: the key must end with /* (e.g. xpub.../0/* or xpub.../<0;1>/*).",
            field,
        )
    if path[-1] != "*":
        raise _bad(
            "Hardened derivation (*h) after an extended public key needs the private key. " + WATCH_ONLY_HINT,
            field,
        )
    middle = path[:-1]
    if not middle:
        raise _bad(
            "The descriptor has no receive/change branch: expected xpub.../<0;1>/* or xpub.../0/*.",
            field,
            "Most wallets use /<0;1>/* (receive 0, change 1).",
        )
    steps: list[int] = []
    for part in middle[:-1]:
        steps.append(_parse_step(part, field))
    branch_text = middle[-1]
    branch: int | None
    m = re.fullmatch(r"<([^;>]+);([^;>]+)>", branch_text)
    if m:
        receive, change = _parse_step(m.group(1), field), _parse_step(m.group(2), field)
        if receive == change:
            raise _bad("The receive and change branches of <a;b> must differ.", field)
        chains = (receive, change)
        branch = None
    elif "<" in branch_text or ";" in branch_text:
        raise _bad("Only two-branch multipath <receive;change> is supported.", field)
    else:
        branch = _parse_step(branch_text, field)
        chains = (branch, branch + 1)
    return KeyExpression(parsed.xpub, parsed.origin, tuple(steps), chains), parsed, branch


def _parse_step(part: str, field: str) -> int:
    m = _NUM.match(part)
    if not m:
        raise _bad(f"Invalid derivation step {_shown(part)} in the descriptor.", field)
    if m.group(2):
        raise _bad(
            f"Hardened derivation step {_shown(part)} after an extended public key cannot be derived "
            f"without "
            "the private key. " + WATCH_ONLY_HINT,
            field,
            "Use the xpub at the last hardened step (the account key) and put the hardened path in "
            "the key origin: [fingerprint/84h/0h/0h]xpub.../<0;1>/*.",
        )
    index = int(m.group(1))
    if index >= HARDENED:
        raise _bad(f"Derivation index {index} is out of range.", field)
    return index


@dataclass
class _Parsed:
    descriptor: WalletDescriptor
    branches: list[int | None]


def _parse_one(text: str, network: Network, field: str) -> _Parsed:
    body = split_checksum(text.strip(), field=field)
    node = _split_call(body, field)
    name = node.name
    if name in ("pkh", "wpkh", "tr"):
        if name == "tr" and len(node.args) > 1:
            raise _bad("Taproot descriptors with script paths are not supported (only tr(KEY)).", field)
        if len(node.args) != 1:
            raise _bad(f"{name}() takes exactly one key.", field)
        st = {"pkh": ScriptType.P2PKH, "wpkh": ScriptType.P2WPKH, "tr": ScriptType.P2TR}[name]
        key, _, branch = _parse_key_expression(node.args[0], network, field)  # pragma: no mutate (one arg)
        return _Parsed(WalletDescriptor(network, st, (key,)), [branch])
    if name == "sh" and len(node.args) == 1:
        inner = _split_call(node.args[0], field)
        if inner.name == "wpkh" and len(inner.args) == 1:
            key, _, branch = _parse_key_expression(inner.args[0], network, field)  # pragma: no mutate
            return _Parsed(WalletDescriptor(network, ScriptType.P2SH_P2WPKH, (key,)), [branch])
        if inner.name == "wsh" and len(inner.args) == 1:
            return _parse_multi(_split_call(inner.args[0], field), ScriptType.P2SH_P2WSH, network, field)
        if inner.name in ("multi", "sortedmulti"):
            return _parse_multi(inner, ScriptType.P2SH, network, field)
    if name == "wsh" and len(node.args) == 1:
        return _parse_multi(_split_call(node.args[0], field), ScriptType.P2WSH, network, field)  # pragma: no mutate
    if name in ("multi", "sortedmulti"):
        raise _bad("Bare multisig outputs are not supported; use wsh(sortedmulti(...)).", field)
    raise _bad(
        f"Unsupported descriptor {name}(...).",
        field,
        "Supported: pkh, wpkh, sh(wpkh), tr(KEY), and sh/wsh/sh(wsh) around multi or sortedmulti.",
    )


def _parse_multi(node: _Node, st: ScriptType, network: Network, field: str) -> _Parsed:
    if node.name not in ("multi", "sortedmulti"):
        raise _bad(f"Unsupported script {node.name}(...) inside {st.value}: only multi/sortedmulti.", field)
    if len(node.args) < 2 or not node.args[0].isdigit():
        raise _bad(f"{node.name}() needs a threshold followed by keys.", field)
    threshold = int(node.args[0])
    keys: list[KeyExpression] = []
    branches: list[int | None] = []
    for arg in node.args[1:]:
        key, _, branch = _parse_key_expression(arg, network, field)
        keys.append(key)
        branches.append(branch)
    n = len(keys)
    if n > st.max_multisig_keys():
        raise _bad(_too_many_keys(st, n), field)
    if not 1 <= threshold <= n:
        raise _bad(f"The threshold must be between 1 and the number of keys ({n}); got {threshold}.", field)
    seen: dict[tuple[bytes, bytes], int] = {}
    for i, k in enumerate(keys):
        if k.identity in seen:
            raise _bad(
                f"Key {i + 1} is the same as key {seen[k.identity] + 1}: every cosigner needs its own key.",
                field,
            )
        seen[k.identity] = i
    wallet = WalletDescriptor(network, st, tuple(keys), threshold, node.name == "sortedmulti")
    return _Parsed(wallet, branches)


def _too_many_keys(st: ScriptType, n: int) -> str:
    if st is ScriptType.P2SH:
        return f"{n} keys: at most 15 keys in a P2SH multisig (the 520-byte redeem script limit)."
    return f"{n} keys: at most 20 keys in a P2WSH multisig (consensus MAX_PUBKEYS_PER_MULTISIG)."


def looks_like_descriptor(source: str) -> bool:
    return "(" in source


def parse_descriptors(source: str, network: Network, *, field: str = "source") -> WalletDescriptor:
    """Parse one descriptor (``<0;1>/*`` or ``/0/*``) or a receive+change pair (one per line)."""
    parts = source.split()  # descriptors contain no whitespace; a pair is split by newline/space
    if not parts:
        raise _bad("The source is empty: paste an xpub/zpub or an output descriptor.", field)
    if len(parts) > 2:
        raise _bad("Expected one descriptor, or two (receive and change) on separate lines.", field)
    parsed = [_parse_one(p, network, field) for p in parts]
    if len(parsed) == 1:
        (p,) = parsed
        if any(b is not None for b in p.branches) and any(b != 0 for b in p.branches):
            raise _bad(
                "A single descriptor must use /<0;1>/* or the receive branch /0/*; "
                "give the receive and change descriptors on two lines for other layouts.",
                field,
            )
        return p.descriptor
    first, second = parsed
    if any(b is None for b in first.branches + second.branches):
        raise _bad("Give either one <0;1> descriptor or two single-branch descriptors, not both.", field)
    d1, d2 = first.descriptor, second.descriptor
    same_shape = (
        d1.script_type == d2.script_type
        and d1.threshold == d2.threshold
        and d1.sorted_keys == d2.sorted_keys
        and [(k.xpub, k.origin, k.steps) for k in d1.keys] == [(k.xpub, k.origin, k.steps) for k in d2.keys]
    )
    if not same_shape:
        raise _bad("The two descriptors must be the receive and change branches of the same wallet.", field)
    keys = []
    for k, b1, b2 in zip(d1.keys, first.branches, second.branches, strict=True):  # pragma: no mutate
        assert b1 is not None and b2 is not None  # pragma: no mutate
        if b1 == b2:
            raise _bad(
                "The two descriptors use the same branch; expected receive (/0/*) and change (/1/*).",
                field,
            )
        keys.append(KeyExpression(k.xpub, k.origin, k.steps, (b1, b2)))
    return WalletDescriptor(d1.network, d1.script_type, tuple(keys), d1.threshold, d1.sorted_keys)


def looks_like_wallet_file(text: str) -> bool:
    """A JSON wallet export (an object, or a list of objects) rather than ``[origin]xpub``."""
    return text.startswith("{") or (text.startswith("[") and text[1:].lstrip().startswith("{"))


_OUTER = (
    ("sh(wsh(", ScriptType.P2SH_P2WSH),
    ("sh(wpkh(", ScriptType.P2SH_P2WPKH),
    ("sh(", ScriptType.P2SH),
    ("wsh(", ScriptType.P2WSH),
    ("wpkh(", ScriptType.P2WPKH),
    ("pkh(", ScriptType.P2PKH),
    ("tr(", ScriptType.P2TR),
)


def descriptors_from_wallet_file(
    text: str, script_type: ScriptType | None, *, field: str = "source", script_type_field: str = "scriptType"
) -> str:
    """The descriptor text inside a wallet export:

    - ``{"descriptor": "..."}`` (Specter, Sparrow and many others);
    - Bitcoin Core ``listdescriptors`` (``{"descriptors": [{"desc", "active", "internal"}...]}``) or
      its bare list: the active receive/change pair of ``script_type`` — or the only script type
      present.
    """
    import json

    try:
        obj = json.loads(text)
    except ValueError:
        raise _bad("The source looks like a JSON wallet file but is not valid JSON.", field) from None
    if isinstance(obj, dict) and isinstance(obj.get("descriptor"), str):
        return str(obj["descriptor"])
    entries = obj.get("descriptors") if isinstance(obj, dict) else obj
    if not isinstance(entries, list):
        raise _bad('No descriptor found in the wallet file (expected "descriptor" or "descriptors").', field)
    groups: dict[ScriptType, dict[bool, str]] = {}
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("desc"), str) or e.get("active") is False:
            continue
        desc = e["desc"].strip()
        st = next((t for prefix, t in _OUTER if desc.startswith(prefix)), None)
        if st is None:
            continue
        groups.setdefault(st, {})[bool(e.get("internal", False))] = desc
    if not groups:
        raise _bad("No active wallet descriptor found in the wallet file.", field)
    if script_type is None:
        if len(groups) > 1:
            kinds = ", ".join(sorted(t.value for t in groups))
            raise _bad(
                f"The wallet file has descriptors for several script types ({kinds}): choose a scriptType.",
                script_type_field,
            )
        script_type = next(iter(groups))
    pair = groups.get(script_type)
    if pair is None:
        raise _bad(f"The wallet file has no {script_type.value} descriptor.", script_type_field)
    if False not in pair:
        raise _bad(f"The wallet file has no receive (external) {script_type.value} descriptor.", field)
    return pair[False] + ("\n" + pair[True] if True in pair else "")


_PURPOSE_TYPES = {
    44: ScriptType.P2PKH,
    49: ScriptType.P2SH_P2WPKH,
    84: ScriptType.P2WPKH,
    86: ScriptType.P2TR,
}


def parse_wallet_source(
    source: str,
    network: Network,
    script_type: ScriptType | None = None,
    *,
    field: str = "source",
    script_type_field: str = "scriptType",
) -> WalletDescriptor:
    """The single entry point for ``importWallet``'s ``source``: an extended key or descriptor(s).

    - A descriptor decides its own script type; a conflicting ``script_type`` is refused.
    - ``ypub``/``zpub`` (``upub``/``vpub``) imply P2SH-P2WPKH/P2WPKH; ``xpub``/``tpub`` need
      ``script_type`` unless the key origin's purpose (44'/49'/84'/86') tells it.
    - Multisig keys (``Ypub``/``Zpub``) and multisig script types go through
      :func:`app.bitcoin.multisig.build_multisig` (or a ``wsh(sortedmulti(...))`` descriptor).
    """
    text = source.strip()
    if not text:
        raise _bad("The source is empty: paste an xpub/zpub or an output descriptor.", field)
    if looks_like_wallet_file(text):
        text = descriptors_from_wallet_file(text, script_type, field=field, script_type_field=script_type_field)
    if looks_like_descriptor(text):
        desc = parse_descriptors(text, network, field=field)
        if script_type is not None and script_type != desc.script_type:
            raise _bad(
                f"The descriptor describes {desc.script_type.value} outputs but scriptType is {script_type.value}.",
                script_type_field,
                "Leave scriptType empty when importing a descriptor.",
            )
        return desc
    key_text = text
    _, _, after_origin = text.rpartition("]")
    if "/" in after_origin:
        # ``xpub/0/*``-style shorthand without a script function: ask for a real descriptor.
        raise _bad(
            "A derivation path after the key is only accepted inside a descriptor.",
            field,
            "Paste just the xpub, or a descriptor such as wpkh(xpub.../<0;1>/*).",
        )
    parsed = parse_extended_key(key_text, network, field=field)
    if parsed.slip132_multisig:
        raise _bad(
            f"{parsed.prefix} is a multisig cosigner key; create a multisig wallet with it instead.",
            field,
            "Use createMultisigWallet with every cosigner's key, or import a wsh(sortedmulti(...)) descriptor.",
        )
    implied = parsed.implied_script_type
    if implied is None and parsed.origin and parsed.origin.path:
        implied = _PURPOSE_TYPES.get(parsed.origin.path[0] & ~HARDENED)
    if script_type is not None and script_type.is_multisig:
        raise _bad(
            f"{script_type.value} is a multisig script type; a single key makes a single-signature wallet.",
            script_type_field,
            "Use createMultisigWallet for multisig wallets.",
        )
    if script_type is not None and parsed.implied_script_type is not None and script_type != parsed.implied_script_type:
        raise _bad(
            f"A {parsed.prefix} key means {parsed.implied_script_type.value} addresses, but "
            f"scriptType is "
            f"{script_type.value}.",
            script_type_field,
            "Leave scriptType empty for ypub/zpub keys, or paste the plain xpub with the script type you want.",
        )
    chosen = script_type or implied
    if chosen is None:
        raise _bad(
            f"An {parsed.prefix} does not say which kind of addresses to derive: choose a "
            f"scriptType "
            "(P2WPKH for bc1q..., P2TR for bc1p..., P2SH_P2WPKH for 3..., P2PKH for 1...).",
            script_type_field,
        )
    assert chosen in SINGLE_SIG_TYPES
    return WalletDescriptor(network, chosen, (KeyExpression(parsed.xpub, parsed.origin),))
