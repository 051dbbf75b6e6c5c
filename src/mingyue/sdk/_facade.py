"""The implementation side of ``mingyue.sdk``: re-exports of the core plus the small helpers
every enabler needs once (organization guard, count usage, uploads, credentials, clock, hooks).

Enablers import ``mingyue.sdk``, never this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import secrets
import tempfile
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from mingyue.core import clock
from mingyue.core.calendar import (
    add_working_days,
    calendar_covers,
    deadline_after,
    is_working_day,
    working_days_between,
)
from mingyue.core.cases import (
    CaseDetail,
    CaseKind,
    CaseOut,
    State,
    SubjectView,
    Transition,
    assign,
    comment,
    get_case,
    list_cases,
    open_case,
    transition,
)
from mingyue.core.config import Settings, ensure_data_dir, get_settings
from mingyue.core.db import Base, TenantMixin, UTCDateTime
from mingyue.core.declaration import Permission, Schedule
from mingyue.core.errors import Conflict, InvalidInput, PayloadTooLarge
from mingyue.core.files import ArchiveCaps, ArchiveReport, StoredFile, caps_from_settings
from mingyue.core.files import check_archive as _check_archive
from mingyue.core.files import path_of as _path_of
from mingyue.core.files import sanitize_filename as _sanitize_filename
from mingyue.core.files import sniff as _sniff
from mingyue.core.files import store as _store
from mingyue.core.findings import (
    EvidenceRef,
    FindingOut,
    FindingRule,
    FindingStatus,
    FindingVerifier,
    Severity,
    count_findings,
    finding_rules,
    get_finding,
    list_findings,
    observe_subject,
    prior_findings,
    raise_finding,
    request_reverification,
    set_finding_status,
)
from mingyue.core.jobs import JobContext, JobOut, enqueue, get_job, list_jobs, run_job_now
from mingyue.core.ledger import credentials as _credentials
from mingyue.core.ledger import keys as _keys
from mingyue.core.ledger.audit import AuditCheckpoint as _AuditCheckpoint
from mingyue.core.ledger.audit import checkpoint_if_due as _checkpoint_if_due
from mingyue.core.ledger.keys import SecretUnreadable, seal, unseal
from mingyue.core.metering import FreePoolOut, UsageOut, get_free_pool, record_usage, set_free_pool
from mingyue.core.metering.models import ExactDecimal
from mingyue.core.metering.money import format_cny
from mingyue.core.metering.statements import statement_total
from mingyue.core.metering.tou import BANDS as TOU_BANDS
from mingyue.core.metering.tou import DEFAULT_WINDOWS as DEFAULT_TOU_WINDOWS
from mingyue.core.metering.tou import PricedSegment, TariffSpec, parse_windows, price_interval
from mingyue.core.metering.tou import month_bounds as _month_bounds
from mingyue.core.plugins import Enabler, MeterSpec, NavItem
from mingyue.core.tenancy import accounts as _accounts
from mingyue.core.tenancy.access import OVERSIGHT_ROLES, SYSTEM, Actor, can, check
from mingyue.core.tenancy.identity import Organization, find_user
from mingyue.core.tenancy.identity import actor_for as _actor_for
from mingyue.core.tenancy.lookup import get_visible
from mingyue.core.uow import UnitOfWork, unit_of_work

__all__ = [
    "DEFAULT_TOU_WINDOWS",
    "OVERSIGHT_ROLES",
    "SYSTEM",
    "TOU_BANDS",
    "Actor",
    "ArchiveCaps",
    "ArchiveReport",
    "BackgroundService",
    "Base",
    "CaseDetail",
    "CaseHook",
    "CaseKind",
    "CaseOut",
    "CredentialCheck",
    "Enabler",
    "EvidenceRef",
    "ExactDecimal",
    "FindingOut",
    "FindingRule",
    "FindingStatus",
    "FindingVerifier",
    "FreePoolOut",
    "IssuedCredential",
    "JobContext",
    "JobHandler",
    "JobOut",
    "LedgerHead",
    "MeterSpec",
    "NavItem",
    "OrganizationOut",
    "Permission",
    "PricedSegment",
    "RequestMixin",
    "Schedule",
    "ScratchFile",
    "SecretUnreadable",
    "Settings",
    "Severity",
    "State",
    "StoredFile",
    "SubjectView",
    "TariffSpec",
    "TenantMixin",
    "Transition",
    "UTCDateTime",
    "UnitOfWork",
    "UsageOut",
    "actor_of_user",
    "add_working_days",
    "assign",
    "calendar_covers",
    "can",
    "caps_from_settings",
    "check",
    "check_archive",
    "comment",
    "count_findings",
    "credential_revoked",
    "deadline_after",
    "enqueue",
    "find_organizations",
    "finding_rules",
    "format_cny",
    "get_case",
    "get_finding",
    "get_free_pool",
    "get_job",
    "get_settings",
    "get_visible",
    "is_working_day",
    "issue_credential",
    "ledger_head",
    "list_cases",
    "list_findings",
    "list_jobs",
    "local_time",
    "month_bounds",
    "now",
    "observe_subject",
    "open_case",
    "organization",
    "parse_windows",
    "price_interval",
    "prior_findings",
    "raise_finding",
    "record_count",
    "record_usage",
    "request_reverification",
    "require_org",
    "revoke_credential",
    "run_job_now",
    "scratch_upload",
    "seal",
    "set_finding_status",
    "set_free_pool",
    "statement_total",
    "store_upload",
    "stored_path",
    "transition",
    "unit_of_work",
    "unseal",
    "verify_credential",
    "working_days_between",
]


# -- hooks ------------------------------------------------------------------------------------


@runtime_checkable
class JobHandler(Protocol):
    """A job kind's handler: ``def run(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]``."""

    def __call__(self, ctx: JobContext, params: dict[str, Any], /) -> dict[str, Any]: ...


