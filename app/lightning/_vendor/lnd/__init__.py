"""LND's gRPC definitions (``lightning.proto``, ``router.proto``) and their generated modules, copied as
shipped in the ``lnd-grpc-client`` 0.6.0 wheel from PyPI (``lndgrpc/compiled``; MIT, see LICENSE), with
only the package path of their imports changed. Vendored so the runtime needs no LND client package
(which pulls ptpython, jedi, prompt_toolkit and grpcio-tools)."""

LND_VERSION = "lnd-grpc-client 0.6.0"
