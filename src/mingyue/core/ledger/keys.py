"""The platform's keys: the Ed25519 signing key (ledger checkpoints, credentials) and the
sealing of stored secrets (pool tokens, data-source passwords)."""

from __future__ import annotations

import base64
import errno
import fcntl
import hashlib
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mingyue.core.config import Settings, ensure_data_dir


def key_path(settings: Settings) -> Path:
    """Return where the private key lives."""
    return settings.signing_key_file or (settings.data_dir / "keys" / "platform_ed25519.pem")


def _create_once(p: Path) -> None:
    """Create the key file unless it exists: exactly one of several racing processes wins.

    The key is written in full to a private temporary file, then hard-linked into place
    (atomic, and refused when the name exists): a reader never sees a half-written key, and a
    process that lost the race drops its own key and uses the winner's.
    """
    p.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = p.with_name(f".{p.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, p)
        except FileExistsError:
            return  # another process created it first: its key is the platform's
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            _rename_under_lock(tmp, p)  # a file system without hard links
        _fsync_dir(p.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _rename_under_lock(tmp: Path, p: Path) -> None:
    with open(p.with_name(f".{p.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not p.exists():
            os.rename(tmp, p)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the link itself is done
    finally:
        os.close(fd)


@lru_cache(maxsize=8)
def _load(path: str) -> Ed25519PrivateKey:
    p = Path(path)
    if not p.exists():
        _create_once(p)
    loaded = serialization.load_pem_private_key(p.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{p} is not an Ed25519 private key")
    return loaded


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """Return the platform's private key, creating it on first use."""
    ensure_data_dir(settings)
    return _load(str(key_path(settings).resolve()))


def public_key_b64(settings: Settings) -> str:
    """Return the raw public key, base64 (what a third party needs to verify)."""
    raw = (
        signing_key(settings)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode()


def key_id(public_b64: str) -> str:
    """Return a short fingerprint of a public key."""
    return hashlib.sha256(base64.b64decode(public_b64)).hexdigest()[:16]


def load_public(public_b64: str) -> Ed25519PublicKey:
    """Load a raw base64 public key."""
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64))


def read_public_key_arg(value: str) -> str:
    """Accept a public key as base64, a PEM file, or a file holding base64; return base64."""
    p = Path(value)
    if p.exists():
        data = p.read_bytes()
        if b"BEGIN PUBLIC KEY" in data:
            pub = serialization.load_pem_public_key(data)
            if not isinstance(pub, Ed25519PublicKey):
                raise ValueError("not an Ed25519 public key")
            raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return base64.b64encode(raw).decode()
        return data.decode().strip()
    return value.strip()


# ---- stored secrets ------------------------------------------------------------------------
# Secrets the platform must use later (a compute pool's token, a data source's password) are
# sealed with Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from MINGYUE_SECRET_KEY and
# a purpose label, so one purpose's ciphertext never opens under another.


class SecretUnreadable(ValueError):
    """A sealed secret does not open with this deployment's secret key."""


def _fernet(settings: Settings, purpose: str) -> Any:
    from cryptography.fernet import Fernet

    digest = hashlib.sha256(f"mingyue.{purpose}:".encode() + settings.secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(digest.digest()))


def seal(settings: Settings, purpose: str, secret: dict[str, str]) -> str:
    """Encrypt a small mapping of secrets for storage; return the token (ASCII)."""
    return str(_fernet(settings, purpose).encrypt(json.dumps(secret).encode()).decode())


def unseal(settings: Settings, purpose: str, token: str) -> dict[str, str]:
    """Decrypt a token made by ``seal`` with the same purpose (SecretUnreadable otherwise)."""
    from cryptography.fernet import InvalidToken

    try:
        return dict(json.loads(_fernet(settings, purpose).decrypt(token.encode())))
    except InvalidToken as exc:
        raise SecretUnreadable(
            f"a sealed {purpose} secret cannot be decrypted with this secret key"
        ) from exc
