"""The audit ledger (存证): append-only, hash-chained, with signed Merkle checkpoints.

To add an audit event: 1. add ``"<key>.<thing>.<verb>": "what happened"`` to your Enabler's
``audit_events``; 2. call ``uow.audit("<key>.<thing>.<verb>", subject, payload)`` in the service,
inside the unit of work that makes the change; 3. a duplicate or unregistered name raises.

Entry hash = SHA-256 over canonical JSON of (seq, time, actor, organization, action, subject,
payload hash, previous hash). Checkpoints sign the RFC 6962 Merkle root of entries 1..N with the
platform's Ed25519 key; an inclusion proof checks with the public key alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from sqlalchemy import JSON, BigInteger, Integer, String, Text, event, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from mingyue.core.config import Settings
from mingyue.core.db import Base, utcnow
from mingyue.core.ledger import keys
from mingyue.core.registries import PendingEntry
from mingyue.core.registries import events as events
from mingyue.core.registries import known_event as known_event
from mingyue.core.registries import register_event as register_event

GENESIS = "0" * 64


class AuditEntry(Base):
    """One ledger entry. The table refuses UPDATE and DELETE (triggers)."""

    __tablename__ = "core_audit_entry"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    time: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(120))
    organization_id: Mapped[int | None] = mapped_column(nullable=True, index=True)
    action: Mapped[str] = mapped_column(String(120), index=True)
    subject: Mapped[str] = mapped_column(String(200), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload_hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed Merkle root over entries 1..tree_size."""

    __tablename__ = "core_audit_checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    tree_size: Mapped[int] = mapped_column(index=True)
    root: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime] = mapped_column(default=utcnow)
    key_id: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)


_NO_CHANGE_SQLITE = [
    "CREATE TRIGGER IF NOT EXISTS core_audit_entry_no_update BEFORE UPDATE ON core_audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'audit ledger is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS core_audit_entry_no_delete BEFORE DELETE ON core_audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'audit ledger is append-only'); END",
]
_NO_CHANGE_PG = [
    "CREATE OR REPLACE FUNCTION core_audit_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit ledger is append-only'; END; $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS core_audit_entry_no_change ON core_audit_entry",
    "CREATE TRIGGER core_audit_entry_no_change BEFORE UPDATE OR DELETE ON core_audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION core_audit_append_only()",
]


def append_only_ddl(dialect: str) -> list[str]:
    """Return the statements that make the ledger table refuse UPDATE/DELETE."""
    return _NO_CHANGE_PG if dialect == "postgresql" else _NO_CHANGE_SQLITE


@event.listens_for(AuditEntry.__table__, "after_create")
def _install_triggers(target: Any, connection: Any, **kw: Any) -> None:
    for stmt in append_only_ddl(connection.dialect.name):
        connection.exec_driver_sql(stmt)


