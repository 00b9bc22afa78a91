"""PSBT version 2 (BIP-370): validation, lock time determination and conversion to and from v0.

The server works on v0 internally (embit's model, the unsigned transaction in one place); a v2 PSBT
given to ``analyzePsbt``/``combinePsbt``/``finalizePsbt``/``broadcastTransaction`` is checked against
BIP-370's inclusion and exclusion rules on its raw key maps (embit parses v2 but does not enforce
them), its lock time is determined as the BIP says, and it is answered in v2 again. ``createPsbt``
with ``psbtVersion: 2`` exports v2 for signers that need it (PSBT_GLOBAL_TX_VERSION,
FALLBACK_LOCKTIME, INPUT/OUTPUT_COUNT, PREVIOUS_TXID/OUTPUT_INDEX/SEQUENCE, AMOUNT/SCRIPT).
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

from embit import compact
from embit.transaction import Transaction

from app.errors import BadInput

MAGIC = b"psbt\xff"
GLOBAL_UNSIGNED_TX = 0x00
GLOBAL_TX_VERSION = 0x02
GLOBAL_FALLBACK_LOCKTIME = 0x03
GLOBAL_INPUT_COUNT = 0x04
GLOBAL_OUTPUT_COUNT = 0x05
GLOBAL_TX_MODIFIABLE = 0x06
GLOBAL_VERSION = 0xFB
IN_PREVIOUS_TXID = 0x0E
IN_OUTPUT_INDEX = 0x0F
IN_SEQUENCE = 0x10
IN_REQUIRED_TIME_LOCKTIME = 0x11
IN_REQUIRED_HEIGHT_LOCKTIME = 0x12
OUT_AMOUNT = 0x03
OUT_SCRIPT = 0x04
V2_GLOBALS = (
    GLOBAL_TX_VERSION,
    GLOBAL_FALLBACK_LOCKTIME,
    GLOBAL_INPUT_COUNT,
    GLOBAL_OUTPUT_COUNT,
    GLOBAL_TX_MODIFIABLE,
)
V2_INPUTS = (IN_PREVIOUS_TXID, IN_OUTPUT_INDEX, IN_SEQUENCE, IN_REQUIRED_TIME_LOCKTIME, IN_REQUIRED_HEIGHT_LOCKTIME)
V2_OUTPUTS = (OUT_AMOUNT, OUT_SCRIPT)
LOCKTIME_THRESHOLD = 500_000_000

_NAMES = {
    (0, GLOBAL_TX_VERSION): "PSBT_GLOBAL_TX_VERSION",
    (0, GLOBAL_FALLBACK_LOCKTIME): "PSBT_GLOBAL_FALLBACK_LOCKTIME",
    (0, GLOBAL_INPUT_COUNT): "PSBT_GLOBAL_INPUT_COUNT",
    (0, GLOBAL_OUTPUT_COUNT): "PSBT_GLOBAL_OUTPUT_COUNT",
    (0, GLOBAL_TX_MODIFIABLE): "PSBT_GLOBAL_TX_MODIFIABLE",
    (1, IN_PREVIOUS_TXID): "PSBT_IN_PREVIOUS_TXID",
    (1, IN_OUTPUT_INDEX): "PSBT_IN_OUTPUT_INDEX",
    (1, IN_SEQUENCE): "PSBT_IN_SEQUENCE",
    (1, IN_REQUIRED_TIME_LOCKTIME): "PSBT_IN_REQUIRED_TIME_LOCKTIME",
    (1, IN_REQUIRED_HEIGHT_LOCKTIME): "PSBT_IN_REQUIRED_HEIGHT_LOCKTIME",
    (2, OUT_AMOUNT): "PSBT_OUT_AMOUNT",
    (2, OUT_SCRIPT): "PSBT_OUT_SCRIPT",
}


@dataclass(frozen=True, slots=True)
class V2Fields:
    """What a v2 PSBT has that its v0 form cannot hold, kept to write it back as it came."""

    globals: dict[bytes, bytes]  # PSBT_GLOBAL_TX_MODIFIABLE
    inputs: list[dict[bytes, bytes]]  # PSBT_IN_REQUIRED_TIME/HEIGHT_LOCKTIME
    fallback_locktime: int | None
    no_sequence: frozenset[int] = frozenset()  # inputs without PSBT_IN_SEQUENCE (final, 0xffffffff)


@dataclass(frozen=True, slots=True)
class RawPsbt:
    """The key maps of a PSBT as serialized (key bytes -> value bytes), before any interpretation."""

    version: int
    globals: dict[bytes, bytes]
    inputs: list[dict[bytes, bytes]]
    outputs: list[dict[bytes, bytes]]


class _Malformed(ValueError):
    pass


def _read(stream: BytesIO, n: int) -> bytes:
    b = stream.read(n)
    if len(b) != n:
        raise _Malformed("the PSBT ends early")
    return b


def _read_map(stream: BytesIO) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    while True:
        try:
            klen = compact.read_from(stream)
        except Exception:
            raise _Malformed("the PSBT ends early") from None
        if klen == 0:
            return out
        key = _read(stream, klen)
        value = _read(stream, compact.read_from(stream))
        if key in out:
            raise _Malformed("a key appears twice in one map")
        out[key] = value


def read_maps(raw: bytes) -> RawPsbt:
    """Split a serialized PSBT into its maps; ``ValueError`` when the framing is broken."""
    if not raw.startswith(MAGIC):
        raise _Malformed("no PSBT magic")
    stream = BytesIO(raw[len(MAGIC) :])
    g = _read_map(stream)
    version = int.from_bytes(g[bytes([GLOBAL_VERSION])], "little") if bytes([GLOBAL_VERSION]) in g else 0
    if version == 0:
        tx_raw = g.get(bytes([GLOBAL_UNSIGNED_TX]))
        if tx_raw is None:
            raise _Malformed("a version 0 PSBT needs PSBT_GLOBAL_UNSIGNED_TX")
        tx = Transaction.parse(tx_raw)
        n_in, n_out = len(tx.vin), len(tx.vout)
    elif version == 2:
        n_in = compact.from_bytes(g[bytes([GLOBAL_INPUT_COUNT])]) if bytes([GLOBAL_INPUT_COUNT]) in g else 0
        n_out = compact.from_bytes(g[bytes([GLOBAL_OUTPUT_COUNT])]) if bytes([GLOBAL_OUTPUT_COUNT]) in g else 0
    else:
        raise _Malformed(f"PSBT version {version} is not supported (0 and 2 are)")
    inputs = [_read_map(stream) for _ in range(n_in)]
    outputs = [_read_map(stream) for _ in range(n_out)]
    return RawPsbt(version, g, inputs, outputs)


def check(raw: RawPsbt, *, field: str = "psbt") -> None:
    """BIP-370's inclusion and exclusion rules; ``BadInput`` naming the field that breaks one."""

    def bad(msg: str) -> BadInput:
        return BadInput(f"Invalid PSBT: {msg}.", field=field, hint="BIP-370 lists which fields each PSBT version has.")

    if raw.version == 0:
        for t in V2_GLOBALS:
            if bytes([t]) in raw.globals:
                raise bad(f"a version 0 PSBT with {_NAMES[(0, t)]}")
        for n, m in enumerate(raw.inputs):
            for t in V2_INPUTS:
                if bytes([t]) in m:
                    raise bad(f"input {n} of a version 0 PSBT has {_NAMES[(1, t)]}")
        for n, m in enumerate(raw.outputs):
            for t in V2_OUTPUTS:
                if bytes([t]) in m:
                    raise bad(f"output {n} of a version 0 PSBT has {_NAMES[(2, t)]}")
        return
    if bytes([GLOBAL_UNSIGNED_TX]) in raw.globals:
        raise bad("a version 2 PSBT with PSBT_GLOBAL_UNSIGNED_TX")
    for t in (GLOBAL_INPUT_COUNT, GLOBAL_OUTPUT_COUNT, GLOBAL_TX_VERSION):
        if bytes([t]) not in raw.globals:
            raise bad(f"a version 2 PSBT without {_NAMES[(0, t)]}")
    for n, m in enumerate(raw.inputs):
        for t in (IN_PREVIOUS_TXID, IN_OUTPUT_INDEX):
            if bytes([t]) not in m:
                raise bad(f"input {n} has no {_NAMES[(1, t)]}")
        tl = m.get(bytes([IN_REQUIRED_TIME_LOCKTIME]))
        if tl is not None and int.from_bytes(tl, "little") < LOCKTIME_THRESHOLD:
            raise bad(f"input {n} has a PSBT_IN_REQUIRED_TIME_LOCKTIME below {LOCKTIME_THRESHOLD}")
        hl = m.get(bytes([IN_REQUIRED_HEIGHT_LOCKTIME]))
        if hl is not None and not 0 < int.from_bytes(hl, "little") < LOCKTIME_THRESHOLD:
            raise bad(f"input {n} has a PSBT_IN_REQUIRED_HEIGHT_LOCKTIME outside 1..{LOCKTIME_THRESHOLD - 1}")
    for n, m in enumerate(raw.outputs):
        for t in V2_OUTPUTS:
            if bytes([t]) not in m:
                raise bad(f"output {n} has no {_NAMES[(2, t)]}")


