"""The audit ledger (存证): append-only, hash-chained, with signed Merkle checkpoints.

To add an audit event: 1. add ``"<key>.<thing>.<verb>": "what happened"`` to your Enabler's
``audit_events``; 2. call ``uow.audit("<key>.<thing>.<verb>", subject, payload)`` in the service,
inside the unit of work that makes the change; 3. a duplicate or unregistered name raises.

Entry hash = SHA-256 over canonical JSON of (seq, time, actor, organization, action, subject,
payload hash, previous hash). Checkpoints sign the RFC 6962 Merkle root of entries 1..N with the
platform's Ed25519 key; an inclusion proof checks with the public key alone.

The chain is unkeyed, so whoever can write the database could cut its tail and leave a valid
chain. A signed head is therefore made automatically: by the commit that finds the newest head
``HEAD_INTERVAL_S`` old, by the job runners' tick, and when serve/worker stop; each head is also
kept outside the database (``heads``), and ``verify_chain`` checks the entries against every head
it finds (docs/security.md, "Ledger").
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from sqlalchemy import JSON, BigInteger, Integer, String, Text, event, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from mingyue.core.config import Settings
from mingyue.core.db import Base, system_session, unavailable_reason, utcnow
from mingyue.core.ledger import heads, keys
from mingyue.core.ledger.heads import HEAD_INTERVAL_S, SignedHead
from mingyue.core.registries import PendingEntry
from mingyue.core.registries import events as events
from mingyue.core.registries import known_event as known_event
from mingyue.core.registries import register_event as register_event

GENESIS = "0" * 64
log = logging.getLogger(__name__)


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
    _auto_head(session, settings)


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


_checkpoint_message = heads.checkpoint_message


def prefix_roots(leaves: Sequence[bytes], sizes: Iterable[int]) -> dict[int, bytes]:
    """Return the Merkle tree hash of the first k leaves for every k in ``sizes``, in one pass.

    The RFC 6962 tree of k leaves is its perfect subtrees (the binary digits of k), left to right,
    folded from the right; keeping them on a stack costs O(n + len(sizes) * log n) in all.
    """
    want = sorted({k for k in sizes if 0 <= k <= len(leaves)})
    out: dict[int, bytes] = {}
    if want and want[0] == 0:
        out[0] = merkle_root([])
        want = want[1:]
    stack: list[tuple[int, bytes]] = []
    wi = 0
    for i, leaf in enumerate(leaves, start=1):
        if wi >= len(want):
            break
        height, node = 0, leaf
        while stack and stack[-1][0] == height:
            node = _node(stack.pop()[1], node)
            height += 1
        stack.append((height, node))
        if want[wi] == i:
            root = stack[-1][1]
            for _, left in reversed(stack[:-1]):
                root = _node(left, root)
            out[i] = root
            wi += 1
    return out


# --- verification -----------------------------------------------------------------------------


@dataclass
class VerifyReport:
    """Outcome of a full ledger verification."""

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str = ""
    checkpoints_checked: int = 0
    heads_checked: int = 0
    # "chain", "checkpoint", "truncated", "rewritten" or "forged_head" when not ok
    problem: str = ""
    latest_head: dict[str, Any] | None = None
    refused_heads: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain data."""
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
            "checkpoints_checked": self.checkpoints_checked,
            "heads_checked": self.heads_checked,
            "problem": self.problem,
            "latest_head": self.latest_head,
            "refused_heads": list(self.refused_heads),
        }


def _all_entries(session: Session) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def _chain_error(
    rows: Sequence[AuditEntry], progress: Callable[[int, int], None] | None
) -> VerifyReport | None:
    prev = GENESIS
    for expected, e in enumerate(rows, start=1):
        if progress is not None and (expected % 1000 == 0 or expected == len(rows)):
            progress(expected, len(rows))
        bad = ""
        if e.seq != expected:
            return VerifyReport(
                False,
                len(rows),
                expected,
                f"entry {expected} is missing (found {e.seq} in its place)",
                problem="chain",
            )
        if sha256_hex(canonical(e.payload)) != e.payload_hash:
            bad = "payload does not match its hash"
        elif e.prev_hash != prev:
            bad = "previous-hash link is broken"
        elif compute_entry_hash(_fields_of(e)) != e.entry_hash:
            bad = "entry fields do not match its hash"
        if bad:
            return VerifyReport(False, len(rows), e.seq, bad, problem="chain")
        prev = e.entry_hash
    return None


