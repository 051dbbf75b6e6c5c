"""Passphrase protection of a backup: scrypt → AES-256-GCM for the keys, HMAC for the manifest.

One scrypt derivation gives three independent keys (HKDF-expanded): one encrypts the key files,
one authenticates the manifest (which holds every member's SHA-256, so the whole archive is
covered), one makes the passphrase check that tells a wrong passphrase from a tampered archive.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from mingyue.core.errors import InvalidInput, MingyueError

# scrypt at N=2^17, r=8, p=1 (128 MiB, about a second): RFC 7914 §2's interactive-use figures
# scaled to hardware of today; a manifest asking for more than the caps is refused, so a crafted
# archive cannot make restore allocate gigabytes.
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
MAX_N, MAX_R, MAX_P = 2**20, 16, 4
MIN_PASSPHRASE = 12
_AAD = b"mingyue-backup-keys/1"


class WrongPassphrase(InvalidInput):
    """The passphrase does not open this backup (CLI exit 2)."""

    def __init__(self, message: str) -> None:
        super().__init__("core.backup.wrong_passphrase", message)


class Tampered(MingyueError):
    """A part of the backup does not match what the manifest (or its MAC) says (exit 1)."""

    status = 422

    def __init__(self, message: str) -> None:
        super().__init__("core.backup.tampered", f"backup refused: {message}")


@dataclass(frozen=True)
class BackupKeys:
    """The keys derived from a passphrase and the backup's salt."""

    encrypt: bytes
    mac: bytes
    check: str


def new_kdf() -> dict[str, Any]:
    """Return fresh KDF parameters (a random salt) for a new backup."""
    salt = base64.b64encode(os.urandom(16)).decode()
    return {"name": "scrypt", "salt": salt, "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}


def derive(passphrase: bytes, kdf: dict[str, Any]) -> BackupKeys:
    """Derive the backup's keys; ValueError for parameters outside the caps."""
    try:
        name, n, r, p = kdf["name"], int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        salt = base64.b64decode(kdf["salt"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise Tampered(f"manifest: unreadable KDF parameters ({exc})") from exc
    if name != "scrypt" or not (2 <= n <= MAX_N and 1 <= r <= MAX_R and 1 <= p <= MAX_P):
        raise Tampered("manifest: KDF parameters outside the accepted range")
    if n & (n - 1) or len(salt) < 16:
        raise Tampered("manifest: KDF parameters malformed")
    master = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase)

    def expand(info: bytes) -> bytes:
        return HKDFExpand(algorithm=hashes.SHA256(), length=32, info=info).derive(master)

    check = expand(b"mingyue-backup/check")
    return BackupKeys(
        encrypt=expand(b"mingyue-backup/encrypt"),
        mac=expand(b"mingyue-backup/mac"),
        check=hashlib.sha256(check).hexdigest(),
    )


def verify_passphrase(keys: BackupKeys, expected_check: str) -> None:
    """Raise WrongPassphrase when the derived check differs from the manifest's."""
    if not hmac.compare_digest(keys.check, str(expected_check)):
        raise WrongPassphrase("wrong passphrase: it does not open this backup")


def mac(keys: BackupKeys, data: bytes) -> str:
    """Return the manifest's MAC (hex)."""
    return hmac.new(keys.mac, data, hashlib.sha256).hexdigest()


def verify_mac(keys: BackupKeys, data: bytes, given: str) -> None:
    """Raise Tampered when the manifest's MAC does not verify."""
    if not hmac.compare_digest(mac(keys, data), given.strip()):
        raise Tampered("manifest.json was altered (its MAC does not verify)")


def encrypt(keys: BackupKeys, plaintext: bytes) -> bytes:
    """Encrypt with AES-256-GCM; return nonce + ciphertext."""
    nonce = os.urandom(12)
    return nonce + AESGCM(keys.encrypt).encrypt(nonce, plaintext, _AAD)


def decrypt(keys: BackupKeys, blob: bytes) -> bytes:
    """Decrypt what ``encrypt`` made; Tampered when it does not authenticate."""
    try:
        return AESGCM(keys.encrypt).decrypt(blob[:12], blob[12:], _AAD)
    except (InvalidTag, ValueError) as exc:
        raise Tampered("keys.enc was altered (it does not authenticate)") from exc
