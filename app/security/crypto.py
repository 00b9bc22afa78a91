"""Field encryption for secrets at rest (xpubs, descriptors, macaroons, TOTP seeds).

AES-256-GCM with a random 96-bit nonce. The stored form is
``v1.<key id>.<base64url(nonce || ciphertext)>``: the key id beside each ciphertext lets
operators rotate keys (new key in ``MBF_SECRET_KEY``, old ones in ``MBF_OLD_SECRET_KEYS`` or in the
``secret.key.retired`` file that ``mbf secrets rotate`` keeps beside the key file).
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
RETIRED_SUFFIX = ".retired"  # one retired key per line, beside the key file (written by `mbf secrets rotate`)
PENDING_SUFFIX = ".new"  # the next key while a rotation is under way (lets a crashed rotation resume)


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

    def __init__(
        self, current: bytes, retired: list[bytes] | None = None, *, source: str = "a key given in code"
    ) -> None:
        if len(current) != 32:
            raise ValueError("AES-256 keys are 32 bytes")
        self._current = current
        self._current_id = _key_id(current)
        # Blind indexes (duplicate-wallet detection) are keyed by this root. It starts derived from the
        # current key; the key store (app/security/keystore.py) then replaces it with the database's own
        # index key, kept encrypted there, so the indexes survive a key rotation unchanged.
        self._subkey_root = legacy_index_root(current)
        self._keys = {self._current_id: AESGCM(current)}
        self._retired = [k for k in retired or [] if _key_id(k) != self._current_id]
        for key in self._retired:
            self._keys.setdefault(_key_id(key), AESGCM(key))
        self.source = source  # where the current key came from, for error messages

    @property
    def current_key(self) -> bytes:
        return self._current

    @property
    def retired_keys(self) -> list[bytes]:
        return list(self._retired)

    def use_index_root(self, root: bytes) -> None:
        """Key blind indexes with ``root`` (the database's index key) from now on."""
        if len(root) != 32:
            raise ValueError("index roots are 32 bytes")
        self._subkey_root = root

    def has_key_id(self, kid: str) -> bool:
        return kid in self._keys

    @staticmethod
    def key_id_of(token: str) -> str | None:
        parts = token.split(".", 2)
        return parts[1] if len(parts) == 3 and parts[0] == _PREFIX else None

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
        """A 32-byte key for ``purpose`` (e.g. an HMAC for blind indexes), derived from the index root."""
        return hmac.new(self._subkey_root, purpose.encode(), hashlib.sha256).digest()

    def needs_rotation(self, token: str) -> bool:
        return token.split(".", 2)[1:2] != [self._current_id]

    @classmethod
    def from_settings(cls, settings: Settings, *, create: bool = True) -> Keyring:
        """Key from MBF_SECRET_KEY, MBF_SECRET_KEY_FILE, or generated once into the data directory.

        Retired keys come from MBF_OLD_SECRET_KEYS and from ``<key file>.retired``; a pending
        rotation's key (``<key file>.new``) is accepted for decryption too, so data written by a
        rotation that crashed before swapping the key file stays readable.
        """
        path = key_file_path(settings)
        if settings.secret_key is not None:
            material = settings.secret_key.get_secret_value()
            source = "MBF_SECRET_KEY"
        elif settings.secret_key_file is not None:
            try:
                material = settings.secret_key_file.read_text()
            except OSError as exc:
                raise ConfigError(
                    f"MBF_SECRET_KEY_FILE: cannot read {settings.secret_key_file}: {exc.strerror}"
                ) from exc
            source = f"MBF_SECRET_KEY_FILE={settings.secret_key_file}"
        elif create:
            material = _load_or_create_key_file(path)
            source = f"the key file {path}"
        elif path.exists():
            material = path.read_text()
            source = f"the key file {path}"
        else:
            raise ConfigError(f"no secret key: {path} does not exist and MBF_SECRET_KEY(_FILE) is not set")
        retired = [_derive(k.get_secret_value()) for k in settings.old_secret_keys]
        retired += [_derive(line) for line in read_key_lines(retired_file_path(settings))]
        retired += [_derive(line) for line in read_key_lines(pending_file_path(settings))]
        return cls(_derive(material), retired, source=source)


def derive_key(material: str) -> bytes:
    """The 32-byte key that key material (hex, base64url or a passphrase) stands for."""
    return _derive(material)


def key_id(key: bytes) -> str:
    return _key_id(key)


def legacy_index_root(key: bytes) -> bytes:
    """The blind-index root derived from a key (used before the database had its own index key)."""
    return hashlib.sha256(b"mbf-subkey-root" + key).digest()


def key_file_path(settings: Settings) -> Path:
    """Where the current key lives (or would be written): MBF_SECRET_KEY_FILE or ``<data dir>/secret.key``."""
    return settings.secret_key_file if settings.secret_key_file is not None else settings.data_dir / KEY_FILE_NAME


def retired_file_path(settings: Settings) -> Path:
    path = key_file_path(settings)
    return path.with_name(path.name + RETIRED_SUFFIX)


def pending_file_path(settings: Settings) -> Path:
    path = key_file_path(settings)
    return path.with_name(path.name + PENDING_SUFFIX)


def read_key_lines(path: Path) -> list[str]:
    """Non-empty lines of a key file, or none if it does not exist."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


def write_secret_file(path: Path, content: str) -> None:
    """Write ``content`` to ``path`` atomically (temp file, fsync, rename), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def new_key_material() -> str:
    return secrets.token_hex(32)


def _load_or_create_key_file(path: Path) -> str:
    if path.exists():
        return path.read_text()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    material = new_key_material()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(material)
    return material
