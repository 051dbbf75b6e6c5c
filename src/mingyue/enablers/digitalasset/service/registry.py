"""The registry of works: content hashes, creator identity, rights, content review, certificates.

A work is registered with its file: SHA-256 and SM3 are taken from the stored bytes, the creator
is named by a W3C DID (``did:key`` or ``did:web``), and a review case opens for the operator's
reviewers (submitted → reviewed → approved | rejected). Approval issues the registration
certificate, a signed W3C Verifiable Credential naming both hashes. Re-verification hashes a
file again: one changed byte fails.
"""

from __future__ import annotations

import re
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from sqlalchemy import select

from mingyue.enablers.digitalasset.engine import hashing
from mingyue.enablers.digitalasset.engine.rules import load_pack
from mingyue.enablers.digitalasset.models_registry import DigitalassetWork
from mingyue.enablers.digitalasset.schemas import WORK_KINDS, VerifyOut, WorkOut
from mingyue.enablers.digitalasset.service.common import load, opts
from mingyue.sdk import (
    Actor,
    CaseOut,
    UnitOfWork,
    check,
    issue_credential,
    now,
    open_case,
    require_org,
    scratch_upload,
    store_upload,
    stored_path,
    transition,
)
from mingyue.sdk.errors import Conflict, InvalidInput, NotFound

CASE_KIND = "digitalasset.work_review"
CERTIFICATE_TYPE = "DigitalWorkRegistration"
_DID = re.compile(
    r"^did:(key:z[1-9A-HJ-NP-Za-km-z]{40,60}|web:[A-Za-z0-9.\-%]+(:[A-Za-z0-9._\-%]+)*)$"
)


def _out(work: DigitalassetWork) -> WorkOut:
    return WorkOut.model_validate(work, from_attributes=True)


def default_did(uow: UnitOfWork, organization_id: int) -> str:
    """Return the organization's did:web on this platform (the creator when none is given)."""
    host = urlsplit(uow.settings.base_url).hostname or "localhost"
    return f"did:web:{host}:org:{organization_id}"


def register_work(
    *,
    uow: UnitOfWork,
    actor: Actor,
    upload: Any | BinaryIO | bytes,
    filename: str | None,
    title: str,
    kind: str,
    creator_name: str,
    rights_statement: str,
    creator_did: str | None = None,
) -> WorkOut:
    """Register a work with its file and open its content review."""
    check(actor, "digitalasset.work.register")
    org = require_org(actor)
    title, creator_name, rights = title.strip(), creator_name.strip(), rights_statement.strip()
    if not 1 <= len(title) <= 300:
        raise InvalidInput(
            "digitalasset.work.bad_title", "a title is 1-300 characters", field="title"
        )
    if not 1 <= len(creator_name) <= 200:
        raise InvalidInput(
            "digitalasset.work.bad_creator",
            "name the creator (1-200 characters)",
            field="creator_name",
        )
    if not 10 <= len(rights) <= 20000:
        raise InvalidInput(
            "digitalasset.work.bad_rights",
            "state the rights held and granted (at least 10 characters)",
            field="rights_statement",
        )
    underlying = load_pack().get("CN-NFT-2022-1")
    if kind in underlying.params.get("financial_kinds", []):
        raise InvalidInput(
            "digitalasset.work.financial",
            f"{kind} is a financial asset, never the underlying of a collectible "
            f"({underlying.id}: {underlying.citation['en']})",
            field="kind",
            rule=underlying.id,
        )
    if kind not in WORK_KINDS:
        raise InvalidInput("digitalasset.work.bad_kind", f"unknown work kind {kind}", field="kind")
    did = (creator_did or "").strip() or default_did(uow, org)
    if not _DID.match(did):
        raise InvalidInput(
            "digitalasset.work.bad_did",
            "the creator DID must be did:key or did:web",
            field="creator_did",
        )
    stored = store_upload(
        uow=uow,
        upload=upload,
        filename=filename,
        purpose="digitalasset.work",
        max_bytes=opts(uow).max_work_bytes,
    )
    if stored.size == 0:
        raise InvalidInput("digitalasset.work.empty", "the work file is empty", field="file")
    digests = hashing.hash_file(stored_path(uow=uow, file_id=stored.id))
    with uow.unscoped(reason="digitalasset: one registration per content", record=False):
        clash = uow.session.scalars(
            select(DigitalassetWork.id).where(
                DigitalassetWork.sha256 == digests.sha256,
                DigitalassetWork.review_status != "rejected",
            )
        ).first()
    if clash is not None:
        raise Conflict(
            "digitalasset.work.duplicate", "this content is already registered", field="file"
        )
    work = DigitalassetWork(
        organization_id=org,
        created_by=actor.label(),
        title=title,
        kind=kind,
        creator_name=creator_name,
        creator_did=did,
        rights_statement=rights,
        filename=stored.filename,
        mime=stored.mime,
        size=digests.size,
        sha256=digests.sha256,
        sm3=digests.sm3,
        file_id=stored.id,
    )
    uow.session.add(work)
    uow.flush()
    case = open_case(
        uow=uow,
        kind=CASE_KIND,
        title=title,
        organization_id=org,
        subject=f"digitalasset_work:{work.id}",
        data={"work_id": work.id, "sha256": digests.sha256, "sm3": digests.sm3, "kind": kind},
    )
    work.case_id = case.id
    uow.audit(
        "digitalasset.work.registered",
        f"digitalasset_work:{work.id}",
        {"sha256": digests.sha256, "sm3": digests.sm3, "size": digests.size, "did": did},
    )
    return _out(work)


