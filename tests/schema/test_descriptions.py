"""The schema documents itself: every type, field, argument, input field and enum value has a
description (GraphiQL's docs and generated client types show them), money fields name their unit,
and the description catalogue (``schema/descriptions.py``) names nothing that no longer exists.

A new field without a description fails here with its name: describe it in the code
(``strawberry.field(description=...)``) or in the catalogue."""

from __future__ import annotations

from typing import Any

from graphql import get_introspection_query, graphql_sync

from app.config import Settings
from app.graphql_schema import build_schema
from schema import descriptions

BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}


def _introspection() -> dict[str, Any]:
    schema = build_schema(Settings(_env_file=None))  # type: ignore[call-arg]
    result = graphql_sync(schema._schema, get_introspection_query(descriptions=True))
    assert result.errors is None, result.errors
    assert result.data is not None
    data: dict[str, Any] = result.data["__schema"]
    return data


def _named(ref: dict[str, Any]) -> str:
    while ref.get("ofType"):
        ref = ref["ofType"]
    return str(ref["name"])


def test_every_type_field_argument_input_field_and_enum_value_is_described() -> None:
    missing: list[str] = []
    types = [t for t in _introspection()["types"] if not t["name"].startswith("__") and t["name"] not in BUILT_IN]
    assert len(types) > 100  # the whole schema, not an empty walk
    for t in types:
        if not (t["description"] or "").strip():
            missing.append(f"type {t['name']}")
        for f in t.get("fields") or []:
            if not (f["description"] or "").strip():
                missing.append(f"field {t['name']}.{f['name']}")
            for a in f.get("args") or []:
                if not (a["description"] or "").strip():
                    missing.append(f"argument {t['name']}.{f['name']}({a['name']})")
        for f in t.get("inputFields") or []:
            if not (f["description"] or "").strip():
                missing.append(f"input field {t['name']}.{f['name']}")
        for v in t.get("enumValues") or []:
            if not (v["description"] or "").strip():
                missing.append(f"enum value {t['name']}.{v['name']}")
    assert not missing, f"{len(missing)} schema elements without a description:\n" + "\n".join(missing)


def test_money_fields_name_their_unit() -> None:
    """A Sats field says sats, a MilliSats field says msat (the scalar alone is easy to misread)."""
    wrong = []
    for t in _introspection()["types"]:
        for f in (t.get("fields") or []) + (t.get("inputFields") or []):
            unit = {"Sats": "sat", "MilliSats": "msat"}.get(_named(f["type"]))
            if unit and unit not in (f["description"] or "").lower():
                wrong.append(f"{t['name']}.{f['name']}: {f['description']!r}")
    assert not wrong, "\n".join(wrong)


def test_the_catalogue_names_only_what_exists() -> None:
    schema = build_schema(Settings(_env_file=None))  # type: ignore[call-arg]
    assert descriptions.stale_entries(schema._schema) == []
