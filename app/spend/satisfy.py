"""Miniscript satisfaction: the witness that makes a miniscript (embit's parsed fragments) succeed,
from the signatures at hand, and the largest witness any satisfaction can have (for fees).

Each fragment has a satisfaction and a dissatisfaction, built from its children's as the
miniscript specification's table gives them (https://bitcoin.sipa.be/miniscript/). Witnesses are
lists of stack items, bottom first. ``pick=min`` chooses the smallest alternative (what the
finalizer uses); ``pick=max`` with an oracle that has every signature (at the largest size a
signer may produce: 73-byte ECDSA, 65-byte Schnorr with a sighash byte), every preimage and every
time lock gives an upper bound of the witness: a signed transaction is never larger than its
estimate, so it pays at least the fee rate asked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Witness = list[bytes]
Sat = Witness | None

MAX_ECDSA_SIG = 73
MAX_SCHNORR_SIG = 65
ONE = b"\x01"
ZERO = b""


@dataclass(frozen=True, slots=True)
class Oracle:
    """What is available to satisfy: a signature per key (x-only in tapscript, compressed else),
    preimages per hash, whether relative (``older``) and absolute (``after``) locks are met."""

    sig: Callable[[bytes], bytes | None]
    preimage: Callable[[str, bytes], bytes | None] = lambda _kind, _h: None
    older: Callable[[int], bool] = lambda _n: False
    after: Callable[[int], bool] = lambda _n: False


def worst_case_oracle(tapscript: bool) -> Oracle:
    """Every signature at its largest, every preimage, every lock met: for size upper bounds."""
    sig = b"\x00" * (MAX_SCHNORR_SIG if tapscript else MAX_ECDSA_SIG)
    return Oracle(lambda _k: sig, lambda _kind, _h: b"\x00" * 32, lambda _n: True, lambda _n: True)


class LockMark(bytes):
    """A zero-size marker in a witness under construction: this satisfaction uses ``older(n)``
    (``kind`` "older") or ``after(n)``. Not a stack item: :func:`satisfy` strips it; it lets
    :func:`satisfy_locks` say which time locks the chosen satisfaction needs."""

    kind: str
    n: int

    def __new__(cls, kind: str, n: int) -> LockMark:
        mark = super().__new__(cls, b"")
        mark.kind, mark.n = kind, n
        return mark


@dataclass(frozen=True, slots=True)
class Locks:
    """The time locks one satisfaction needs (BIP-68/112 ``older`` values, BIP-65 ``after`` values)."""

    older: tuple[int, ...] = ()
    after: tuple[int, ...] = ()
    preimages: tuple[tuple[str, bytes], ...] = field(default=())

    @property
    def any(self) -> bool:
        return bool(self.older or self.after)


def witness_size(w: Sequence[bytes]) -> int:
    """Serialized size of these stack items (each with its length prefix; the count excluded)."""
    return sum(_varint_len(len(x)) + len(x) for x in w if not isinstance(x, LockMark))


def _varint_len(n: int) -> int:
    return 1 if n < 0xFD else 3 if n <= 0xFFFF else 5


def _cat(*parts: Sat) -> Sat:
    out: Witness = []
    for p in parts:
        if p is None:
            return None
        out += p
    return out


def _choose(options: Sequence[Sat], maximize: bool) -> Sat:
    valid = [o for o in options if o is not None]
    if not valid:
        return None
    return (max if maximize else min)(valid, key=witness_size)


def _pushes(script: bytes) -> list[bytes]:
    out = []
    i = 0
    while i < len(script):
        op = script[i]
        i += 1
        if 0 < op < 0x4C:
            out.append(script[i : i + op])
            i += op
    return out


def _key(arg: Any, tapscript: bool) -> bytes:
    pub = arg.get_public_key()
    return bytes(pub.xonly() if tapscript else pub.sec())


def satisfy(node: Any, oracle: Oracle, *, tapscript: bool, maximize: bool = False) -> tuple[Sat, Sat]:
    """(satisfaction, dissatisfaction) of a miniscript fragment; None where there is none."""
    sat, dsat = _satisfy(node, oracle, tapscript, maximize)
    return _strip(sat), _strip(dsat)


def satisfy_locks(node: Any, oracle: Oracle, *, tapscript: bool) -> tuple[Sat, Locks]:
    """The smallest satisfaction and the time locks (and hash preimages) it relies on."""
    sat, _ = _satisfy(node, oracle, tapscript, False)
    if sat is None:
        return None, Locks()
    marks = [x for x in sat if isinstance(x, LockMark)]
    return _strip(sat), Locks(
        tuple(m.n for m in marks if m.kind == "older"),
        tuple(m.n for m in marks if m.kind == "after"),
        tuple((m.kind, m.hash) for m in marks if isinstance(m, _PreimageMark)),
    )


class _PreimageMark(LockMark):
    hash: bytes


def lock_values(node: Any) -> list[tuple[str, int]]:
    """Every ``older``/``after`` fragment of this miniscript: ("older" | "after", value)."""
    name = type(node).__name__
    if name in ("Older", "After"):
        return [(name.lower(), int(node.arg.num))]
    return [v for a in getattr(node, "args", ()) if hasattr(a, "args") for v in lock_values(a)]


def _strip(w: Sat) -> Sat:
    return None if w is None else [x for x in w if not isinstance(x, LockMark)]


def _satisfy(node: Any, oracle: Oracle, tapscript: bool, maximize: bool) -> tuple[Sat, Sat]:
    name = type(node).__name__

    def sd(child: Any) -> tuple[Sat, Sat]:
        return _satisfy(child, oracle, tapscript, maximize)

    def best(*options: Sat) -> Sat:
        return _choose(options, maximize)

    if name in ("PkK", "Pk"):
        s = oracle.sig(_key(node.arg, tapscript))
        return ([s] if s is not None else None), [ZERO]
    if name in ("PkH", "Pkh"):
        key = _key(node.arg, tapscript)
        s = oracle.sig(key)
        return ([s, key] if s is not None else None), [ZERO, key]
    if name == "Older":
        return ([LockMark("older", node.arg.num)] if oracle.older(node.arg.num) else None), None
    if name == "After":
        return ([LockMark("after", node.arg.num)] if oracle.after(node.arg.num) else None), None
    if name in ("Sha256", "Hash256", "Ripemd160", "Hash160"):
        h = bytes(node.arg.raw)
        p = oracle.preimage(name.lower(), h)
        if p is None:
            return None, [b"\x00" * 32]
        mark = _PreimageMark(name.lower(), 0)
        mark.hash = h
        return [p, mark], [b"\x00" * 32]
    if name == "AndV":
        (sx, _dx), (sy, dy) = sd(node.args[0]), sd(node.args[1])
        return _cat(sy, sx), _cat(dy, sx)
    if name == "AndB":
        (sx, dx), (sy, dy) = sd(node.args[0]), sd(node.args[1])
        return _cat(sy, sx), _cat(dy, dx)
    if name == "AndN":
        (sx, dx), (sy, _dy) = sd(node.args[0]), sd(node.args[1])
        return _cat(sy, sx), dx
    if name == "AndOr":
        (sx, dx), (sy, _dy), (sz, dz) = sd(node.args[0]), sd(node.args[1]), sd(node.args[2])
        return best(_cat(sy, sx), _cat(sz, dx)), _cat(dz, dx)
    if name == "OrB":
        (sx, dx), (sz, dz) = sd(node.args[0]), sd(node.args[1])
        return best(_cat(dz, sx), _cat(sz, dx)), _cat(dz, dx)
    if name == "OrC":
        (sx, dx), (sz, _dz) = sd(node.args[0]), sd(node.args[1])
        return best(sx, _cat(sz, dx)), None
    if name == "OrD":
        (sx, dx), (sz, dz) = sd(node.args[0]), sd(node.args[1])
        return best(sx, _cat(sz, dx)), _cat(dz, dx)
    if name == "OrI":
        (sx, dx), (sz, dz) = sd(node.args[0]), sd(node.args[1])
        return best(_cat(sx, [ONE]), _cat(sz, [ZERO])), best(_cat(dx, [ONE]), _cat(dz, [ZERO]))
    if name == "Thresh":
        return _thresh(node.args[0].num, [sd(c) for c in node.args[1:]], maximize)
    if name in ("Multi", "Sortedmulti"):
        k = node.args[0].num
        keys = [p for p in _pushes(bytes(node.compile())) if len(p) == 33]  # in script order
        sigs = [s for s in (oracle.sig(key) for key in keys) if s is not None]
        sat = [ZERO, *sigs[:k]] if len(sigs) >= k else None
        return sat, [ZERO] * (k + 1)
    if name in ("MultiA", "SortedmultiA"):
        k = node.args[0].num
        keys = [p for p in _pushes(bytes(node.compile())) if len(p) == 32]  # k1 first: its item is on top
        items: Witness = []
        count = 0
        for key in keys:
            s = oracle.sig(key) if count < k else None
            if s is not None:
                count += 1
            items.append(s if s is not None else ZERO)
        return (list(reversed(items)) if count == k else None), [ZERO] * len(keys)
    if name in ("A", "S", "C", "N"):
        return sd(node.arg)
    if name == "D":
        sx, _dx = sd(node.arg)
        return _cat(sx, [ONE]), [ZERO]
    if name in ("V", "T"):
        sx, _dx = sd(node.arg)
        return sx, None
    if name == "J":
        sx, _dx = sd(node.arg)
        return sx, [ZERO]
    if name == "L":
        sx, _dx = sd(node.arg)
        return _cat(sx, [ZERO]), [ONE]
    if name == "U":
        sx, _dx = sd(node.arg)
        return _cat(sx, [ONE]), [ZERO]
    raise ValueError(f"miniscript fragment {getattr(node, 'NAME', name)} is not supported")


def _thresh(k: int, subs: list[tuple[Sat, Sat]], maximize: bool) -> tuple[Sat, Sat]:
    """thresh(k, X1..Xn): exactly k satisfied, the others dissatisfied; Xn's items at the bottom."""
    dsat = _cat(*[d for _s, d in reversed(subs)])
    forced = [i for i, (_s, d) in enumerate(subs) if d is None]
    if len(forced) > k or any(subs[i][0] is None for i in forced):
        return None, dsat
    free = [i for i, (s, d) in enumerate(subs) if s is not None and d is not None]
    need = k - len(forced)
    if need > len(free):
        return None, dsat
    free.sort(key=lambda i: witness_size(subs[i][0] or []) - witness_size(subs[i][1] or []), reverse=maximize)
    chosen = set(forced) | set(free[:need])
    parts = [subs[i][0] if i in chosen else subs[i][1] for i in reversed(range(len(subs)))]
    return _cat(*parts), dsat