@runtime_checkable
class BackgroundService(Protocol):
    """A web process's long-running task (``Enabler.services``).

    ``async def run(stopping: asyncio.Event) -> None``: return soon after ``stopping`` is set;
    an exception is logged and the service started again after a back-off.
    """

    def __call__(self, stopping: asyncio.Event, /) -> Awaitable[None]: ...


@runtime_checkable
class CaseHook(Protocol):
    """A case transition hook: ``def hook(*, uow: UnitOfWork, case: CaseOut) -> None``."""

    def __call__(self, *, uow: UnitOfWork, case: CaseOut) -> None: ...


# -- tenancy ----------------------------------------------------------------------------------


def require_org(actor: Actor, *, field: str = "organization") -> int:
    """Return the actor's organization id, or refuse (422) an actor that belongs to none."""
    if actor.organization_id is None:
        raise InvalidInput("core.no_organization", "act as a user of an organization", field=field)
    return actor.organization_id


@dataclass(frozen=True)
class OrganizationOut:
    """What an enabler may know of an organization."""

    id: int
    name: str
    kind: str
    is_sme: bool
    uscc: str | None


def organization(*, uow: UnitOfWork, organization_id: int) -> OrganizationOut | None:
    """Return an organization the actor's scope reaches (``None`` when there is none)."""
    org = uow.session.get(Organization, organization_id)
    if org is None:
        return None
    return OrganizationOut(
        id=org.id,
        name=org.name,
        kind=org.kind,
        is_sme=bool(org.is_sme),
        uscc=getattr(org, "uscc", None),
    )


def find_organizations(
    *, uow: UnitOfWork, name: str | None = None, kind: str | None = None, limit: int = 100
) -> list[OrganizationOut]:
    """Return organizations by exact name and/or kind, oldest first (a service resolving an
    organization its settings name; check a permission before showing the result to anyone)."""
    q = select(Organization).order_by(Organization.id).limit(max(1, min(limit, 1000)))
    if name is not None:
        q = q.where(Organization.name == name)
    if kind is not None:
        q = q.where(Organization.kind == kind)
    return [
        OrganizationOut(
            id=o.id, name=o.name, kind=o.kind, is_sme=bool(o.is_sme), uscc=getattr(o, "uscc", None)
        )
        for o in uow.session.scalars(q)
    ]


def ensure_organization(
    *, uow: UnitOfWork, actor: Actor, name: str, kind: str, uscc: str | None = None
) -> OrganizationOut:
    """Return the organization of this name, creating it when absent (platform operators only).

    Idempotent by name: a second call returns the same organization and writes nothing; one of
    another kind is a conflict. Only the platform (``SYSTEM``, a platform admin) holds
    ``core.org.manage``; the creation writes the core audit event ``core.org.created``.
    """
    check(actor, "core.org.manage")
    wanted = name.strip()
    found = find_organizations(uow=uow, name=wanted, limit=1)
    if found:
        org = found[0]
        if org.kind != kind:
            raise Conflict(
                "core.org.exists", f"organization {wanted!r} exists as a {org.kind}", field="kind"
            )
        return org
    out = _accounts.create_org(uow=uow, actor=actor, name=wanted, kind=kind, uscc=uscc)
    return OrganizationOut(
        id=out.id, name=out.name, kind=out.kind, is_sme=out.is_sme, uscc=out.uscc
    )