def canonical(obj: Any) -> bytes:
    """Return canonical JSON bytes (sorted keys, no spaces, UTF-8)."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def sha256_hex(data: bytes) -> str:
    """Return the SHA-256 hex digest."""
    return hashlib.sha256(data).hexdigest()


def _fmt_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_fields(
    seq: int,
    time: datetime,
    actor: str,
    organization_id: int | None,
    action: str,
    subject: str,
    payload_hash: str,
    prev_hash: str,
) -> dict[str, Any]:
    """Return the fields that the entry hash covers."""
    return {
        "seq": seq,
        "time": _fmt_time(time),
        "actor": actor,
        "organization": organization_id,
        "action": action,
        "subject": subject,
        "payload_hash": payload_hash,
        "prev_hash": prev_hash,
    }


def compute_entry_hash(fields: dict[str, Any]) -> str:
    """Return the chain hash of one entry."""
    return sha256_hex(canonical(fields))


def _lock_head(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # One appender at a time: the chain head must not fork.
        session.execute(text("SELECT pg_advisory_xact_lock(7216354001)"))


def append_pending(session: Session, pending: Sequence[PendingEntry], settings: Settings) -> None:
    """Append queued entries to the chain inside the caller's transaction."""
    session.flush()
    _lock_head(session)
    head = session.execute(
        select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    seq, prev = (head[0], head[1]) if head else (0, GENESIS)
    now = utcnow()
    for p in pending:
        seq += 1
        payload = json.loads(canonical(p.payload))
        phash = sha256_hex(canonical(payload))
        fields = entry_fields(
            seq, now, p.actor, p.organization_id, p.action, p.subject, phash, prev
        )
        ehash = compute_entry_hash(fields)
        session.add(
            AuditEntry(
                seq=seq,
                time=now,
                actor=p.actor,
                organization_id=p.organization_id,
                action=p.action,
                subject=p.subject,
                payload=payload,
                payload_hash=phash,
                prev_hash=prev,
                entry_hash=ehash,
            )
        )
        prev = ehash
    session.flush()


# --- Merkle tree (RFC 6962 / RFC 9162 shapes) ---------------------------------------------------


def leaf_hash(entry_hash_hex: str) -> bytes:
    """Return the Merkle leaf hash of an entry."""
    return hashlib.sha256(b"\x00" + bytes.fromhex(entry_hash_hex)).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_pow2_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash of leaf hashes (RFC 6962 MTH)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = _largest_pow2_below(n)
    return _node(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def inclusion_path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Return the audit path of leaf ``index`` (0-based) in the tree of ``leaves``."""
    n = len(leaves)
    if n <= 1:
        return []
    k = _largest_pow2_below(n)
    if index < k:
        return [*inclusion_path(index, leaves[:k]), merkle_root(leaves[k:])]
    return [*inclusion_path(index - k, leaves[k:]), merkle_root(leaves[:k])]


def root_from_path(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """Recompute the root from a leaf and its audit path (RFC 9162 §2.1.3.2)."""
    if index >= size:
        raise ValueError("index outside tree")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof too short")
    return r


def _checkpoint_message(tree_size: int, root_hex: str, time: str) -> bytes:
    return canonical(
        {
            "type": "mingyue-ledger-checkpoint",
            "tree_size": tree_size,
            "root": root_hex,
            "time": time,
        }
    )


# --- verification -----------------------------------------------------------------------------


@dataclass
class VerifyReport:
    """Outcome of a full ledger verification."""

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str = ""
    checkpoints_checked: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain data."""
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
            "checkpoints_checked": self.checkpoints_checked,
        }


def _all_entries(session: Session) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def verify_chain(
    session: Session, progress: Callable[[int, int], None] | None = None
) -> VerifyReport:
    """Recompute every hash and link; name the first bad sequence number."""
    rows = _all_entries(session)
    prev = GENESIS
    for expected, e in enumerate(rows, start=1):
        if progress is not None and (expected % 1000 == 0 or expected == len(rows)):
            progress(expected, len(rows))
        if e.seq != expected:
            return VerifyReport(
                False,
                len(rows),
                expected,
                f"entry {expected} is missing (found {e.seq} in its place)",
            )
        if sha256_hex(canonical(e.payload)) != e.payload_hash:
            return VerifyReport(False, len(rows), e.seq, "payload does not match its hash")
        if e.prev_hash != prev:
            return VerifyReport(False, len(rows), e.seq, "previous-hash link is broken")
        fields = entry_fields(
            e.seq,
            e.time,
            e.actor,
            e.organization_id,
            e.action,
            e.subject,
            e.payload_hash,
            e.prev_hash,
        )
        if compute_entry_hash(fields) != e.entry_hash:
            return VerifyReport(False, len(rows), e.seq, "entry fields do not match its hash")
        prev = e.entry_hash
    leaves = [leaf_hash(e.entry_hash) for e in rows]
    checked = 0
    for cp in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size)):
        if cp.tree_size > len(rows):
            return VerifyReport(
                False,
                len(rows),
                len(rows) + 1,
                f"checkpoint covers {cp.tree_size} entries but only "
                f"{len(rows)} exist (entries deleted)",
            )
        root = merkle_root(leaves[: cp.tree_size]).hex()
        if root != cp.root:
            return VerifyReport(
                False, len(rows), cp.tree_size, "checkpoint root does not match the entries"
            )
        try:
            keys.load_public(cp.public_key).verify(
                base64.b64decode(cp.signature),
                _checkpoint_message(cp.tree_size, cp.root, _fmt_time(cp.time)),
            )
        except InvalidSignature:
            return VerifyReport(False, len(rows), cp.tree_size, "checkpoint signature is invalid")
        checked += 1
    return VerifyReport(True, len(rows), None, "", checked)


