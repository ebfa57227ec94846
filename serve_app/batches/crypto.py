"""Encryption of batch files: a key per file, handed to the client and not kept; records sealed with AES-GCM.

A file key is 32 random bytes, shown to the client once (base64url) when it uploads a file. Every record of a
stored file (a JSONL line of the input, a result of the output) is sealed on its own, its nonce random and its
associated data naming the file and the record's place in it, so that records cannot be moved between files or
reordered unnoticed. While a batch runs, its key is kept wrapped (AES-GCM again) under a key-encryption key
derived from an operator secret that lives only in the environment (``LLMAAS_BATCH_SECRET``, else
``LLMAAS_ADMIN_TOKEN``): a restarted ingress can go on with the batch, and nothing on disk or in the database
opens it without that secret. The wrapped copy is deleted when the batch ends.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES  # a sealed record is this much longer than its plaintext
KEK_INFO = b"llmaas batch key-encryption key v1"


class KeyMismatchError(Exception):
    """The key given does not open the record: a wrong key, or a record that was tampered with."""


def new_file_key() -> bytes:
    return os.urandom(KEY_BYTES)


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode().rstrip("=")


def decode_key(text: str) -> bytes | None:
    """The key a client presents, or None if it is not one (wrong length or alphabet)."""
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == KEY_BYTES else None


def seal(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def open_sealed(key: bytes, sealed: bytes, context: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)
    except (InvalidTag, ValueError):
        raise KeyMismatchError from None


def record_context(file_id: str, index: int) -> bytes:
    return file_id.encode() + struct.pack(">Q", index)


def key_encryption_key(secret: str) -> bytes:
    """The key that wraps file keys while their batch runs, derived from the operator's secret."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=KEK_INFO).derive(secret.encode())


def wrap(kek: bytes, file_key: bytes, batch_id: str) -> bytes:
    return seal(kek, file_key, b"batch:" + batch_id.encode())


def unwrap(kek: bytes, wrapped: bytes, batch_id: str) -> bytes:
    return open_sealed(kek, wrapped, b"batch:" + batch_id.encode())
