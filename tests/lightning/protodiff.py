"""Compiles LND ``.proto`` files with grpcio-tools (a test dependency) into an isolated pool."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool

HERE = Path(__file__).parent
VENDORED = HERE.parent.parent / "app" / "lightning" / "_vendor" / "lnd" / "proto"
V0_17 = HERE / "lnd_protos" / "v0.17.0-beta"


def compile_set(proto_dir: Path) -> descriptor_pb2.FileDescriptorSet:
    """``lightning.proto`` + ``router.proto`` of ``proto_dir`` as a FileDescriptorSet (real protoc)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_dir}", f"--descriptor_set_out={out}",
             "--include_imports", "lightning.proto", "router.proto"],
            check=True, capture_output=True,
        )
        fds = descriptor_pb2.FileDescriptorSet()
        fds.ParseFromString(out.read_bytes())
        return fds


def pool_of(proto_dir: Path) -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for f in compile_set(proto_dir).file:
        pool.Add(f)
    return pool
