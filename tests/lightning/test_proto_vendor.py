"""The vendored LND definitions: their source recorded, and light at runtime."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from app.lightning._vendor import lnd
from app.lightning.proto import PROTO_LND_VERSION, ln, router

REPL_AND_CODEGEN = {"ptpython", "jedi", "prompt-toolkit", "grpcio-tools", "lnd-grpc-client", "aiogrpc"}


def test_the_source_and_licence_are_recorded() -> None:
    """The vendored modules say where they come from and carry the licence they were shipped under."""
    vendored = Path(lnd.__file__).parent
    assert PROTO_LND_VERSION == lnd.LND_VERSION == "lnd-grpc-client 0.6.0"
    assert "Permission is hereby granted" in (vendored / "LICENSE").read_text()
    assert {"lightning.proto", "router.proto"} <= {p.name for p in (vendored / "proto").iterdir()}
    assert ln.DESCRIPTOR.services_by_name["Lightning"] and router.DESCRIPTOR.services_by_name["Router"]


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
