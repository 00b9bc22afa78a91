"""Configuration, secrets at rest and log hygiene."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest
import structlog

from app.config import ConfigError, Settings, load_settings
from app.logging import configure_logging
from app.security.crypto import DecryptionError, Keyring
from tests.support.server import GraphQLClient


def test_invalid_config_lists_every_bad_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MBF_PORT", "not-a-port")
    monkeypatch.setenv("MBF_DATABASE_URL", "mysql://x")
    monkeypatch.setenv("MBF_ELECTRUM_URL", "http://x")
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None)
    text = str(err.value)
    for name in ("MBF_PORT", "MBF_DATABASE_URL", "MBF_ELECTRUM_URL"):
        assert name in text


def test_secret_from_file_and_redaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "dburl"
    secret.write_text("postgresql+asyncpg://app:hunter2@db:5432/mbf\n")
    monkeypatch.setenv("MBF_DATABASE_URL_FILE", str(secret))
    monkeypatch.setenv("MBF_SECRET_KEY", "s3cret-passphrase")
    settings = load_settings(_env_file=None)
    assert settings.effective_database_url == "postgresql+asyncpg://app:hunter2@db:5432/mbf"
    shown = json.dumps(settings.redacted())
    assert "hunter2" not in shown and "s3cret-passphrase" not in shown
    assert "app:***@db:5432" in shown


def test_per_network_chain_urls() -> None:
    s = Settings(_env_file=None, esplora_url="http://general", regtest_esplora_url="http://regtest/")  # type: ignore[call-arg]
    assert s.esplora_url_for("regtest") == "http://regtest"
    assert s.esplora_url_for("mainnet") == "http://general"
    assert Settings(_env_file=None).esplora_url_for("mainnet") == "https://blockstream.info/api"  # type: ignore[call-arg]
    assert Settings(_env_file=None).esplora_url_for("regtest") is None  # type: ignore[call-arg]


def test_encryption_binds_row_and_rotates(tmp_path: Path) -> None:
    old = Keyring(os.urandom(32))
    token = old.encrypt("zpub6r...", aad="user-1")
    assert "zpub" not in token and old.decrypt(token, aad="user-1") == "zpub6r..."
    with pytest.raises(DecryptionError):
        old.decrypt(token, aad="user-2")  # cannot be moved to another user's row
    new_key = os.urandom(32)
    rotated = Keyring(new_key, retired=[bytes(32)])  # an unrelated retired key cannot read it
    with pytest.raises(DecryptionError):
        rotated.decrypt(token, aad="user-1")


def test_key_rotation_with_old_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first = Keyring.from_settings(Settings(_env_file=None, data_dir=tmp_path, secret_key="key-one-passphrase"))  # type: ignore[call-arg]
    token = first.encrypt("macaroon-hex", aad="u")
    second = Keyring.from_settings(
        Settings(
            _env_file=None, data_dir=tmp_path, secret_key="key-two-passphrase", old_secret_keys=["key-one-passphrase"]
        )  # type: ignore[call-arg]
    )
    assert second.decrypt(token, aad="u") == "macaroon-hex" and second.needs_rotation(token)
    assert not second.needs_rotation(second.encrypt("x"))


def test_generated_key_file_is_private(tmp_path: Path) -> None:
    ring = Keyring.from_settings(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]
    key_file = tmp_path / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = Keyring.from_settings(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]
    assert again.decrypt(ring.encrypt("x")) == "x"  # same key on the next start


def test_secrets_are_redacted_from_logs() -> None:
    buf = io.StringIO()
    configure_logging("info", "json")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=buf))
    structlog.get_logger().info("login", password="hunter2hunter2", token="mbf_abc", xpub="xpub6...", user_id="u1")
    configure_logging("warning", "console")
    line = json.loads(buf.getvalue())
    assert line["user_id"] == "u1"
    assert "hunter2" not in buf.getvalue() and "mbf_abc" not in buf.getvalue() and "xpub6" not in buf.getvalue()


async def test_password_and_token_never_logged(gql: GraphQLClient, capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("debug", "json")
    try:
        token = await gql.register("logs@example.com", password="a very secret passphrase")
        await gql("{ viewer { id } }", token=token)
    finally:
        configure_logging("warning", "console")
    out, err = capfd.readouterr()
    assert "a very secret passphrase" not in out + err
    assert token not in out + err
    assert "graphql_operation" in err  # operations are logged, without variables