def make_checkpoint(session: Session, settings: Settings) -> AuditCheckpoint:
    """Sign the Merkle root of every entry so far and store the checkpoint."""
    rows = _all_entries(session)
    root = merkle_root([leaf_hash(e.entry_hash) for e in rows]).hex()
    now = utcnow()
    sk = keys.signing_key(settings)
    pub = keys.public_key_b64(settings)
    sig = sk.sign(_checkpoint_message(len(rows), root, _fmt_time(now)))
    cp = AuditCheckpoint(
        tree_size=len(rows),
        root=root,
        time=now,
        key_id=keys.key_id(pub),
        public_key=pub,
        signature=base64.b64encode(sig).decode(),
    )
    session.add(cp)
    session.flush()
    return cp


def prove(session: Session, settings: Settings, seq: int) -> dict[str, Any]:
    """Return an inclusion proof of entry ``seq`` against a signed checkpoint."""
    rows = _all_entries(session)
    if seq < 1 or seq > len(rows):
        raise LookupError(f"no ledger entry {seq}")
    cp = session.scalars(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.tree_size >= seq)
        .order_by(AuditCheckpoint.tree_size.desc())
        .limit(1)
    ).first()
    if cp is None or cp.tree_size < len(rows):
        cp = make_checkpoint(session, settings)
    leaves = [leaf_hash(e.entry_hash) for e in rows[: cp.tree_size]]
    e = rows[seq - 1]
    path = inclusion_path(seq - 1, leaves)
    return {
        "type": "mingyue-ledger-inclusion-proof",
        "entry": {
            **entry_fields(
                e.seq,
                e.time,
                e.actor,
                e.organization_id,
                e.action,
                e.subject,
                e.payload_hash,
                e.prev_hash,
            ),
            "entry_hash": e.entry_hash,
        },
        "payload": e.payload,
        "leaf_index": seq - 1,
        "tree_size": cp.tree_size,
        "audit_path": [h.hex() for h in path],
        "checkpoint": {
            "tree_size": cp.tree_size,
            "root": cp.root,
            "time": _fmt_time(cp.time),
            "key_id": cp.key_id,
            "signature": cp.signature,
        },
    }


def check_proof(proof: dict[str, Any], public_key_b64: str) -> tuple[bool, str]:
    """Check an inclusion proof with the platform's public key alone (no database)."""
    try:
        entry = dict(proof["entry"])
        claimed_hash = entry.pop("entry_hash")
        if "payload" in proof and sha256_hex(canonical(proof["payload"])) != entry["payload_hash"]:
            return False, "payload does not match the entry's payload hash"
        if compute_entry_hash(entry) != claimed_hash:
            return False, "entry fields do not match the entry hash"
        cp = proof["checkpoint"]
        size = int(proof["tree_size"])
        if size != int(cp["tree_size"]):
            return False, "tree size differs from the checkpoint"
        root = root_from_path(
            int(proof["leaf_index"]),
            size,
            leaf_hash(claimed_hash),
            [bytes.fromhex(h) for h in proof["audit_path"]],
        )
        if root.hex() != cp["root"]:
            return False, "audit path does not lead to the checkpoint root"
        keys.load_public(public_key_b64).verify(
            base64.b64decode(cp["signature"]), _checkpoint_message(size, cp["root"], cp["time"])
        )
    except InvalidSignature:
        return False, "checkpoint signature is not valid for this public key"
    except (KeyError, ValueError, TypeError) as exc:
        return False, f"malformed proof: {exc}"
    return True, "entry is included in the signed ledger"


def entries_since(
    session: Session, after_seq: int = 0, limit: int = 100, org_ids: Iterable[int] | None = None
) -> list[AuditEntry]:
    """Return ledger entries (optionally only those of some organizations)."""
    q = select(AuditEntry).where(AuditEntry.seq > after_seq).order_by(AuditEntry.seq).limit(limit)
    if org_ids is not None:
        q = q.where(AuditEntry.organization_id.in_(list(org_ids)))
    return list(session.scalars(q))


_ = JSON  # re-exported type for enablers that want it
