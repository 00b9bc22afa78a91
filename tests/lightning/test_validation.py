from __future__ import annotations

import pytest

from app.dev.devlnd.tls import make_cert
from app.errors import BadInput
from app.lightning.validation import validate_host, validate_port, validate_tls_cert


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Node.Example.com", "node.example.com"),
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("umbrel", "umbrel"),
        ("abc.onion", "abc.onion"),
    ],
)
def test_hosts_ok(given: str, expected: str) -> None:
    assert validate_host(given) == expected


@pytest.mark.parametrize(
    "bad", ["", "https://node:10009", "node:10009", "no spaces", "-bad.example", "a/b", "x" * 300, "user@host"]
)
def test_hosts_bad(bad: str) -> None:
    with pytest.raises(BadInput) as err:
        validate_host(bad)
    assert err.value.field == "host"


@pytest.mark.parametrize("bad", [0, 65536, -1])
def test_port_bad(bad: int) -> None:
    with pytest.raises(BadInput) as err:
        validate_port(bad)
    assert err.value.field == "port"


def test_cert_ok_and_bad() -> None:
    cert, _ = make_cert()
    assert validate_tls_cert(cert.decode()).startswith(b"-----BEGIN CERTIFICATE-----")
    for bad in ("hello", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----"):
        with pytest.raises(BadInput) as err:
            validate_tls_cert(bad)
        assert err.value.field == "tlsCert"
