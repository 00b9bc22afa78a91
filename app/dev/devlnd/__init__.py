"""devlnd: a local gRPC server speaking LND's ``lnrpc.Lightning`` for development and tests."""

from app.dev.devlnd.node import DevLnd

__all__ = ["DevLnd"]
