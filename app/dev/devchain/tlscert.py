"""A self-signed TLS certificate for the Electrum TLS port (generated with `cryptography`)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def generate_cert(host: str = "127.0.0.1") -> tuple[bytes, bytes]:
    """Return (cert_pem, key_pem) for a self-signed certificate valid for host/localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mbf-devchain")])
    now = dt.datetime.now(dt.UTC)
    sans: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    try:
        ip = ipaddress.ip_address(host)
        if str(ip) != "127.0.0.1":
            sans.append(x509.IPAddress(ip))
    except ValueError:
        sans.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert_pem, key_pem


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