def ensure_user(
    *,
    uow: UnitOfWork,
    actor: Actor,
    organization_id: int,
    username: str,
    roles: Sequence[str],
    display_name: str = "",
    password: str | None = None,
) -> Actor:
    """Return the actor of a user, creating the user in the organization when absent.

    Idempotent by username: an existing user of this organization is returned unchanged; one of
    another organization is a conflict. Without ``password`` the account has a random one that
    nobody knows, until an administrator sets one. Creation follows the core's account rules
    (``core.user.manage``, oversight roles from a platform admin only) and writes the core audit
    event ``core.user.created``.
    """
    check(actor, "core.user.manage")
    user = find_user(uow.session, username.strip())
    if user is None:
        _accounts.create_user(
            uow=uow,
            actor=actor,
            username=username,
            password=password or secrets.token_urlsafe(32),
            organization_id=organization_id,
            roles=list(roles),
            display_name=display_name,
        )
        user = find_user(uow.session, username.strip())
    if user is None or user.organization_id != organization_id:
        raise Conflict("core.user.exists", f"username {username!r} is taken", field="username")
    return _actor_for(user)


def actor_of_user(*, uow: UnitOfWork, username: str) -> Actor | None:
    """Return the Actor of a user by name (demo seeding and system jobs; needs a system unit)."""
    user = find_user(uow.session, username)
    return _actor_for(user) if user is not None else None


# -- usage ------------------------------------------------------------------------------------


def record_count(
    *,
    uow: UnitOfWork,
    organization_id: int,
    meter: str,
    unit: str,
    source: str,
    count: int | Decimal = 1,
    ref: str | None = None,
    at: datetime | None = None,
) -> UsageOut:
    """Record ``count`` events of a counted meter (an API call, a scan) at one moment."""
    moment = at or clock.now()
    return record_usage(
        uow=uow,
        organization_id=organization_id,
        meter=meter,
        quantity=Decimal(count),
        unit=unit,
        start=moment,
        end=moment + timedelta(seconds=1),
        source=source,
        ref=ref,
    )


# -- files ------------------------------------------------------------------------------------


_CHUNK = 1024 * 1024


class _Upload(Protocol):
    filename: str | None

    @property
    def file(self) -> BinaryIO: ...


def store_upload(
    *,
    uow: UnitOfWork,
    upload: _Upload | BinaryIO | bytes,
    filename: str | None = None,
    purpose: str = "upload",
    max_bytes: int | None = None,
    organization_id: int | None = None,
    allowed_types: frozenset[str] | None = None,
) -> StoredFile:
    """Stream an upload into the content store: capped (413), hashed, sniffed, audited.

    ``upload`` is a web upload (anything with ``.file`` and ``.filename``), an open binary file
    or bytes. ``allowed_types`` refuses (422) a sniffed type outside the set, keeping nothing.
    """
    if isinstance(upload, (bytes, bytearray)):
        data: bytes | BinaryIO = bytes(upload)
    elif hasattr(upload, "file"):
        data = upload.file
        filename = filename or getattr(upload, "filename", None)
    else:
        data = upload
    stored = _store(
        uow=uow,
        data=data,
        filename=filename,
        max_bytes=max_bytes,
        purpose=purpose,
        organization_id=organization_id,
    )
    if allowed_types is not None and stored.mime not in allowed_types:
        raise InvalidInput(
            "core.file.bad_type",
            f"file type {stored.mime} is not accepted here",
            field="file",
            mime=stored.mime,
        )
    return stored


@dataclass(frozen=True)
class ScratchFile:
    """An upload held only inside ``with scratch_upload(...)``: its private path and facts."""

    path: Path
    filename: str
    sha256: str
    size: int
    mime: str


