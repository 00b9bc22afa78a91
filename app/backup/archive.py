"""The encrypted archive format: a tar stream sealed in AES-256-GCM chunks.

Layout: ``MAGIC``, a 4-byte length and a JSON header (format version, how the key is derived, a
random nonce prefix), then chunks of ``4-byte length || ciphertext``. Each chunk's nonce is the
prefix plus its counter; its associated data is the header, the counter and a final-chunk flag,
so chunks cannot be reordered, dropped, or the archive truncated without failing authentication.
Streaming keeps memory flat for databases of any size; no plaintext touches the disk.

Keys: ``scrypt`` from a passphrase (the archive then carries the secret keys too, so it alone
restores everything), or derived from the server's secret key (``secret-key`` mode: the archive
is useless without that key, which must be kept elsewhere).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
from collections.abc import Iterator
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"MBF-BACKUP-1\n"
CHUNK = 1 << 20
_LEN = struct.Struct(">I")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 15, 8, 1  # 32 MiB, ~0.1 s: cheap for the owner, costly to guess


class ArchiveError(Exception):
    """Not a backup, a wrong passphrase/key, or a damaged or truncated file."""


def passphrase_header() -> dict[str, Any]:
    salt = os.urandom(16)
    return {"kdf": "scrypt", "salt": base64.b64encode(salt).decode(), "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}


def secret_key_header(key_id: str) -> dict[str, Any]:
    return {"kdf": "secret-key", "keyId": key_id}


def key_from_passphrase(header: dict[str, Any], passphrase: bytes) -> bytes:
    salt = base64.b64decode(header["salt"])
    kdf = Scrypt(salt=salt, length=32, n=int(header["n"]), r=int(header["r"]), p=int(header["p"]))
    return kdf.derive(passphrase)


def key_from_secret(secret_key: bytes) -> bytes:
    return hmac.new(secret_key, b"mbf-backup-archive-v1", hashlib.sha256).digest()


class SealingWriter:
    """A write-only file object: plaintext in, sealed chunks out (for ``tarfile.open(mode="w|")``)."""

    def __init__(self, out: IO[bytes], key: bytes, header: dict[str, Any]) -> None:
        header = {
            **header,
            "version": 1,
            "noncePrefix": base64.b64encode(os.urandom(8)).decode(),
            "keyCheck": _key_check(key),
        }
        self._header = json.dumps(header, sort_keys=True).encode()
        self._prefix = base64.b64decode(header["noncePrefix"])
        self._aead = AESGCM(key)
        self._out = out
        self._buf = bytearray()
        self._counter = 0
        self._closed = False
        out.write(MAGIC + _LEN.pack(len(self._header)) + self._header)

    def write(self, data: bytes) -> int:
        self._buf += data
        while len(self._buf) > CHUNK:
            self._seal(bytes(self._buf[:CHUNK]), final=False)
            del self._buf[:CHUNK]
        return len(data)

    def close(self) -> None:
        if not self._closed:
            self._seal(bytes(self._buf), final=True)
            self._buf.clear()
            self._closed = True

    def _seal(self, plain: bytes, *, final: bool) -> None:
        nonce = self._prefix + _LEN.pack(self._counter)
        aad = self._header + _LEN.pack(self._counter) + (b"\x01" if final else b"\x00")
        ct = self._aead.encrypt(nonce, plain, aad)
        self._out.write(_LEN.pack(len(ct)) + ct)
        self._counter += 1


def read_header(src: IO[bytes]) -> tuple[dict[str, Any], bytes]:
    if src.read(len(MAGIC)) != MAGIC:
        raise ArchiveError("not an mbf backup archive")
    raw_len = src.read(4)
    if len(raw_len) != 4:
        raise ArchiveError("the archive is truncated")
    raw = src.read(_LEN.unpack(raw_len)[0])
    try:
        header: dict[str, Any] = json.loads(raw)
    except ValueError:
        raise ArchiveError("the archive header is damaged") from None
    return header, raw


def _key_check(key: bytes) -> str:
    """Tells a wrong passphrase or key apart from a damaged archive (reveals nothing about the key)."""
    return base64.b64encode(hmac.new(key, b"mbf-backup-key-check", hashlib.sha256).digest()[:16]).decode()


class OpeningReader:
    """A read-only file object yielding the plaintext (for ``tarfile.open(mode="r|")``)."""

    def __init__(self, src: IO[bytes], key: bytes, header_raw: bytes, header: dict[str, Any]) -> None:
        if not hmac.compare_digest(str(header.get("keyCheck", "")), _key_check(key)):
            raise ArchiveError("wrong passphrase or key for this archive")
        self._chunks = self._open(src, AESGCM(key), header_raw, base64.b64decode(header["noncePrefix"]))
        self._buf = b""

    def _open(self, src: IO[bytes], aead: AESGCM, header_raw: bytes, prefix: bytes) -> Iterator[bytes]:
        counter = 0
        while True:
            raw_len = src.read(4)
            if len(raw_len) != 4:
                raise ArchiveError("the archive is truncated (no final chunk)")
            ct = src.read(_LEN.unpack(raw_len)[0])
            nonce = prefix + _LEN.pack(counter)
            for final in (False, True):
                aad = header_raw + _LEN.pack(counter) + (b"\x01" if final else b"\x00")
                try:
                    plain = aead.decrypt(nonce, ct, aad)
                except InvalidTag:
                    continue
                yield plain
                if final:
                    if src.read(1):
                        raise ArchiveError("data after the final chunk")
                    return
                break
            else:
                raise ArchiveError(f"the archive is damaged (chunk {counter} fails authentication)")
            counter += 1

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            try:
                self._buf += next(self._chunks)
            except StopIteration:
                break
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out
