"""Custom scalars of the contract: ``Sats`` (exact integer sats as a JSON number) and
``MilliSats`` (decimal digits in a JSON string). ``Decimal`` and ``DateTime`` are
Strawberry's built-ins (string and ISO-8601)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

MAX_SATS = 21_000_000 * 100_000_000


def _serialize_sats(value: int) -> int:
    return int(value)


def _parse_sats(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("Sats must be an integer number of satoshis")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("Sats must be a whole number of satoshis (no fractions)")
        value = int(value)
    if isinstance(value, str):
        if not value.lstrip("-").isdigit():
            raise ValueError("Sats must be an integer number of satoshis")
        value = int(value)
    if abs(value) > MAX_SATS:
        raise ValueError("Sats is larger than 21 million BTC")
    return value


def _parse_msats(value: object) -> int:
    if not isinstance(value, str) or not value.lstrip("-").isdigit():
        raise ValueError("MilliSats must be a string of decimal digits")
    if len(value) > 20 or abs(int(value)) > MAX_SATS * 1000:  # length first: no huge int() parse
        raise ValueError("MilliSats is larger than 21 million BTC")
    return int(value)


if TYPE_CHECKING:  # plain ints to the type checker; distinct scalars to Strawberry
    Sats = int
    MilliSats = int
else:
    Sats = NewType("Sats", int)
    MilliSats = NewType("MilliSats", int)

# Registered on the schema through ``StrawberryConfig.scalar_map`` (see ``app/graphql_schema.py``).
SCALAR_MAP: dict[object, ScalarDefinition] = {
    Sats: strawberry.scalar(
        name="Sats",
        description="An exact amount of satoshis as a JSON integer (never 32-bit Int).",
        serialize=_serialize_sats,
        parse_value=_parse_sats,
    ),
    MilliSats: strawberry.scalar(
        name="MilliSats",
        description="An exact amount of millisatoshis as a string of decimal digits.",
        serialize=lambda v: str(int(v)),
        parse_value=_parse_msats,
    ),
}
