"""The vendored LND definitions (lnd-grpc-client 0.6.0 = LND 0.17) against the ones LND ships today
(npm package ``lightning`` 12.5.0, fetched by ``scripts/lnd-protos.sh``, compiled here with protoc).

What the client relies on: every field and enum value it knows keeps its number and type in the
current definitions (otherwise a newer node's bytes would be misread), and the newer additions it
handles (``app/lightning/newer.py``) are read from a current node's bytes exactly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from app.lightning import newer
from app.lightning.backups import verify
from app.lightning.client import payment_from
from app.lightning.permissions import METHOD_PERMISSIONS, ROUTER_METHODS
from app.lightning.proto import ln, router

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / ".cache" / "lnd-protos" / "12.5.0"
_F = descriptor_pb2.FieldDescriptorProto


@pytest.fixture(scope="module")
def current() -> descriptor_pool.DescriptorPool:
    """LND's current definitions in a pool of their own (their names clash with the vendored ones)."""
    if not (PROTOS / "lightning.proto").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("LND's current definitions are missing: run scripts/lnd-protos.sh (make install-test)")
        pytest.skip("LND's current definitions not fetched (scripts/lnd-protos.sh needs npm)")
    from grpc_tools import protoc

    out = PROTOS.parent / "12.5.0.pb"
    args = ["protoc", f"-I{PROTOS}", f"--descriptor_set_out={out}", "lightning.proto", "router.proto"]
    assert protoc.main(args) == 0
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for f in files.file:
        pool.Add(f)
    return pool


def _used(service: Any, methods: frozenset[str] | set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The messages and enums reachable from ``methods`` of ``service``: what the client reads and writes."""
    messages: dict[str, Any] = {}
    enums: dict[str, Any] = {}
    todo = [t for name in methods if (m := service.methods_by_name.get(name)) for t in (m.input_type, m.output_type)]
    while todo:
        msg = todo.pop()
        if msg.full_name in messages:
            continue
        messages[msg.full_name] = msg
        for field in msg.fields:
            if field.message_type is not None:
                todo.append(field.message_type)
            if field.enum_type is not None:
                enums[field.enum_type.full_name] = field.enum_type
    return messages, enums


def _client_methods() -> dict[str, set[str]]:
    """Every RPC the client calls (the permission table lists each one), by service."""
    by_service: dict[str, set[str]] = {"lnrpc.Lightning": set(), "routerrpc.Router": set()}
    for method in METHOD_PERMISSIONS:
        by_service["routerrpc.Router" if method in ROUTER_METHODS else "lnrpc.Lightning"].add(method)
    return by_service


def test_every_rpc_field_and_enum_value_the_client_uses_is_unchanged_in_current_lnd(
    current: descriptor_pool.DescriptorPool,
) -> None:
    vendored = {"lnrpc.Lightning": ln.DESCRIPTOR.services_by_name["Lightning"],
                "routerrpc.Router": router.DESCRIPTOR.services_by_name["Router"]}
    changed: list[str] = []
    checked = 0
    for service_name, methods in _client_methods().items():
        ours_service = vendored[service_name]
        theirs_service = current.FindServiceByName(service_name)
        for method in sorted(methods):
            ours, theirs = ours_service.methods_by_name.get(method), theirs_service.methods_by_name.get(method)
            assert ours is not None, f"the client calls {method}, which the vendored definitions lack"
            if theirs is None:
                changed.append(f"rpc {service_name}.{method} removed")
            elif (theirs.input_type.full_name, theirs.output_type.full_name) != (
                ours.input_type.full_name, ours.output_type.full_name
            ):
                changed.append(f"rpc {method}: types changed")
        messages, enums = _used(ours_service, methods)
        for name, msg in messages.items():
            try:
                other_msg = current.FindMessageTypeByName(name)
            except KeyError:
                changed.append(f"message {name} removed")
                continue
            for field in msg.fields:
                checked += 1
                other = other_msg.fields_by_number.get(field.number)
                if other is None:
                    continue  # retired upstream: the number stays reserved, a newer node just omits it
                if (other.name, other.type, other.is_repeated) != (field.name, field.type, field.is_repeated):
                    changed.append(f"{name}.{field.name} = {field.number}: now {other.name} type {other.type}")
        for name, enum in enums.items():
            other_enum = current.FindEnumTypeByName(name)
            for value in enum.values:
                other_value = other_enum.values_by_number.get(value.number)
                if other_value is None or other_value.name != value.name:
                    changed.append(f"{name}.{value.name} = {value.number}: now {getattr(other_value, 'name', None)}")
    assert checked > 500  # the comparison really walked the client's messages
    assert changed == []


def test_the_newer_definitions_this_client_reads_match_current_lnd(current: descriptor_pool.DescriptorPool) -> None:
    ours = newer.VerifyChanBackupResponse.DESCRIPTOR.fields_by_name["chan_points"]
    theirs = current.FindMessageTypeByName("lnrpc.VerifyChanBackupResponse").fields_by_name["chan_points"]
    assert (theirs.number, theirs.type, theirs.is_repeated) == (ours.number, ours.type, ours.is_repeated)
    status = current.FindEnumTypeByName("lnrpc.Payment.PaymentStatus").values_by_name["INITIATED"]
    assert status.number == newer.PAYMENT_STATUS_INITIATED
    # ... and they are newer than the vendored definitions (else newer.py is dead weight).
    assert "chan_points" not in ln.VerifyChanBackupResponse.DESCRIPTOR.fields_by_name
    assert "INITIATED" not in ln.Payment.PaymentStatus.DESCRIPTOR.values_by_name


def test_a_current_nodes_payment_and_backup_answers_read_right(current: descriptor_pool.DescriptorPool) -> None:
    """Bytes made with LND's current definitions, parsed by this client as they arrive off the wire."""
    Payment = message_factory.GetMessageClass(current.FindMessageTypeByName("lnrpc.Payment"))
    sent = Payment(payment_hash="ab" * 32, value_msat=21_000, fee_msat=0, status="INITIATED",
                   creation_time_ns=1_700_000_000_000_000_000)
    got = payment_from(ln.Payment.FromString(sent.SerializeToString()))
    assert (got.status, got.value_msat, got.payment_hash) == ("INITIATED", 21_000, "ab" * 32)

    Verify = message_factory.GetMessageClass(current.FindMessageTypeByName("lnrpc.VerifyChanBackupResponse"))
    answer = Verify(chan_points=["aa" * 32 + ":0", "bb" * 32 + ":1"]).SerializeToString()

    class OneAnswer:  # the transport is not under test here: the bytes a current node answers with are
        async def call(self, method: str, req: Any, **_: Any) -> Any:
            assert method == "VerifyChanBackup" and req.multi_chan_backup.multi_chan_backup == b"blob"
            return ln.VerifyChanBackupResponse.FromString(answer)

    import asyncio

    points = asyncio.run(verify(OneAnswer(), b"blob"))  # type: ignore[arg-type]
    assert points == ("aa" * 32 + ":0", "bb" * 32 + ":1")
