"""The vendored LND definitions: generated from the vendored ``.proto`` files, and light at runtime."""

from __future__ import annotations

import re
from importlib import metadata

from google.protobuf import descriptor_pb2
from packaging.requirements import Requirement

from app.lightning._vendor import lnd
from app.lightning.proto import PROTO_LND_VERSION, ln, router
from tests.lightning.protodiff import VENDORED, compile_set

REPL_AND_CODEGEN = {"ptpython", "jedi", "prompt-toolkit", "grpcio-tools", "lnd-grpc-client", "aiogrpc"}


def _file_proto(module: object) -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(fdp)  # type: ignore[attr-defined]
    return fdp


def _without_json_names(fdp: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    """protoc fills ``json_name`` in descriptor sets but not in generated modules; nothing else differs."""
    out = descriptor_pb2.FileDescriptorProto()
    out.CopyFrom(fdp)
    todo = list(out.message_type)
    while todo:
        msg = todo.pop()
        for field in msg.field:
            field.ClearField("json_name")
        todo.extend(msg.nested_type)
    return out


def test_generated_modules_match_the_vendored_proto_files() -> None:
    """Recompiling the committed .proto files gives exactly the committed generated modules."""
    compiled = {f.name: f for f in compile_set(VENDORED).file}
    assert _file_proto(ln) == _without_json_names(compiled["lightning.proto"])
    assert _file_proto(router) == _without_json_names(compiled["router.proto"])


def test_the_lnd_release_is_recorded() -> None:
    assert re.fullmatch(r"v0\.\d+\.\d+-beta", PROTO_LND_VERSION)
    assert (VENDORED.parent / "LND_VERSION").read_text().strip() == lnd.LND_VERSION == PROTO_LND_VERSION
    assert "Permission is hereby granted" in (VENDORED.parent / "LICENSE").read_text()


def _closure(dist: str) -> set[str]:
    """Names of every distribution the runtime install of ``dist`` pulls in (no extras)."""
    seen: set[str] = set()
    todo = [dist]
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        for spec in metadata.requires(name) or []:
            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            try:
                metadata.distribution(req.name)
            except metadata.PackageNotFoundError:
                continue
            todo.append(req.name)
    return seen


def test_runtime_dependencies_carry_no_repl_or_code_generator() -> None:
    runtime = _closure("mybitcoinfuture")
    assert {"grpcio", "protobuf"} <= runtime
    assert not runtime & REPL_AND_CODEGEN, runtime & REPL_AND_CODEGEN
