"""A self-signed TLS certificate for the Electrum TLS port (generated with `cryptography`)."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

from app.dev.tls import self_signed_cert


def generate_cert(host: str = "127.0.0.1") -> tuple[bytes, bytes]:
    """Return (cert_pem, key_pem) for a self-signed certificate valid for host/localhost."""
    return self_signed_cert([host], common_name="mbf-devchain", days=3650)


def load_or_create(data_dir: Path | None, host: str) -> tuple[bytes, Path, Path]:
    """Cert PEM plus the cert/key file paths (kept in data_dir, else a temp dir)."""
    base = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="mbf-devchain-"))
    base.mkdir(parents=True, exist_ok=True)
    cert_path = base / "electrum-tls.crt"
    key_path = base / "electrum-tls.key"
    if not (cert_path.exists() and key_path.exists()):
        cert_pem, key_pem = generate_cert(host)
        key_path.write_bytes(key_pem)
        key_path.chmod(0o600)
        cert_path.write_bytes(cert_pem)
    return cert_path.read_bytes(), cert_path, key_path


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert_path), str(key_path))
    return ctx