def _fields_of(e: AuditEntry) -> dict[str, Any]:
    return entry_fields(
        e.seq, e.time, e.actor, e.organization_id, e.action, e.subject, e.payload_hash, e.prev_hash
    )


@dataclass(frozen=True)
class _Head:
    tree_size: int
    root: str
    time: str
    source: str

    def out(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "time": self.time, "source": self.source}


def verify_chain(
    session: Session,
    progress: Callable[[int, int], None] | None = None,
    *,
    settings: Settings | None = None,
) -> VerifyReport:
    """Recompute every hash and link, then hold the entries against every signed head found.

    Heads come from the database's checkpoints and, given ``settings``, from the heads file
    outside the database (signed with the platform key; any other line is refused and named).
    """
    rows = _all_entries(session)
    n = len(rows)
    broken = _chain_error(rows, progress)
    if broken is not None:
        return broken
    cps = list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size)))
    found = heads.read_heads(settings, keys.public_key_b64(settings)) if settings else None
    signed = [_Head(c.tree_size, c.root, _fmt_time(c.time), "database checkpoint") for c in cps]
    signed += (
        [_Head(h.tree_size, h.root, h.time, "heads file") for h in found.heads] if found else []
    )
    latest = max(signed, key=lambda h: (h.tree_size, h.source == "heads file"), default=None)
    rep = VerifyReport(
        True,
        n,
        heads_checked=len(found.heads) if found else 0,
        latest_head=latest.out() if latest else None,
        refused_heads=list(found.refused) if found else [],
    )

    def fail(seq: int | None, reason: str, problem: str) -> VerifyReport:
        rep.ok, rep.first_bad_seq, rep.reason, rep.problem = False, seq, reason, problem
        return rep

    if latest is not None and latest.tree_size > n:
        return fail(
            n + 1,
            f"ledger TRUNCATED: head signed at seq {latest.tree_size} ({latest.time}, "
            f"{latest.source}) but the database ends at seq {n}: entries "
            f"{n + 1}–{latest.tree_size} missing",
            "truncated",
        )
    roots = prefix_roots([leaf_hash(e.entry_hash) for e in rows], {h.tree_size for h in signed})
    for cp in cps:
        if roots[cp.tree_size].hex() != cp.root:
            return fail(cp.tree_size, "checkpoint root does not match the entries", "checkpoint")
        try:
            keys.load_public(cp.public_key).verify(
                base64.b64decode(cp.signature),
                _checkpoint_message(cp.tree_size, cp.root, _fmt_time(cp.time)),
            )
        except InvalidSignature:
            return fail(cp.tree_size, "checkpoint signature is invalid", "checkpoint")
        rep.checkpoints_checked += 1
    matched = [0] + [h.tree_size for h in signed if roots[h.tree_size].hex() == h.root]
    for h in sorted(signed, key=lambda h: h.tree_size):
        if roots[h.tree_size].hex() != h.root:
            since = max(k for k in matched if k < h.tree_size) + 1
            return fail(
                since,
                f"ledger REWRITTEN: head signed at seq {h.tree_size} ({h.time}, {h.source}) does "
                f"not match the database's entries 1–{h.tree_size}: entries {since}–"
                f"{h.tree_size} were changed or replaced",
                "rewritten",
            )
    if rep.refused_heads:
        return fail(None, "ledger heads REFUSED: " + "; ".join(rep.refused_heads), "forged_head")
    return rep


# --- signed heads --------------------------------------------------------------------------------

# Per database: when the commit path next looks for a due head (platform clock), so that most
# commits skip the query.
_next_head_check: dict[str, datetime] = {}


