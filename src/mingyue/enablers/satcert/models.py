"""Tables of satcert: samples, test plan versions, bench runs and their logs, result imports,
certificates (tenant-owned) and the public registry of certified terminals (reference data)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.sdk import Base, TenantMixin, now


class SatcertSample(TenantMixin, Base):
    """A terminal brought for testing (the DUT); identity read from it by the bench."""

    __tablename__ = "satcert_sample"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    manufacturer: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200), index=True)
    terminal_kind: Mapped[str] = mapped_column(String(20))  # satcom | gnss | combo
    declared_imei: Mapped[str | None] = mapped_column(String(20), default=None)
    # Read from the terminal itself by a bench run: +CGSN (IMEI), +CGMR (firmware), +CGMM.
    imei: Mapped[str | None] = mapped_column(String(20), default=None, index=True)
    firmware: Mapped[str | None] = mapped_column(String(200), default=None)
    reported_model: Mapped[str | None] = mapped_column(String(200), default=None)
    identified_at: Mapped[datetime | None] = mapped_column(default=None)
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="intake", index=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_case.id", ondelete="SET NULL"), default=None, index=True
    )


class SatcertPlan(Base):
    """One version of a test plan (the lab's, shared by every sample): its YAML as published."""

    __tablename__ = "satcert_plan"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), index=True)
    version: Mapped[str] = mapped_column(String(20))  # the plan's own "1.2"
    title: Mapped[str] = mapped_column(String(300), default="")
    yaml: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    cases: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(128))


class SatcertRun(TenantMixin, Base):
    """A bench run of one plan version against one sample, executed as a platform job."""

    __tablename__ = "satcert_run"
    __table_args__ = (UniqueConstraint("organization_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("satcert_sample.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("satcert_plan.id"))
    transport: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(20), default="certification")
    idempotency_key: Mapped[str | None] = mapped_column(String(80), default=None)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    verdict: Mapped[str | None] = mapped_column(String(20), default=None)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_job.id", ondelete="SET NULL"), default=None, index=True
    )
    started_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=now)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)  # counts, identity, figures
    results: Mapped[list[Any]] = mapped_column(default=list)  # one entry per plan case
    log_file_id: Mapped[int | None] = mapped_column(default=None)
    log_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    log_bytes: Mapped[int] = mapped_column(default=0)
    error_key: Mapped[str | None] = mapped_column(String(120), default=None)
    error_text: Mapped[str | None] = mapped_column(Text, default=None)


class SatcertRunLine(TenantMixin, Base):
    """One line of a bench run's live log (the console polls them while the run goes)."""

    __tablename__ = "satcert_run_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("satcert_run.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=now)
    text: Mapped[str] = mapped_column(Text)


class SatcertImport(TenantMixin, Base):
    """RF or protocol conformance results of a lab instrument, judged against a limit table."""

    __tablename__ = "satcert_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("satcert_sample.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(20))  # rf | protocol
    standard: Mapped[str] = mapped_column(String(120))
    filename: Mapped[str] = mapped_column(String(255))
    file_id: Mapped[int | None] = mapped_column(default=None)
    sha256: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(8))
    limits: Mapped[list[Any]] = mapped_column(default=list)
    verdicts: Mapped[list[Any]] = mapped_column(default=list)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    verdict: Mapped[str] = mapped_column(String(20))


class SatcertCertificate(TenantMixin, Base):
    """A certificate issued for a sample: the core credential's id and its state here."""

    __tablename__ = "satcert_certificate"

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("satcert_sample.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(default=None)
    credential_id: Mapped[str] = mapped_column(String(36), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=now)
    valid_until: Mapped[datetime | None] = mapped_column(default=None, index=True)
    issued_by: Mapped[str] = mapped_column(String(128))
    verdict: Mapped[str] = mapped_column(String(20))
    plan_key: Mapped[str] = mapped_column(String(80))
    plan_version: Mapped[str] = mapped_column(String(20))
    subject: Mapped[dict[str, Any]] = mapped_column(default=dict)
    revoked: Mapped[bool] = mapped_column(default=False, index=True)
    revoked_reason: Mapped[str | None] = mapped_column(Text, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    expiry_warned_at: Mapped[datetime | None] = mapped_column(default=None)


class SatcertRegistryEntry(Base):
    """The public line of a certified terminal (no tenant filter: the registry is public)."""

    __tablename__ = "satcert_registry_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("satcert_certificate.id"), unique=True)
    credential_id: Mapped[str] = mapped_column(String(36), unique=True)
    holder: Mapped[str] = mapped_column(String(200))
    manufacturer: Mapped[str] = mapped_column(String(200), index=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    firmware: Mapped[str] = mapped_column(String(200), default="")
    tac: Mapped[str] = mapped_column(String(8), default="")  # IMEI type allocation code
    terminal_kind: Mapped[str] = mapped_column(String(20))
    plan_key: Mapped[str] = mapped_column(String(80))
    plan_version: Mapped[str] = mapped_column(String(20))
    issued_at: Mapped[datetime] = mapped_column(default=now)
    valid_until: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(20), default="valid", index=True)
