"""Compare observed traffic with declared transfers; count distinct individuals per recipient.

Counting is **exact**: every individual is a keyed hash (never the raw identifier) stored in a
SQLite table keyed by (recipient, year, kind, hash). The thresholds of 促进和规范数据跨境流动规定
Arts. 5(4), 7 and 8 are sharp (99,999 vs 100,000 individuals), and a HyperLogLog's ~1 % error at
100,000 is ±1,000 people — it cannot tell which side of the line a recipient is on. A set on disk
also makes re-processing after a crash idempotent: inserting a hash twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import re
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from mingyue.enablers.crossborder.engine.decision import load_rulebook
from mingyue.enablers.crossborder.engine.pii import Entity, PiiDetector

from .events import FlowEvent
from .geo import GeoResolver

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
DOMESTIC = frozenset({"CN", "private"})
# Which identifier stands for the person when a request carries several (strongest first).
PERSON_KEY_ORDER = (
    "CN_RESIDENT_ID",
    "CN_PASSPORT",
    "HK_MACAU_PERMIT",
    "CN_MOBILE",
    "EMAIL",
    "BANK_CARD",
    "CN_RESIDENT_ID_LIKE",
    "CN_LICENSE_PLATE",
)
_PERSON_TYPES = frozenset(PERSON_KEY_ORDER)
_CANDIDATE = re.compile(r"\d{5}|@").search
# The '&'-separated parts of a query that hold a candidate, found in one pass.
_CANDIDATE_PARTS = re.compile(r"(?:^|(?<=&))[^&]*?(?:\d{5}|@)[^&]*").findall
_CACHE_MAX = 100_000  # entries in the route memo (destinations are few)
# Entries in the per-text people memo: catches a user's repeated requests at ~5 MB; a larger memo
# bought 1 % on the 1 GB benchmark for 26 MB more.
_PEOPLE_MEMO = 20_000
_UNSEEN = object()
Route = tuple[str, str, str | None, int]  # recipient, endpoint, country, declared (1/0)


def query_texts(query: str) -> list[str]:
    """The parts of a query string worth scanning for a person identifier.

    Every person identifier holds a run of 5+ digits (plates) or an '@' (email), so a query
    without one is skipped before any pattern runs.
    """
    if "%" in query or "+" in query:
        query = unquote_plus(query)
    return _CANDIDATE_PARTS(query)


@dataclass(frozen=True)
class DeclaredTransfer:
    """A transfer the firm declared: recipient, country, endpoints, categories, legal basis."""

    id: str
    recipient: str
    country: str
    endpoints: tuple[str, ...]
    categories: tuple[str, ...] = ()
    legal_basis: str = (
        "exempt"  # the decision path: exempt | standard_contract_or_certification | …
    )
    case_ref: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeclaredTransfer:
        """Validate a mapping (raises ValueError naming the field)."""
        for name in ("id", "recipient", "country", "endpoints"):
            if not data.get(name):
                raise ValueError(f"{name}: missing required field")
        basis = data.get("legal_basis", "exempt")
        if basis not in ("exempt", "standard_contract_or_certification", "security_assessment"):
            raise ValueError(f"legal_basis: unknown path {basis!r}")
        endpoints = tuple(str(e).lower() for e in data["endpoints"])
        return cls(
            str(data["id"]),
            str(data["recipient"]),
            str(data["country"]).upper(),
            endpoints,
            tuple(data.get("categories", ())),
            basis,
            data.get("case_ref"),
        )


class EndpointIndex:
    """Match a host or IP against declared endpoints (exact host, '*.suffix', IP, CIDR)."""

    def __init__(self, transfers: Iterable[DeclaredTransfer]) -> None:
        self.hosts: dict[str, DeclaredTransfer] = {}
        self.suffixes: list[tuple[str, DeclaredTransfer]] = []
        self.networks: list[
            tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, DeclaredTransfer]
        ] = []
        for t in transfers:
            for ep in t.endpoints:
                try:
                    self.networks.append((ipaddress.ip_network(ep, strict=False), t))
                    continue
                except ValueError:
                    pass
                if ep.startswith("*."):
                    self.suffixes.append((ep[1:], t))
                else:
                    self.hosts[ep] = t
        self._cache: dict[tuple[str | None, str | None], DeclaredTransfer | None] = {}

    def match(self, host: str | None, ip: str | None) -> DeclaredTransfer | None:
        """Return the declared transfer this destination belongs to, if any."""
        key = (host, ip)
        if key in self._cache:
            return self._cache[key]
        found: DeclaredTransfer | None = None
        if host:
            found = self.hosts.get(host)
            if found is None:
                for suffix, t in self.suffixes:
                    if host.endswith(suffix) or host == suffix[1:]:
                        found = t
                        break
        if found is None and ip:
            try:
                addr = ipaddress.ip_address(ip)
                for net, t in self.networks:
                    if addr.version == net.version and addr in net:
                        found = t
                        break
            except ValueError:
                pass
        if found is None and host and not ip:
            try:  # a CONNECT to a bare IP
                return self.match(None, str(ipaddress.ip_address(host)))
            except ValueError:
                pass
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[key] = found
        return found


@dataclass
class Alert:
    """A threshold crossed or an undeclared overseas endpoint."""

    kind: str
    recipient: str
    year: int
    threshold: int
    count: int
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return {
            "kind": self.kind,
            "recipient": self.recipient,
            "year": self.year,
            "threshold": self.threshold,
            "count": self.count,
            "detail": self.detail,
        }


_SCHEMA = """
CREATE TABLE IF NOT EXISTS individuals (
  recipient TEXT NOT NULL, year INTEGER NOT NULL, kind TEXT NOT NULL, h BLOB NOT NULL,
  PRIMARY KEY (recipient, year, kind, h)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counts (
  recipient TEXT NOT NULL, year INTEGER NOT NULL, kind TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (recipient, year, kind));
CREATE TABLE IF NOT EXISTS observed (
  recipient TEXT NOT NULL, endpoint TEXT NOT NULL, country TEXT, year INTEGER NOT NULL,
  declared INTEGER NOT NULL, events INTEGER NOT NULL, bytes INTEGER NOT NULL,
  PRIMARY KEY (recipient, endpoint, year));
CREATE TABLE IF NOT EXISTS alerts (
  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, recipient TEXT NOT NULL, year INTEGER NOT NULL,
  threshold INTEGER NOT NULL, count INTEGER NOT NULL, detail TEXT NOT NULL, created REAL NOT NULL,
  handed_over INTEGER NOT NULL DEFAULT 0,
  UNIQUE (kind, recipient, year, threshold));
CREATE TABLE IF NOT EXISTS sources (
  source TEXT PRIMARY KEY, inode INTEGER, offset INTEGER NOT NULL, lines INTEGER NOT NULL,
  bad_lines INTEGER NOT NULL, events INTEGER NOT NULL, updated REAL NOT NULL);
"""


@dataclass
class Checkpoint:
    """Where a source has been read to, committed with the counts it produced."""

    source: str
    inode: int | None
    offset: int
    lines: int
    bad_lines: int
    events: int


class FlowStore:
    """The monitor's state: distinct individuals, observations, alerts and source offsets."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        cols = {row[1] for row in self.db.execute("PRAGMA table_info(alerts)")}
        if "handed_over" not in cols:  # a state file written before alerts were handed over
            self.db.execute("ALTER TABLE alerts ADD COLUMN handed_over INTEGER NOT NULL DEFAULT 1")

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def checkpoint(self, source: str) -> Checkpoint | None:
        """Return the last committed checkpoint of a source."""
        row = self.db.execute(
            "SELECT inode, offset, lines, bad_lines, events FROM sources WHERE source=?", (source,)
        ).fetchone()
        return Checkpoint(source, *row) if row else None

    def counts(self, year: int | None = None) -> dict[tuple[str, int, str], int]:
        """Distinct individuals per (recipient, year, kind)."""
        q = "SELECT recipient, year, kind, n FROM counts"
        rows = self.db.execute(q + (" WHERE year=?" if year else ""), (year,) if year else ())
        return {(r, y, k): n for r, y, k, n in rows}

    def alerts(self) -> list[Alert]:
        """All alerts raised so far, oldest first."""
        rows = self.db.execute(
            "SELECT kind, recipient, year, threshold, count, detail FROM alerts ORDER BY id"
        )
        return [Alert(k, r, y, t, c, json.loads(d)) for k, r, y, t, c, d in rows]

    def pending_alerts(self) -> list[tuple[int, Alert]]:
        """Alerts not yet handed over to the platform (as cases), with their row ids."""
        rows = self.db.execute(
            "SELECT id, kind, recipient, year, threshold, count, detail FROM alerts "
            "WHERE handed_over=0 ORDER BY id"
        )
        return [(i, Alert(k, r, y, t, c, json.loads(d))) for i, k, r, y, t, c, d in rows]

    def mark_handed_over(self, ids: Iterable[int]) -> None:
        """Record that these alerts became cases (after the platform committed them)."""
        self.db.executemany("UPDATE alerts SET handed_over=1 WHERE id=?", [(i,) for i in ids])

    def observed(self) -> list[dict[str, Any]]:
        """Observed endpoints per recipient and year (declared or not)."""
        rows = self.db.execute(
            "SELECT recipient, endpoint, country, year, declared, events, bytes FROM observed "
            "ORDER BY recipient, endpoint"
        )
        keys = ("recipient", "endpoint", "country", "year", "declared", "events", "bytes")
        return [dict(zip(keys, r, strict=True)) for r in rows]


@dataclass
class Batch:
    """What a batch of events adds, before it is committed."""

    hashes: dict[tuple[str, int, str], set[bytes]] = field(default_factory=lambda: defaultdict(set))
    observed: dict[tuple[str, str, str | None, int, int], list[int]] = field(default_factory=dict)
    undeclared: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    events: int = 0


def _ip_literal(host: str) -> str | None:
    """The address when a host is an IPv4/IPv6 literal (brackets allowed), else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


class FlowMonitor:
    """Turns events into per-recipient distinct-individual counts and alerts."""

    def __init__(
        self,
        store: FlowStore,
        transfers: Iterable[DeclaredTransfer],
        *,
        hash_key: bytes,
        geo: GeoResolver | None = None,
        detector: PiiDetector | None = None,
    ) -> None:
        if not hash_key:
            raise ValueError(
                "hash_key: a secret key is required (hashes of IDs must not be guessable)"
            )
        self.store = store
        self.transfers = list(transfers)
        self.index = EndpointIndex(self.transfers)
        self.key = hash_key
        self.geo = geo
        self.detector = detector or PiiDetector()
        th = load_rulebook().thresholds
        # (kind, threshold, alert kind): CAC 2024 Art. 8 (100,000), Art. 7(2) (1,000,000 / 10,000)
        self.thresholds = (
            ("pi", th["pi_exempt_below"], "pi_standard_contract_threshold"),
            ("pi", th["pi_assessment_from"], "pi_security_assessment_threshold"),
            ("sensitive", 1, "sensitive_standard_contract_threshold"),
            (
                "sensitive",
                th["sensitive_assessment_from"],
                "sensitive_security_assessment_threshold",
            ),
        )
        self._year_cache: dict[int, int] = {}
        self._routes: dict[tuple[str | None, str | None], Route | None] = {}
        self._people: dict[str, tuple[tuple[str, bytes], ...]] = {}
        self._proto = hashlib.blake2b(key=self.key[:64], digest_size=16)

    def year_of(self, ts: float) -> int:
        """The Shanghai calendar year of a Unix time (the year the thresholds count in)."""
        # Keyed by the Shanghai calendar day: a UTC day straddles the Shanghai new year (16:00 UTC).
        day = int((ts + 8 * 3600) // 86400)
        year = self._year_cache.get(day)
        if year is None:
            year = dt.datetime.fromtimestamp(ts, SHANGHAI).year
            self._year_cache[day] = year
        return year

    def _hash(self, ent: Entity) -> bytes:
        h = self._proto.copy()  # copying a keyed state is cheaper than keying a new one
        h.update((ent.type + ":" + ent.normalized).encode())
        return h.digest()

    def route(self, host: str | None, ip: str | None) -> Route | None:
        """Where a destination goes: (recipient, endpoint, country, declared), None if domestic."""
        key = (host, ip)
        found = self._routes.get(key, _UNSEEN)
        if found is not _UNSEEN:
            return found  # type: ignore[return-value]
        if ip is None and host:
            ip = _ip_literal(host)  # a URL to an address names its destination itself
        transfer = self.index.match(host, ip)
        endpoint = host or ip or "?"
        route: Route | None
        if transfer is not None:
            route = (transfer.recipient, endpoint, transfer.country, 1)
        else:
            country = self.geo.country(ip) if self.geo and ip else None
            # domestic or unresolvable: not a cross-border flow we can attribute
            route = (
                None
                if country is None or country in DOMESTIC
                else (f"undeclared:{endpoint}", endpoint, country, 0)
            )
        if len(self._routes) > _CACHE_MAX:
            self._routes.clear()
        self._routes[key] = route
        return route

    def people(self, text: str) -> tuple[tuple[str, bytes], ...]:
        """The (kind, keyed hash) pairs one text adds: the person key under 'pi' and/or 'sensitive'.

        Memoised per text (bounded): proxy logs repeat the same user's requests many times, and the
        answer depends on the text alone.
        """
        found = self._people.get(text)
        if found is not None:
            return found
        ents = [e for e in self.detector.patterns(text) if e.type in _PERSON_TYPES]
        out: tuple[tuple[str, bytes], ...]
        if not ents:
            out = ()
        elif len(ents) == 1:
            e = ents[0]
            h = self._proto.copy()
            h.update(f"{e.type}:{e.normalized}".encode())
            out = (("sensitive" if e.sensitive else "pi", h.digest()),)
        else:
            present = {e.type for e in ents}
            key_type = next(t for t in PERSON_KEY_ORDER if t in present)
            keys = sorted({self._hash(e) for e in ents if e.type == key_type})
            kinds = [
                k
                for k, flag in (("sensitive", True), ("pi", False))
                if any(e.sensitive is flag for e in ents)
            ]
            out = tuple((k, h) for k in kinds for h in keys)
        if len(self._people) > _PEOPLE_MEMO:
            self._people.clear()
        self._people[text] = out
        return out

    def add(self, batch: Batch, ev: FlowEvent) -> None:
        """Attribute one event to a recipient and collect the individuals it carries."""
        batch.events += 1
        route = self.route(ev.host, ev.ip)
        if route is None:
            return
        recipient, endpoint, country, declared = route
        year = self.year_of(ev.ts)
        if not declared and (endpoint, year) not in batch.undeclared:
            batch.undeclared[(endpoint, year)] = {
                "endpoint": endpoint,
                "ip": ev.ip,
                "country": country,
            }
        okey = (recipient, endpoint, country, year, declared)
        obs = batch.observed.get(okey)
        if obs is None:
            batch.observed[okey] = [1, ev.bytes_out]
        else:
            obs[0] += 1
            obs[1] += ev.bytes_out
        target = ev.target
        texts = query_texts(target[target.find("?") + 1 :]) if target and "?" in target else []
        if ev.body:
            texts.append(ev.body.decode("utf-8", errors="replace"))
        hashes = batch.hashes
        for text in texts:
            for kind, h in self.people(text):
                hashes[(recipient, year, kind)].add(h)

    def commit(self, batch: Batch, checkpoint: Checkpoint | None = None) -> list[Alert]:
        """Write a batch, its alerts and the source checkpoint in one transaction."""
        db = self.store.db
        new_alerts: list[Alert] = []
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            for (recipient, year, kind), hashes in batch.hashes.items():
                cur = db.executemany(
                    "INSERT OR IGNORE INTO individuals VALUES (?,?,?,?)",
                    # in key order: each B-tree page is visited once per batch, not once per row
                    [(recipient, year, kind, h) for h in sorted(hashes)],
                )
                added = cur.rowcount
                row = db.execute(
                    "SELECT n FROM counts WHERE recipient=? AND year=? AND kind=?",
                    (recipient, year, kind),
                ).fetchone()
                before = row[0] if row else 0
                after = before + added
                db.execute(
                    "INSERT INTO counts VALUES (?,?,?,?) ON CONFLICT DO UPDATE SET n=excluded.n",
                    (recipient, year, kind, after),
                )
                for tkind, threshold, akind in self.thresholds:
                    if tkind == kind and before < threshold <= after:
                        new_alerts.append(
                            self._threshold_alert(akind, recipient, year, threshold, after)
                        )
            for okey, (n, nbytes) in batch.observed.items():
                db.execute(
                    "INSERT INTO observed VALUES (?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET "
                    "events=events+excluded.events, bytes=bytes+excluded.bytes",
                    (*okey, n, nbytes),
                )
            for (endpoint, year), detail in batch.undeclared.items():
                new_alerts.append(
                    Alert(
                        "undeclared_overseas_endpoint", f"undeclared:{endpoint}", year, 0, 0, detail
                    )
                )
            kept = []
            for alert in new_alerts:
                cur = db.execute(
                    "INSERT OR IGNORE INTO alerts (kind, recipient, year, threshold, count, detail, "
                    "created) VALUES (?,?,?,?,?,?,?)",
                    (
                        alert.kind,
                        alert.recipient,
                        alert.year,
                        alert.threshold,
                        alert.count,
                        json.dumps(alert.detail, ensure_ascii=False),
                        now,
                    ),
                )
                if cur.rowcount:
                    kept.append(alert)
            if checkpoint is not None:
                db.execute(
                    "INSERT INTO sources VALUES (?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET "
                    "inode=excluded.inode, offset=excluded.offset, lines=excluded.lines, "
                    "bad_lines=excluded.bad_lines, events=excluded.events, updated=excluded.updated",
                    (
                        checkpoint.source,
                        checkpoint.inode,
                        checkpoint.offset,
                        checkpoint.lines,
                        checkpoint.bad_lines,
                        checkpoint.events,
                        now,
                    ),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return kept

    def _threshold_alert(
        self, akind: str, recipient: str, year: int, threshold: int, count: int
    ) -> Alert:
        declared = next((t for t in self.transfers if t.recipient == recipient), None)
        needed = (
            "security_assessment" if "assessment" in akind else "standard_contract_or_certification"
        )
        rank = {"exempt": 0, "standard_contract_or_certification": 1, "security_assessment": 2}
        covered = declared is not None and rank[declared.legal_basis] >= rank[needed]
        return Alert(
            akind,
            recipient,
            year,
            threshold,
            count,
            {
                "required_path": needed,
                "declared_basis": declared.legal_basis if declared else None,
                "covered_by_declaration": covered,
                "basis": "促进和规范数据跨境流动规定 Art. 7(2)"
                if needed == "security_assessment"
                else "促进和规范数据跨境流动规定 Art. 8",
            },
        )