def _work_of_case(uow: UnitOfWork, case: CaseOut) -> DigitalassetWork:
    ref = (case.subject or "").removeprefix("digitalasset_work:")
    work = uow.session.get(DigitalassetWork, int(ref)) if ref.isdigit() else None
    if work is None:
        raise NotFound("digitalasset.not_found", f"no work for case {case.id}")
    return work


def on_review(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Record the first reviewer's check of the content."""
    work = _work_of_case(uow, case)
    work.review_status = "reviewed"
    uow.audit(
        "digitalasset.work.reviewed",
        f"digitalasset_work:{work.id}",
        {"case": case.id},
        organization_id=work.organization_id,
    )


def on_approve(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Approve the work and issue its registration certificate (a signed credential)."""
    work = _work_of_case(uow, case)
    vc = issue_credential(
        uow=uow,
        type=CERTIFICATE_TYPE,
        subject={
            "id": work.creator_did,
            "workId": work.id,
            "title": work.title,
            "kind": work.kind,
            "creator": work.creator_name,
            "sha256": work.sha256,
            "sm3": work.sm3,
            "size": work.size,
            "rightsStatement": work.rights_statement,
            "registeredAt": work.created_at.isoformat(),
        },
        organization_id=work.organization_id,
        name={"zh": "数字作品登记证书", "en": "Digital work registration certificate"},
        public_fields=["title", "sha256", "sm3", "creator"],
    )
    work.review_status = "approved"
    work.certificate_id = vc.id
    work.certificate = vc.document
    uow.audit(
        "digitalasset.work.approved",
        f"digitalasset_work:{work.id}",
        {"case": case.id, "credential": vc.id},
        organization_id=work.organization_id,
    )


def on_reject(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Reject the work (the case holds the reviewer's reason)."""
    work = _work_of_case(uow, case)
    work.review_status = "rejected"
    uow.audit(
        "digitalasset.work.rejected",
        f"digitalasset_work:{work.id}",
        {"case": case.id},
        organization_id=work.organization_id,
    )


def list_works(
    *, uow: UnitOfWork, actor: Actor, status: str | None = None, limit: int = 200
) -> list[WorkOut]:
    """Return the works in the actor's scope, newest first."""
    check(actor, "digitalasset.read")
    q = select(DigitalassetWork).order_by(DigitalassetWork.id.desc()).limit(limit)
    if status:
        q = q.where(DigitalassetWork.review_status == status)
    return [_out(w) for w in uow.session.scalars(q)]


def get_work(*, uow: UnitOfWork, actor: Actor, work_id: int) -> WorkOut:
    """Return one work."""
    return _out(load(uow, DigitalassetWork, work_id, "digitalasset.read"))


def work_row(uow: UnitOfWork, work_id: int) -> DigitalassetWork:
    """Return a work row in the actor's scope (NotFound otherwise)."""
    return load(uow, DigitalassetWork, work_id)


def verify_work(
    *, uow: UnitOfWork, actor: Actor, work_id: int, upload: Any | BinaryIO | bytes
) -> VerifyOut:
    """Hash a file again and compare it with the registered work (both digests, size)."""
    work = load(uow, DigitalassetWork, work_id, "digitalasset.read")
    with scratch_upload(uow=uow, upload=upload, max_bytes=opts(uow).max_work_bytes) as f:
        got = hashing.hash_file(f.path)
    expected = hashing.ContentHashes(sha256=work.sha256, sm3=work.sm3, size=work.size)
    ok = hashing.matches(expected, got)
    work.last_verified_at = now()
    work.last_verified_ok = ok
    uow.audit(
        "digitalasset.work.verified",
        f"digitalasset_work:{work.id}",
        {"ok": ok, "sha256": got.sha256, "sm3": got.sm3},
        organization_id=work.organization_id,
    )
    return VerifyOut(
        work_id=work.id,
        ok=ok,
        sha256=got.sha256,
        sm3=got.sm3,
        size=got.size,
        sha256_matches=got.sha256 == work.sha256,
        sm3_matches=got.sm3 == work.sm3,
    )


def decide(
    *, uow: UnitOfWork, actor: Actor, work_id: int, action: str, comment: str | None = None
) -> WorkOut:
    """Take a review step on the work's case (review, approve, reject; the case kind says who)."""
    work = load(uow, DigitalassetWork, work_id, "digitalasset.read")
    if action not in ("review", "approve", "reject"):
        raise InvalidInput("digitalasset.work.bad_action", f"unknown step {action}", field="action")
    if work.case_id is None:
        raise Conflict("digitalasset.work.no_case", "the work has no review case")
    transition(uow=uow, case_id=work.case_id, name=action, comment=comment or None, actor=actor)
    return _out(work)