def locktime(raw: RawPsbt, *, field: str = "psbt") -> int:
    """BIP-370 "Determining Lock Time": the fallback when no input requires one, else the maximum of
    the kind every input that requires one accepts (height when both are possible)."""
    fallback = raw.globals.get(bytes([GLOBAL_FALLBACK_LOCKTIME]))
    heights: list[int] = []
    times: list[int] = []
    height_ok = time_ok = True
    for m in raw.inputs:
        h = m.get(bytes([IN_REQUIRED_HEIGHT_LOCKTIME]))
        t = m.get(bytes([IN_REQUIRED_TIME_LOCKTIME]))
        if h is None and t is None:
            continue
        if h is None:
            height_ok = False
        else:
            heights.append(int.from_bytes(h, "little"))
        if t is None:
            time_ok = False
        else:
            times.append(int.from_bytes(t, "little"))
    if not heights and not times:
        return int.from_bytes(fallback, "little") if fallback is not None else 0
    if height_ok:
        return max(heights)
    if time_ok:
        return max(times)
    raise BadInput(
        "The PSBT's lock time cannot be determined: some inputs require a block height and others a time.",
        field=field,
        hint="BIP-370: every input requiring a lock time must accept the same kind.",
    )


# v2-only keys embit leaves among the unknown ones (kept aside while the PSBT is handled as v0)
V2_ONLY_GLOBAL_KEYS = frozenset({bytes([GLOBAL_TX_MODIFIABLE])})
V2_ONLY_INPUT_KEYS = frozenset({bytes([IN_REQUIRED_TIME_LOCKTIME]), bytes([IN_REQUIRED_HEIGHT_LOCKTIME])})