@contextmanager
def scratch_upload(
    *,
    uow: UnitOfWork,
    upload: _Upload | BinaryIO | bytes,
    filename: str | None = None,
    max_bytes: int | None = None,
) -> Iterator[ScratchFile]:
    """Stream an upload to a private temporary file: capped (413), hashed, sniffed; never kept.

    For an upload that must not outlive the request (a PII scan keeps hashes, not the file):
    nothing is stored or audited, and the file is deleted when the block ends. Its name keeps the
    sanitized file name's suffix, which parsers may read.
    """
    if isinstance(upload, (bytes, bytearray)):
        stream: BinaryIO = io.BytesIO(bytes(upload))
    elif hasattr(upload, "file"):
        stream = upload.file
        filename = filename or getattr(upload, "filename", None)
    else:
        stream = upload
    name = _sanitize_filename(filename)
    cap = uow.settings.max_upload_bytes if max_bytes is None else max_bytes
    tmp_dir = ensure_data_dir(uow.settings) / "files" / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="scratch-", suffix=Path(name).suffix[:16])
    path = Path(tmp_name)
    try:
        digest, size, head = hashlib.sha256(), 0, b""
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > cap:
                    raise PayloadTooLarge(
                        "core.file.too_large",
                        f"file exceeds the cap of {cap} bytes",
                        field="file",
                        max_bytes=cap,
                    )
                if len(head) < 8192:
                    head += chunk[: 8192 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        yield ScratchFile(
            path=path, filename=name, sha256=digest.hexdigest(), size=size, mime=_sniff(head, path)
        )
    finally:
        path.unlink(missing_ok=True)


def check_archive(path: Path | str, caps: ArchiveCaps | None = None) -> ArchiveReport:
    """Judge a zip or tar (an Office document is a zip) before opening it; 422 past a cap.

    Nothing is inflated for a zip: its central directory is read. ``caps`` defaults to the
    settings' ``archive_*`` caps (``caps_from_settings()``).
    """
    return _check_archive(path, caps)


def stored_path(*, uow: UnitOfWork, file_id: int) -> Path:
    """Return the local path of a stored file's content (read it, never write it)."""
    return _path_of(uow=uow, file_id=file_id)


# -- credentials ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedCredential:
    """A signed W3C Verifiable Credential as issued: its id (a uuid), its type and the document."""

    id: str
    type: str
    organization_id: int
    document: dict[str, Any]

    @property
    def urn(self) -> str:
        """Return the credential's id as written in the document (``urn:uuid:…``)."""
        return str(self.document["id"])


def issue_credential(
    *,
    uow: UnitOfWork,
    type: str,
    subject: Mapping[str, Any],
    organization_id: int,
    valid_days: int | None = None,
    name: str | Mapping[str, str] | None = None,
    description: str | Mapping[str, str] | None = None,
    public_fields: Sequence[str] | None = None,
) -> IssuedCredential:
    """Sign a credential about ``subject`` for the organization, store it, record it.

    ``public_fields``: the top-level subject fields the public page ``/verify/<id>`` shows to
    anyone (signed into the credential); the other fields stay with the holder.
    """
    doc = _credentials.issue(
        uow=uow,
        type=type,
        subject=subject,
        organization_id=organization_id,
        valid_days=valid_days,
        name=name,
        description=description,
        public_fields=public_fields,
    )
    return IssuedCredential(
        id=str(doc["id"]).removeprefix("urn:uuid:"),
        type=type,
        organization_id=organization_id,
        document=doc,
    )


@dataclass(frozen=True)
class CredentialCheck:
    """Outcome of verifying a credential against this platform (``reason`` is an i18n key).

    ``issued_here``: the platform holds a record of it, so its revocation status was read.
    """

    ok: bool
    reason: str
    detail: str
    credential_id: str | None
    type: str | None
    issuer: str | None
    revoked: bool
    issued_here: bool


def verify_credential(
    vc: Mapping[str, Any], *, settings: Settings | None = None
) -> CredentialCheck:
    """Verify a credential: signature by this platform's key, validity, revocation record.

    A platform without a key answers ``core.credential.no_key`` (none is created to verify).
    """
    settings = settings or get_settings()
    if not _keys.key_path(settings).exists():
        return CredentialCheck(
            ok=False,
            reason="core.credential.no_key",
            detail="this platform has no signing key",
            credential_id=None,
            type=None,
            issuer=None,
            revoked=False,
            issued_here=False,
        )
    public = _keys.public_key_b64(settings)
    result = _credentials.verify(vc, public)
    issued_here = False
    if result.ok and result.credential_id:
        try:
            flag = _credentials.is_revoked(settings, result.credential_id)
        except InvalidInput:  # an id that is not a UUID was never issued here
            flag = None
        issued_here = flag is not None
        if flag:
            result = _credentials.verify(vc, public, [result.credential_id])
    return CredentialCheck(
        ok=result.ok,
        reason=result.reason,
        detail=result.detail,
        credential_id=result.credential_id,
        type=result.type,
        issuer=result.issuer,
        revoked=result.revoked,
        issued_here=issued_here,
    )


def credential_revoked(*, uow: UnitOfWork, credential_id: str) -> bool | None:
    """Tell whether this platform revoked a credential it issued (None: never issued here).

    Reads the one flag in the unit of work's own session (``verify_credential`` opens another,
    which waits on SQLite's write lock inside a unit of work that has written).
    """
    try:
        cid = _credentials.bare_id(credential_id)
    except InvalidInput:
        return None
    with uow.unscoped(reason="credential revocation status", record=False):
        flag = uow.session.scalars(
            select(_credentials.Credential.revoked).where(_credentials.Credential.id == cid)
        ).first()
    return None if flag is None else bool(flag)


def revoke_credential(*, uow: UnitOfWork, credential_id: str, reason: str) -> None:
    """Revoke a credential as the unit of work's actor (``core.credential.revoke``)."""
    _credentials.revoke(uow=uow, credential_id=credential_id, reason=reason)


# -- ledger -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerHead:
    """The newest signed head of the audit ledger: entries 1..tree_size under one Merkle root.

    ``signed_time`` is the time exactly as the Ed25519 signature covers it.
    """

    tree_size: int
    root: str
    time: datetime
    signed_time: str
    key_id: str
    public_key: str
    signature: str


def ledger_head(*, uow: UnitOfWork, fresh: bool = False) -> LedgerHead | None:
    """Return the newest signed checkpoint of the audit ledger (None before the first).

    ``fresh``: first sign a head over every entry so far when entries exist beyond the newest
    head (takes the ledger's head lock; call it before the unit of work writes anything).
    """
    if fresh:
        _checkpoint_if_due(uow.session, uow.settings, max_age_s=0)
    cp = uow.session.scalars(
        select(_AuditCheckpoint)
        .where(_AuditCheckpoint.tree_size > 0)
        .order_by(_AuditCheckpoint.tree_size.desc(), _AuditCheckpoint.id.desc())
        .limit(1)
    ).first()
    if cp is None:
        return None
    at = cp.time if cp.time.tzinfo is not None else cp.time.replace(tzinfo=UTC)
    return LedgerHead(
        tree_size=cp.tree_size,
        root=cp.root,
        time=at,
        signed_time=at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        key_id=cp.key_id,
        public_key=cp.public_key,
        signature=cp.signature,
    )


# -- time -------------------------------------------------------------------------------------


def now() -> datetime:
    """Return the current time in UTC from the platform's one clock (frozen in tests)."""
    return clock.now()


def local_time(
    at: datetime | None, settings: Settings | None = None, pattern: str = "%Y-%m-%d %H:%M"
) -> str:
    """Format a time in the display zone of the settings (``MINGYUE_TIMEZONE``); "—" for none."""
    return clock.local_time(at, (settings or get_settings()).timezone, pattern)


def month_bounds(month: str, settings: Settings | None = None) -> tuple[datetime, datetime]:
    """Return the UTC start and end of a month ``YYYY-MM`` in the display zone."""
    return _month_bounds(month, (settings or get_settings()).timezone)


# -- request rows -----------------------------------------------------------------------------


class RequestMixin(TenantMixin):
    """The shape every enabler's request row shares: status, typed reason, job and case links.

    ``status`` is the enabler's own state name; ``reason_key``/``reason_text`` say why it is
    refused or failed (a message key and its English text); ``job_id``/``case_id`` are foreign
    keys to the core's job and case tables.
    """

    status: Mapped[str] = mapped_column(String(30), index=True)
    reason_key: Mapped[str | None] = mapped_column(String(120), default=None)
    reason_text: Mapped[str | None] = mapped_column(Text, default=None)

    @declared_attr
    def job_id(cls) -> Mapped[int | None]:
        return mapped_column(
            ForeignKey("core_job.id", ondelete="SET NULL"), default=None, index=True
        )

    @declared_attr
    def case_id(cls) -> Mapped[int | None]:
        return mapped_column(
            ForeignKey("core_case.id", ondelete="SET NULL"), default=None, index=True
        )