def make_checkpoint(session: Session, settings: Settings) -> AuditCheckpoint:
    """Sign the Merkle root of every entry so far, store it, and keep it outside once committed."""
    hashes = list(session.scalars(select(AuditEntry.entry_hash).order_by(AuditEntry.seq)))
    root = merkle_root([leaf_hash(h) for h in hashes]).hex()
    now = utcnow()
    sk = keys.signing_key(settings)
    pub = keys.public_key_b64(settings)
    sig = base64.b64encode(sk.sign(_checkpoint_message(len(hashes), root, _fmt_time(now))))
    cp = AuditCheckpoint(
        tree_size=len(hashes),
        root=root,
        time=now,
        key_id=keys.key_id(pub),
        public_key=pub,
        signature=sig.decode(),
    )
    session.add(cp)
    session.flush()
    if cp.tree_size > 0:
        head = SignedHead(
            tree_size=cp.tree_size,
            root=cp.root,
            time=_fmt_time(now),
            key_id=cp.key_id,
            public_key=pub,
            signature=cp.signature,
        )
        _publish_after_commit(session, settings, head)
    _next_head_check[settings.sqlalchemy_url] = now + timedelta(seconds=HEAD_INTERVAL_S)
    return cp


def _publish_after_commit(session: Session, settings: Settings, head: SignedHead) -> None:
    # After the commit only: a head for entries that rolled back would read as a truncation.
    pending: list[tuple[Settings, SignedHead]] = session.info.setdefault("ledger_heads", [])
    if not session.info.get("ledger_heads_hooked"):
        session.info["ledger_heads_hooked"] = True
        event.listen(session, "after_commit", _publish_pending)
        event.listen(session, "after_soft_rollback", _drop_pending)
    pending.append((settings, head))


def _publish_pending(session: Session) -> None:
    for settings, head in session.info.pop("ledger_heads", []):
        heads.publish(settings, head)


def _drop_pending(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the outermost transaction rolled back
        session.info.pop("ledger_heads", None)


def checkpoint_if_due(
    session: Session, settings: Settings, *, max_age_s: float = HEAD_INTERVAL_S
) -> AuditCheckpoint | None:
    """Sign a head when entries exist beyond the newest head and it is ``max_age_s`` old.

    Runs under the chain-head lock (PostgreSQL advisory lock; SQLite's ``BEGIN IMMEDIATE``), so
    concurrent callers never sign the same head twice. ``max_age_s=0`` signs whenever new entries
    exist (shutdown).
    """
    _lock_head(session)
    size = session.scalar(select(func.max(AuditEntry.seq))) or 0
    last = session.execute(
        select(AuditCheckpoint.tree_size, AuditCheckpoint.time)
        .order_by(AuditCheckpoint.tree_size.desc(), AuditCheckpoint.id.desc())
        .limit(1)
    ).first()
    if size == 0 or (last is not None and last.tree_size >= size):
        if last is not None and last.tree_size > size:
            log.error(
                "ledger head covers %s entries but the database holds %s: not signing a "
                "shorter head (run `mingyue audit verify`)",
                last.tree_size,
                size,
            )
        return None
    since = (
        last.time
        if last is not None
        else session.scalar(select(AuditEntry.time).where(AuditEntry.seq == 1))
    )
    now = utcnow()
    age = (now - since).total_seconds() if since is not None else max_age_s
    if age < max_age_s:
        wait = min(max(max_age_s - age, 0.0), max_age_s)
        _next_head_check[settings.sqlalchemy_url] = now + timedelta(seconds=wait)
        return None
    return make_checkpoint(session, settings)


def _auto_head(session: Session, settings: Settings) -> None:
    due = _next_head_check.get(settings.sqlalchemy_url)
    now = utcnow()
    # A clock set back must not postpone the next head beyond one interval.
    if due is not None and now < due <= now + timedelta(seconds=HEAD_INTERVAL_S):
        return
    checkpoint_if_due(session, settings)


def seal_head(settings: Settings, *, force: bool = False) -> int | None:
    """Sign a head now if one is due (``force``: whenever new entries exist); return its size.

    The job runners call it on their tick and serve/worker when they stop; a failure is logged.
    """
    try:
        with system_session(settings, "ledger: sign head") as s:
            cp = checkpoint_if_due(s, settings, max_age_s=0 if force else HEAD_INTERVAL_S)
            return cp.tree_size if cp is not None else None
    except Exception as exc:
        reason = unavailable_reason(exc)
        if reason is not None:  # a database restart: the next tick signs it
            log.warning("could not sign a ledger head: database unavailable (%s)", reason)
        else:
            log.exception("could not sign a ledger head")
        return None


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
