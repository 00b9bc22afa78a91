"""PSBTs as BC-UR QR parts and back, with the API's errors (the codec is :mod:`app.spend.ur`)."""

from __future__ import annotations

import base64

from app.errors import BadInput
from app.spend import psbt as P
from app.spend.ur import URError, psbt_to_ur, ur_to_psbt

MAX_PARTS = 1000


def qr_parts(psbt: str, max_fragment_length: int = 200, parts: int | None = None) -> list[str]:
    if not 10 <= max_fragment_length <= 2000:
        raise BadInput("maxFragmentLength must be between 10 and 2000 bytes.", field="maxFragmentLength")
    if parts is not None and not 1 <= parts <= MAX_PARTS:
        raise BadInput(f"parts must be between 1 and {MAX_PARTS}.", field="parts")
    raw = P.parse_psbt(psbt).serialize()
    return psbt_to_ur(raw, max_fragment_length, parts)


def from_qr(parts: list[str]) -> str:
    if not parts or len(parts) > 10 * MAX_PARTS:
        raise BadInput("Give the scanned ur:crypto-psbt parts.", field="parts")
    try:
        raw = ur_to_psbt(parts)
    except URError as exc:
        raise BadInput(f"Not a complete ur:crypto-psbt: {exc}.", field="parts") from None
    P.parse_psbt(raw, field="parts")
    return base64.b64encode(raw).decode()
