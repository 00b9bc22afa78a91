"""Input checks for connecting a node: each failure is a :class:`BadInput` naming its field."""

from __future__ import annotations

import ipaddress
import re

from cryptography import x509

from app.errors import BadInput
from app.lightning import macaroon as mac

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
MAX_MACAROON_HEX = 16_384


def validate_host(host: str, *, field: str = "host") -> str:
    """A DNS name or an IP literal (IPv6 with or without brackets); no scheme, port or path."""
    h = (host or "").strip()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if not h:
        raise BadInput("Give the node's host name or IP address.", field=field)
    try:
        return str(ipaddress.ip_address(h))
    except ValueError:
        pass
    if "://" in h or "/" in h or ":" in h or "@" in h:
        raise BadInput(
            f"'{host}' is not a host name or IP address; give the port separately and no scheme or path.",
            field=field,
            hint="e.g. host 'mynode.local', port 10009",
        )
    name = h.rstrip(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise BadInput(f"'{host}' is not a valid host name.", field=field)
    return name.lower()


def validate_port(port: int, *, field: str = "port") -> int:
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise BadInput(f"Port {port} is out of range; use 1..65535 (LND's gRPC default is 10009).", field=field)
    return port


def validate_tls_cert(pem: str | bytes, *, field: str = "tlsCert") -> bytes:
    """The node's ``tls.cert`` in PEM. Returns the PEM bytes (the trust root for the channel)."""
    data = pem.encode() if isinstance(pem, str) else pem
    data = data.strip() + b"\n"
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise BadInput(
            "The TLS certificate must be PEM text starting with -----BEGIN CERTIFICATE-----.",
            field=field,
            hint="Paste the content of LND's tls.cert.",
        )
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise BadInput(f"The TLS certificate could not be read: {exc}", field=field) from None
    return data


def validate_macaroon(text: str, *, field: str = "macaroon") -> mac.Macaroon:
    """Hex-encoded LND macaroon (``xxd -p -c 10000 admin.macaroon``)."""
    t = re.sub(r"\s+", "", text or "")
    if not t:
        raise BadInput("Give the macaroon as hex.", field=field)
    if len(t) > MAX_MACAROON_HEX:
        raise BadInput("The macaroon is too long.", field=field)
    if len(t) % 2 or not re.fullmatch(r"[0-9a-fA-F]+", t):
        raise BadInput(
            "The macaroon must be hexadecimal.",
            field=field,
            hint="Encode the file with: xxd -ps -u -c 1000 admin.macaroon",
        )
    try:
        m = mac.decode(bytes.fromhex(t))
        _ = m.id
    except mac.MacaroonError as exc:
        raise BadInput(f"This is not an LND macaroon: {exc}.", field=field) from None
    return m
