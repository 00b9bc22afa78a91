"""LND 0.17 and the vendored current release agree on every RPC and message field the client uses."""

from __future__ import annotations

from google.protobuf import descriptor

from app.lightning.permissions import METHOD_PERMISSIONS, ROUTER_METHODS
from tests.lightning.protodiff import V0_17, VENDORED, pool_of


def _messages(method: descriptor.MethodDescriptor) -> list[descriptor.Descriptor]:
    """Request and response types with every message type they contain."""
    todo, seen = [method.input_type, method.output_type], {}
    while todo:
        d = todo.pop()
        if d.full_name in seen:
            continue
        seen[d.full_name] = d
        todo += [f.message_type for f in d.fields if f.message_type is not None]
    return list(seen.values())


def test_every_rpc_used_exists_in_017_with_compatible_fields() -> None:
    new, old = pool_of(VENDORED), pool_of(V0_17)
    for name in METHOD_PERMISSIONS:
        service = "routerrpc.Router" if name in ROUTER_METHODS else "lnrpc.Lightning"
        m_new = new.FindServiceByName(service).FindMethodByName(name)
        m_old = old.FindServiceByName(service).FindMethodByName(name)
        assert m_old is not None, f"{name} missing in LND 0.17"
        assert (m_old.input_type.full_name, m_old.output_type.full_name) == (
            m_new.input_type.full_name,
            m_new.output_type.full_name,
        )
        assert (m_old.server_streaming, m_old.client_streaming) == (m_new.server_streaming, m_new.client_streaming)
        for msg in _messages(m_new):
            try:
                old_msg = old.FindMessageTypeByName(msg.full_name)
            except KeyError:
                continue  # a message only newer nodes send; unknown to 0.17, skipped on the wire
            old_fields = {f.number: f for f in old_msg.fields}
            for f in msg.fields:
                o = old_fields.get(f.number)
                if o is not None:  # the same number means the same field on both sides
                    where = f"{msg.full_name}.{f.name}"
                    assert (o.name, o.type, o.is_repeated) == (f.name, f.type, f.is_repeated), where


def test_the_differences_the_client_handles_are_real() -> None:
    new, old = pool_of(VENDORED), pool_of(V0_17)

    def values(pool: object, enum: str) -> set[str]:
        return {v.name for v in pool.FindEnumTypeByName(enum).values}  # type: ignore[attr-defined]

    assert "INITIATED" in values(new, "lnrpc.Payment.PaymentStatus") - values(old, "lnrpc.Payment.PaymentStatus")
    assert "FAILURE_REASON_CANCELED" not in values(old, "lnrpc.PaymentFailureReason")
    assert not old.FindMessageTypeByName("lnrpc.VerifyChanBackupResponse").fields
    assert [f.name for f in new.FindMessageTypeByName("lnrpc.VerifyChanBackupResponse").fields] == ["chan_points"]
