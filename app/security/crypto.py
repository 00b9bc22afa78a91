"""Field encryption for secrets at rest (xpubs, descriptors, macaroons, TOTP seeds).

AES-256-GCM with a random 96-bit nonce. The stored form is
``v1.<key id>.<base64url(nonce || ciphertext)>``: the key id beside each ciphertext lets
operators rotate keys (new key in ``MBF_SECRET_KEY``, old ones in ``MBF_OLD_SECRET_KEYS``).
An optional ``aad`` binds a ciphertext to its row (e.g. the owner id) so it cannot be
copied onto another row.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.config import ConfigError, Settings

_PREFIX = "v1"
KEY_FILE_NAME = "secret.key"


class DecryptionError(Exception):
    """The ciphertext was tampered with, or was written with a key we no longer have."""


def _derive(material: str) -> bytes:
    """Accept 32 raw bytes in base64/hex, or any passphrase (stretched with SHA-256)."""
    raw = material.strip()
    for decode in (bytes.fromhex, lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))):
        try:
            key = decode(raw)
        except ValueError:
            continue
        if len(key) == 32:
            return key
    return hashlib.sha256(raw.encode()).digest()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"mbf-key-id" + key).hexdigest()[:8]


class Keyring:
    """The current key (encrypts) plus retired keys (decrypt only)."""

    def __init__(self, current: bytes, retired: list[bytes] | None = None) -> None:
        if len(current) != 32:
            raise ValueError("AES-256 keys are 32 bytes")
        self._current_id = _key_id(current)
        self._subkey_root = hashlib.sha256(b"mbf-subkey-root" + current).digest()
        self._keys = {self._current_id: AESGCM(current)}
        for key in retired or []:
            self._keys.setdefault(_key_id(key), AESGCM(key))

    @property
    def current_key_id(self) -> str:
        return self._current_id

    def encrypt(self, plaintext: str | bytes, aad: str = "") -> str:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        nonce = os.urandom(12)
        ct = self._keys[self._current_id].encrypt(nonce, data, aad.encode())
        blob = base64.urlsafe_b64encode(nonce + ct).decode().rstrip("=")
        return f"{_PREFIX}.{self._current_id}.{blob}"

    def decrypt_bytes(self, token: str, aad: str = "") -> bytes:
        try:
            prefix, kid, blob = token.split(".", 2)
        except ValueError:
            raise DecryptionError("not an encrypted value") from None
        if prefix != _PREFIX or kid not in self._keys:
            raise DecryptionError(f"no key with id {kid} (was MBF_SECRET_KEY changed without MBF_OLD_SECRET_KEYS?)")
        raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        try:
            return self._keys[kid].decrypt(raw[:12], raw[12:], aad.encode())
        except InvalidTag:
            raise DecryptionError("ciphertext failed authentication") from None

    def decrypt(self, token: str, aad: str = "") -> str:
        return self.decrypt_bytes(token, aad).decode()

    def subkey(self, purpose: str) -> bytes:
        """A 32-byte key for ``purpose`` (e.g. an HMAC for blind indexes), derived from the current key."""
        return hmac.new(self._subkey_root, purpose.encode(), hashlib.sha256).digest()

    def needs_rotation(self, token: str) -> bool:
        return token.split(".", 2)[1:2] != [self._current_id]

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        """Key from MBF_SECRET_KEY, MBF_SECRET_KEY_FILE, or generated once into the data directory."""
        if settings.secret_key is not None:
            material = settings.secret_key.get_secret_value()
        elif settings.secret_key_file is not None:
            try:
                material = settings.secret_key_file.read_text()
            except OSError as exc:
                raise ConfigError(
                    f"MBF_SECRET_KEY_FILE: cannot read {settings.secret_key_file}: {exc.strerror}"
                ) from exc
        else:
            material = _load_or_create_key_file(settings.data_dir / KEY_FILE_NAME)
        retired = [_derive(k.get_secret_value()) for k in settings.old_secret_keys]
        return cls(_derive(material), retired)


def _load_or_create_key_file(path: Path) -> str:
    if path.exists():
        return path.read_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    material = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(material)
    return material
