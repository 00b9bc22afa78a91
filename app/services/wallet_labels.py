"""BIP-329 label files: parsing an import, and the data fields an export adds.

The BIP (https://github.com/bitcoin/bips/blob/master/bip-0329.mediawiki) is followed exactly:

- a record is a JSON object with ``type`` and ``ref``; ``label``, ``origin`` and ``spendable`` are
  optional, and an omitted ``label`` or ``spendable`` leaves the stored value as it is (a merge);
- types other than the six defined ones are skipped (and counted), as are unknown fields;
- label text is kept byte for byte (no trimming);
- the optional data fields the BIP added in 2025 (``height``, ``time``, ``fee``, ``value``,
  ``rate``, ``keypath``, ``fmv``, ``heights``) are read-only facts the exporter fills from its own
  chain data, so an import ignores them (they are not counted as unknown).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from app.bitcoin.addresses import script_from_address
from app.bitcoin.networks import Network
from app.errors import BadInput
from app.security.label_keys import contains_key_material, is_private_key

MAX_LABEL = 1000
MAX_ORIGIN = 300
MAX_LABEL_LINES = 100_000
LABEL_TYPES = ("tx", "addr", "pubkey", "input", "output", "xpub")
RECORD_FIELDS = frozenset({"type", "ref", "label", "origin", "spendable"})
DATA_FIELDS = frozenset({"height", "time", "fee", "value", "rate", "keypath", "fmv", "heights"})
TXID = re.compile(r"^[0-9a-f]{64}$")
OUTPOINT = re.compile(r"^([0-9a-f]{64}):(\d{1,6})$")
_PUBKEY = re.compile(r"^(0[23][0-9a-f]{64}|04[0-9a-f]{128}|[0-9a-f]{64})$")


@dataclass(frozen=True, slots=True)
class LabelRecord:
    """One accepted import record; ``None`` means the field was absent (keep the stored value)."""

    type: str
    ref: str
    label: str | None
    origin: str | None
    spendable: bool | None


@dataclass(frozen=True, slots=True)
class LabelImportResult:
    """What an import did: records applied, and what it skipped (counted, never an error)."""

    imported: int
    skipped_records: int  # records of a type BIP-329 does not define (e.g. a newer "spscan")
    skipped_fields: int  # unknown fields in accepted records


@dataclass(frozen=True, slots=True)
class ParsedLabels:
    records: dict[tuple[str, str], LabelRecord]
    skipped_records: int
    skipped_fields: int


def parse_label_lines(jsonl: str, network: Network) -> ParsedLabels:
    """Validate BIP-329 JSON Lines; a malformed record of a known type refuses the whole file
    (BadInput, field ``jsonl``, naming the line). Later lines win field by field for one ref."""
    records: dict[tuple[str, str], LabelRecord] = {}
    skipped_records = skipped_fields = 0
    lines = jsonl.split("\n")
    if len(lines) > MAX_LABEL_LINES:
        raise BadInput(f"At most {MAX_LABEL_LINES} labels per import.", field="jsonl")
    for n, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue

        def bad(msg: str, n: int = n) -> BadInput:
            return BadInput(f"Line {n}: {msg} Nothing was imported.", field="jsonl")

        try:
            obj = json.loads(line)
        except ValueError:
            raise bad("not valid JSON.") from None
        except RecursionError:  # deeply nested arrays/objects: refuse, never INTERNAL
            raise bad("JSON nested too deeply.") from None
        if not isinstance(obj, dict):
            raise bad("expected a JSON object.")
        type_, ref = obj.get("type"), obj.get("ref")
        if not isinstance(type_, str) or not type_:
            raise bad("every record needs a type (a string).")
        if type_ not in LABEL_TYPES:
            skipped_records += 1  # BIP-329: "importing wallets ... should ignore types not defined here"
            continue
        if not isinstance(ref, str) or not ref:
            raise bad("ref must be a non-empty string.")
        skipped_fields += sum(1 for k in obj if k not in RECORD_FIELDS and k not in DATA_FIELDS)
        label = obj.get("label")
        if label is not None:
            if not isinstance(label, str):
                raise bad("label must be a string.")
            if len(label) > MAX_LABEL:
                raise bad(f"label is longer than {MAX_LABEL} characters.")
        origin = obj.get("origin")
        if origin is not None:
            if not isinstance(origin, str) or len(origin) > MAX_ORIGIN:
                raise bad(f"origin must be a string of at most {MAX_ORIGIN} characters.")
            if contains_key_material(origin) or is_private_key(origin):
                raise bad("origin is key origin information only (no keys).")
        key_in_ref = is_private_key(ref) or (type_ != "xpub" and contains_key_material(ref))
        if contains_key_material(label or "") or key_in_ref:
            raise bad("an extended key is accepted only as the ref of an xpub record, and never a private key.")
        spendable = obj.get("spendable")
        if spendable is not None and (type_ != "output" or not isinstance(spendable, bool)):
            raise bad("spendable is a boolean, only for outputs.")
        ref = _normal_ref(type_, ref.strip(), network, bad)
        previous = records.get((type_, ref))
        if previous is not None:  # later lines win, field by field (absent fields stay)
            label = previous.label if label is None else label
            origin = previous.origin if origin is None else origin
            spendable = previous.spendable if spendable is None else spendable
        records[(type_, ref)] = LabelRecord(type_, ref, label, origin, spendable)
    return ParsedLabels(records, skipped_records, skipped_fields)


def _normal_ref(type_: str, ref: str, network: Network, bad: Any) -> str:
    low = ref.lower()
    if type_ == "tx":
        if not TXID.match(low):
            raise bad("a tx ref is a 64-character hex transaction id.")
        return low
    if type_ in ("output", "input"):
        if not OUTPOINT.match(low):
            raise bad(f"an {type_} ref is txid:index.")
        return low
    if type_ == "addr":
        try:
            script_from_address(ref, network)
        except BadInput:
            raise bad(f"{ref[:100]!r} is not an address of the {network.value} network.") from None
        return low if low.startswith(("bc1", "tb1", "bcrt1")) else ref
    if type_ == "pubkey":
        if not _PUBKEY.match(low):
            raise bad("a pubkey ref is a 32, 33 or 65-byte public key in hex.")
        return low
    if len(ref) > 200:
        raise bad("ref is too long.")
    return ref


def json_line(obj: dict[str, Any]) -> str:
    """One export line. ``Decimal`` amounts (``fmv``, ``rate``) are written as exact JSON numbers
    with 2 decimals (never through a float)."""
    numbers: list[str] = []
    cents = Decimal("0.01")
    nonce = secrets.token_hex(8)  # a marker no label can contain by chance

    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            numbers.append(str(value.quantize(cents, rounding=ROUND_HALF_EVEN)))
            return f"{nonce}:{len(numbers) - 1}"
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        return value

    text = json.dumps(mark(obj), ensure_ascii=False, separators=(",", ":"))
    return re.sub(f'"{nonce}:(\\d+)"', lambda m: numbers[int(m.group(1))], text)
