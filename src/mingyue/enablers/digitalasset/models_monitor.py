"""digitalasset tables (monitoring and contract audit): labels, runs, alerts, suppressions, audits.

All rows are tenant-owned: an organization (a marketplace operator, or the regulator itself)
keeps its own address labels, monitoring runs, alerts and analyst verdicts; oversight roles read
across the organizations they supervise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.sdk import Base, TenantMixin, UTCDateTime, now


class DigitalassetAddressLabel(TenantMixin, Base):
    """What an address is (exchange hot wallet, platform wallet, mixer…), who says so, how sure."""

    __tablename__ = "digitalasset_address_label"
    __table_args__ = (UniqueConstraint("organization_id", "address", "kind", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    address: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    source: Mapped[str] = mapped_column(String(200))
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    note: Mapped[str] = mapped_column(Text, default="")


class DigitalassetMonitorRun(TenantMixin, Base):
    """One pass of the detectors over an export or the chain's events."""

    __tablename__ = "digitalasset_monitor_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    events: Mapped[int] = mapped_column(Integer, default=0)
    alerts_new: Mapped[int] = mapped_column(Integer, default=0)
    alerts_seen: Mapped[int] = mapped_column(Integer, default=0)
    suppressed: Mapped[int] = mapped_column(Integer, default=0)
    inferred_hubs: Mapped[list[Any]] = mapped_column(default=list)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # An upload runs as the job ``digitalasset.monitor``: queued -> running -> done | error.
    # Runs that did their work in place (chain pulls, records) are ``done`` at once.
    status: Mapped[str] = mapped_column(
        String(20), default="done", server_default="done", index=True
    )
    job_id: Mapped[int | None] = mapped_column(default=None, index=True)
    file_id: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str] = mapped_column(Text, default="", server_default="")
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class DigitalassetAlert(TenantMixin, Base):
    """A suspicious pattern, de-duplicated by fingerprint (pattern, parties, tokens)."""

    __tablename__ = "digitalasset_alert"
    __table_args__ = (UniqueConstraint("organization_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    pattern: Mapped[str] = mapped_column(String(30), index=True)
    severity: Mapped[str] = mapped_column(String(10), index=True)
    # open -> confirmed | false_positive
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    addresses: Mapped[list[Any]] = mapped_column(default=list)
    tokens: Mapped[list[Any]] = mapped_column(default=list)
    rows: Mapped[list[Any]] = mapped_column(default=list)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    run_id: Mapped[int | None] = mapped_column(default=None, index=True)
    decided_by: Mapped[str | None] = mapped_column(String(128), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    decision_note: Mapped[str] = mapped_column(Text, default="")


class DigitalassetSuppression(TenantMixin, Base):
    """An analyst's false-positive verdict: the pattern stays silent for these parties."""

    __tablename__ = "digitalasset_suppression"
    __table_args__ = (UniqueConstraint("organization_id", "pattern", "parties"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    pattern: Mapped[str] = mapped_column(String(30))
    parties: Mapped[str] = mapped_column(String(2000))  # sorted, comma-separated, lower case
    alert_id: Mapped[int | None] = mapped_column(default=None)
    reason: Mapped[str] = mapped_column(Text, default="")


class DigitalassetContractAudit(TenantMixin, Base):
    """A contract audit job: the uploaded sources, per-file results and the SARIF log."""

    __tablename__ = "digitalasset_audit_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    file_id: Mapped[int] = mapped_column(Integer)
    job_id: Mapped[int | None] = mapped_column(default=None, index=True)
    # queued -> running -> done | error
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    files_total: Mapped[int] = mapped_column(Integer, default=0)
    files_error: Mapped[int] = mapped_column(Integer, default=0)
    findings_total: Mapped[int] = mapped_column(Integer, default=0)
    by_category: Mapped[dict[str, Any]] = mapped_column(default=dict)
    results: Mapped[list[Any]] = mapped_column(default=list)
    sarif: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class DigitalassetChainCursor(TenantMixin, Base):
    """How far the scheduled pull read a collection's events: the last block it processed."""

    __tablename__ = "digitalasset_chain_cursor"
    __table_args__ = (UniqueConstraint("chain_id", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    address: Mapped[str] = mapped_column(String(42))
    last_block: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class DigitalassetChainEvent(TenantMixin, Base):
    """A transfer or sale read from the chain: the window the detectors see across pulls."""

    __tablename__ = "digitalasset_chain_event"
    __table_args__ = (UniqueConstraint("chain_id", "tx_hash", "log_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    collection: Mapped[str] = mapped_column(String(42), index=True)
    token_id: Mapped[str] = mapped_column(String(80))
    seller: Mapped[str] = mapped_column(String(42))
    buyer: Mapped[str] = mapped_column(String(42))
    price_cny: Mapped[float | None] = mapped_column(Float, default=None)
    ts: Mapped[float] = mapped_column(Float, index=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
