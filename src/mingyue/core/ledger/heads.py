"""Signed tree heads kept outside the database: the heads file and the optional witness.

A head is a ledger checkpoint (tree size, RFC 6962 Merkle root, time) signed with the platform's
Ed25519 key. Besides its row in ``core_audit_checkpoint``, every head is appended (fsync'd) to
``data_dir/ledger/heads.jsonl`` and, when ``MINGYUE_LEDGER_WITNESS_URL`` is set, POSTed to a
witness. Whoever cuts the ledger's tail in the database (dropping the append-only triggers and the
checkpoint rows too) still leaves a signed head that names the missing entries (GitHub issue 12,
item 7; docs/security.md, "Ledger").
"""

from __future__ import annotations

import base64
import fcntl
import ipaddress
import json
import logging
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.exceptions import InvalidSignature

from mingyue.core.config import Settings
from mingyue.core.ledger import keys

log = logging.getLogger(__name__)

# A head is signed at least this often while entries are written (the detection window).
HEAD_INTERVAL_S = 60
HEAD_TYPE = "mingyue-ledger-head"
_WITNESS_TIMEOUT_S = 5.0
_file_lock = threading.Lock()


def checkpoint_message(tree_size: int, root_hex: str, time: str) -> bytes:
    """Return the bytes a checkpoint signature covers (canonical JSON)."""
    body = {
        "type": "mingyue-ledger-checkpoint",
        "tree_size": tree_size,
        "root": root_hex,
        "time": time,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class SignedHead:
    """One signed tree head as it is kept outside the database."""

    tree_size: int
    root: str
    time: str
    key_id: str
    public_key: str
    signature: str
    type: str = HEAD_TYPE

    def to_dict(self) -> dict[str, Any]:
        """Return the head as plain data (one line of the heads file)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignedHead:
        """Parse a head; ValueError when a field is missing or of the wrong type."""
        if data.get("type") != HEAD_TYPE:
            raise ValueError(f"not a {HEAD_TYPE}")
        try:
            head = cls(
                tree_size=int(data["tree_size"]),
                root=str(data["root"]),
                time=str(data["time"]),
                key_id=str(data["key_id"]),
                public_key=str(data["public_key"]),
                signature=str(data["signature"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed head: {exc}") from exc
        if head.tree_size < 1:
            raise ValueError("tree_size must be positive")
        return head

    def signature_valid(self, public_key_b64: str) -> bool:
        """Tell whether the head's signature verifies with this public key."""
        try:
            keys.load_public(public_key_b64).verify(
                base64.b64decode(self.signature, validate=True),
                checkpoint_message(self.tree_size, self.root, self.time),
            )
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass
class HeadsFile:
    """What the heads file holds: heads that verify with the platform key, and refused lines."""

    path: Path
    heads: list[SignedHead] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def heads_path(settings: Settings) -> Path:
    """Return the heads file of this data dir."""
    return settings.data_dir / "ledger" / "heads.jsonl"


def append_head(settings: Settings, head: SignedHead) -> Path:
    """Append one head to the heads file and fsync it (the file is only ever appended to)."""
    path = heads_path(settings)
    created = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(head.to_dict(), sort_keys=True, separators=(",", ":")) + "\n").encode()
    with _file_lock:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # other processes on this data dir append too
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
    if created:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def read_heads(settings: Settings, public_key_b64: str) -> HeadsFile:
    """Read the heads file; keep heads signed by the platform key, name every other line."""
    path = heads_path(settings)
    out = HeadsFile(path)
    if not path.exists():
        return out
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    platform_id = keys.key_id(public_key_b64)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        torn = number == len(lines) and not raw.endswith(b"\n")
        try:
            head = SignedHead.from_dict(json.loads(line))
        except (ValueError, AttributeError) as exc:
            if torn:  # a crash half-way through the last append: that head never counted
                log.warning("%s: ignoring a torn last line", path)
                continue
            out.refused.append(f"{path.name} line {number}: not a signed head ({exc})")
            continue
        if not head.signature_valid(public_key_b64):
            out.refused.append(
                f"{path.name} line {number}: head at seq {head.tree_size} does not verify with "
                f"the platform key {platform_id} (forged head refused)"
            )
            continue
        out.heads.append(head)
    return out


def witness_url(settings: Settings) -> str | None:
    """Return the configured witness URL when it is acceptable (https, or http to loopback)."""
    url = settings.ledger_witness_url
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.username or parts.password or not host:
        log.error("ledger witness URL refused: it must name a host and carry no credentials")
        return None
    if parts.scheme == "https":
        return url
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme == "http" and loopback:
        return url
    log.error("ledger witness URL refused: only https (or http to a loopback address)")
    return None


def post_to_witness(url: str, head: SignedHead) -> bool:
    """POST one head to the witness; log and return False on any failure (never raise)."""
    try:
        # Only the configured host: a redirect elsewhere is not followed.
        r = httpx.post(url, json=head.to_dict(), timeout=_WITNESS_TIMEOUT_S, follow_redirects=False)
        if r.status_code >= 300:
            log.warning("ledger witness %s answered %s", url, r.status_code)
            return False
    except httpx.HTTPError as exc:
        log.warning("ledger witness %s unreachable: %s", url, exc)
        return False
    return True


def publish(settings: Settings, head: SignedHead) -> None:
    """Keep a committed head outside the database: the heads file, then the witness (async)."""
    try:
        append_head(settings, head)
    except OSError:
        log.exception(
            "could not append the ledger head at seq %s to the heads file", head.tree_size
        )
    url = witness_url(settings)
    if url:
        threading.Thread(
            target=post_to_witness, args=(url, head), name="ledger-witness", daemon=True
        ).start()
