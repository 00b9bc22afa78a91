"""Statuses are enums: every status, state, phase or kind field of the schema is a GraphQL enum
(not a free String), each enum that stands for a service ``StrEnum`` has exactly its members, and
a stored value the service writes maps to the enum (the schema and the services cannot drift)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLEnumType, GraphQLObjectType, GraphQLScalarType, get_named_type

from app.analytics.costbasis import DisposalKind, EntryKind
from app.config import Settings
from app.graphql_schema import build_schema
from app.lightning.streams import LinkState
from app.sync.model import JobKind, Phase
from schema import enums

# Free text on purpose (docs/frontend.md, "Statuses are enums"): BIP-329 label types, audit actions,
# provider names, LND's own reason and update-type strings.
FREE_TEXT = {"Label.type", "AuditEntry.action", "ChannelOtherUpdate.kind", "OtherEvent.type"}
WORDS = ("status", "state", "phase", "kind")


def _schema() -> Any:
    return build_schema(Settings(_env_file=None))._schema  # type: ignore[call-arg]


def test_status_like_fields_are_enums() -> None:
    strings = []
    for t in _schema().type_map.values():
        if t.name.startswith("__") or not isinstance(t, GraphQLObjectType):
            continue
        for name, field in t.fields.items():
            named = get_named_type(field.type)
            key = f"{t.name}.{name}"
            status_like = any(name.lower().endswith(w) for w in WORDS) and key not in FREE_TEXT
            if status_like and isinstance(named, GraphQLScalarType):  # objects (e.g. LightningNode.status) hold enums
                strings.append(f"{key}: {named.name}")
    assert not strings, strings


def test_service_enums_and_schema_enums_are_one() -> None:
    schema = _schema()
    for graphql_name, service in {
        "SyncPhase": Phase,
        "SyncJobKind": JobKind,
        "NodeLinkState": LinkState,
        "DisposalKind": DisposalKind,
        "CostBasisEntryKind": EntryKind,
    }.items():
        t = schema.type_map[graphql_name]
        assert isinstance(t, GraphQLEnumType)
        assert {n: v.value for n, v in t.values.items()} == {m.name: m for m in service}, graphql_name
    for field, enum in {
        "SyncJob.phase": "SyncPhase",
        "SyncProgress.phase": "SyncPhase",
        "SyncJob.kind": "SyncJobKind",
        "LightningNodeStatus.state": "NodeLinkState",
        "LightningNodeStatusEvent.state": "NodeLinkState",
        "Disposal.kind": "DisposalKind",
        "PendingTransaction.kind": "CostBasisEntryKind",
    }.items():
        type_name, name = field.split(".")
        assert get_named_type(schema.type_map[type_name].fields[name].type).name == enum, field


def test_stored_values_map_to_the_enums() -> None:
    assert enums.sync_phase_of("scanning") is Phase.SCANNING and enums.sync_phase_of("rescanning") is Phase.RESCANNING
    assert enums.sync_phase_of(None) is None and enums.sync_phase_of("a later phase") is None
    assert enums.sync_job_kind_of("auto") is JobKind.AUTO
    assert enums.link_state_of("up") is LinkState.UP and enums.link_state_of(None) is LinkState.IDLE
    assert enums.link_state_of("something new") is LinkState.DOWN
