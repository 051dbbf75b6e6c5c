"""Published documents (the exemption list, sector guidelines) and self-checks against them.

A document is published in versions with an effective date; a new version never replaces an old
one: a finding is judged under the version in force on the day it was first seen. The shipped
YAML in ``data/`` is loaded as version 1 the first time anyone reads the documents.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import func, select

from mingyue.enablers.supervision.engine.exemptions import (
    ExemptionList,
    applicable_item,
    list_in_force,
)
from mingyue.enablers.supervision.engine.guidelines import Guideline, run_self_check
from mingyue.enablers.supervision.models import SupervisionDocument, SupervisionSelfCheck
from mingyue.enablers.supervision.schemas import (
    DocumentIn,
    DocumentOut,
    DocumentSummary,
    SelfCheckIn,
    SelfCheckOut,
)
from mingyue.enablers.supervision.service import docformat
from mingyue.sdk import (
    Actor,
    InvalidInput,
    NotFound,
    UnitOfWork,
    check,
    record_count,
    require_org,
)
from mingyue.sdk import now as clock_now

DATA = Path(__file__).resolve().parent.parent / "data"
KIND_DIRS = {"exemption_list": "exemption_lists", "guideline": "guidelines"}


def _sha(content: dict[str, Any]) -> str:
    raw = json.dumps(_plain(content), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def local_day(uow: UnitOfWork, at: datetime) -> date:
    """Return the calendar day of ``at`` in the display zone."""
    return at.astimezone(ZoneInfo(uow.settings.timezone)).date()


def _start_of(uow: UnitOfWork, day: date) -> datetime:
    zone = ZoneInfo(uow.settings.timezone)
    return datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(UTC)


def shipped() -> list[tuple[str, dict[str, Any], docformat.Meta]]:
    """Return (kind, content, meta) of every document shipped in ``data/``, oldest first."""
    out: list[tuple[str, dict[str, Any], docformat.Meta]] = []
    for kind, sub in KIND_DIRS.items():
        for path in sorted((DATA / sub).glob("*.yaml")):
            content = yaml.safe_load(path.read_text(encoding="utf-8"))
            if isinstance(content, dict):
                out.append((kind, content, docformat.meta(content, path.stem)))
    out.sort(key=lambda x: (x[2].slug, x[2].effective_from))
    return out


def ensure_seeded(uow: UnitOfWork) -> int:
    """Load the shipped documents as their first versions unless already published (idempotent)."""
    known = set(uow.session.scalars(select(SupervisionDocument.slug).distinct()))
    added = 0
    versions: dict[str, int] = {}
    for kind, content, meta in shipped():
        if meta.slug in known:
            continue
        versions[meta.slug] = versions.get(meta.slug, 0) + 1
        row = SupervisionDocument(
            slug=meta.slug,
            kind=kind,
            version=versions[meta.slug],
            title=meta.title,
            effective_from=_start_of(uow, meta.effective_from),
            content=_plain(content),
            sha256=_sha(content),
            note=f"shipped ({meta.label})",
            published_by="system",
            published_at=clock_now(),
        )
        uow.session.add(row)
        uow.flush()
        uow.audit(
            "supervision.document.seeded",
            f"supervision_document:{row.id}",
            {"slug": meta.slug, "kind": kind, "version": row.version, "sha256": row.sha256},
        )
        added += 1
    return added


def _plain(content: dict[str, Any]) -> dict[str, Any]:
    """Return the content as JSON would store it (YAML dates become ISO text)."""
    loaded: dict[str, Any] = json.loads(json.dumps(content, ensure_ascii=False, default=str))
    return loaded


def validate_content(
    kind: str, slug: str, content: dict[str, Any], effective: date
) -> dict[str, Any]:
    """Check a new version's content with the engine; return it dated as published."""
    out = _plain(content)
    out["effective"] = effective.isoformat()
    key = "id" if kind == "exemption_list" else "key"
    if out.get(key) != slug:
        raise InvalidInput(
            "supervision.document.other_slug",
            f"content.{key} must be {slug!r}, the document being published",
            field=f"content.{key}",
        )
    if kind == "exemption_list":
        ExemptionList.from_dict(out)
    else:
        Guideline.from_dict(out)
    return out


def _in_force_ids(uow: UnitOfWork, at: datetime) -> dict[str, int]:
    rows = uow.session.scalars(
        select(SupervisionDocument)
        .where(SupervisionDocument.effective_from <= at)
        .order_by(SupervisionDocument.effective_from, SupervisionDocument.version)
    ).all()
    return {r.slug: r.id for r in rows}


def document_at(uow: UnitOfWork, slug: str, at: datetime) -> SupervisionDocument | None:
    """Return the version of a document in force at ``at`` (the latest effective by then)."""
    ensure_seeded(uow)
    return uow.session.scalars(
        select(SupervisionDocument)
        .where(SupervisionDocument.slug == slug, SupervisionDocument.effective_from <= at)
        .order_by(SupervisionDocument.effective_from.desc(), SupervisionDocument.version.desc())
    ).first()


@dataclass(frozen=True)
class ExemptionAnswer:
    """Which exemption list governs a finding and whether an item of it covers the rule."""

    version: int | None  # the register's version of the list that governs (None: no list yet)
    label: str | None  # the list's own version label
    item: dict[str, Any] | None  # the covering item, None when the rule is not on the list
    why: str  # in_force_when_occurred | more_favourable_at_decision | not_listed | no_list


def exemption_item(
    uow: UnitOfWork, rule: str, occurred: datetime, decided: datetime | None = None
) -> ExemptionAnswer:
    """Return the exemption list version and item that govern a finding of ``rule``.

    The version in force when it occurred, unless the one in force at the decision is more
    favourable (the list's Art. 6 after APL Art. 37, 从旧兼从轻).
    """
    ensure_seeded(uow)
    rows = uow.session.scalars(
        select(SupervisionDocument)
        .where(SupervisionDocument.kind == "exemption_list")
        .order_by(SupervisionDocument.effective_from, SupervisionDocument.version)
    ).all()
    parsed = [(r, ExemptionList.from_dict(r.content)) for r in rows]
    lists = [p for _, p in parsed]
    occurred_on = local_day(uow, occurred)
    decided_on = local_day(uow, decided or clock_now())
    found = applicable_item(lists, rule, occurred_on, decided_on)
    if found is not None:
        row = next(r for r, p in parsed if p is found.list)
        return ExemptionAnswer(row.version, found.list.version, found.item.to_dict(), found.why)
    in_force = list_in_force(lists, occurred_on)
    if in_force is None:
        return ExemptionAnswer(None, None, None, "no_list")
    row = next(r for r, p in parsed if p is in_force)
    return ExemptionAnswer(row.version, in_force.version, None, "not_listed")


def _summary(
    row: SupervisionDocument, in_force: dict[str, int], nxt: datetime | None
) -> dict[str, Any]:
    return {
        "id": row.id,
        "slug": row.slug,
        "kind": row.kind,
        "version": row.version,
        "title": dict(row.title),
        "effective_from": row.effective_from,
        "sha256": row.sha256,
        "note": row.note,
        "published_by": row.published_by,
        "published_at": row.published_at,
        "in_force": in_force.get(row.slug) == row.id,
        "superseded_at": nxt,
    }


def _versions(uow: UnitOfWork, slug: str | None = None) -> list[SupervisionDocument]:
    stmt = select(SupervisionDocument)
    if slug is not None:
        stmt = stmt.where(SupervisionDocument.slug == slug)
    return list(
        uow.session.scalars(
            stmt.order_by(
                SupervisionDocument.slug,
                SupervisionDocument.effective_from,
                SupervisionDocument.version,
            )
        )
    )


def _superseded(rows: list[SupervisionDocument]) -> dict[int, datetime | None]:
    out: dict[int, datetime | None] = {}
    for i, r in enumerate(rows):
        later = [x.effective_from for x in rows[i + 1 :] if x.slug == r.slug]
        out[r.id] = min(later) if later else None
    return out


def list_documents(
    *, uow: UnitOfWork, actor: Actor, kind: str | None = None, all_versions: bool = False
) -> list[DocumentSummary]:
    """Return the published documents (the version in force, or every version)."""
    check(actor, "supervision.read")
    ensure_seeded(uow)
    rows = _versions(uow)
    in_force = _in_force_ids(uow, clock_now())
    nxt = _superseded(rows)
    out = [
        DocumentSummary.model_validate(_summary(r, in_force, nxt[r.id]))
        for r in rows
        if (kind is None or r.kind == kind) and (all_versions or in_force.get(r.slug) == r.id)
    ]
    if not all_versions:
        # A document whose first version takes effect later is still listed (announced).
        shown = {d.slug for d in out}
        out += [
            DocumentSummary.model_validate(_summary(r, in_force, nxt[r.id]))
            for r in rows
            if r.slug not in shown
            and (kind is None or r.kind == kind)
            and r.version == max(x.version for x in rows if x.slug == r.slug)
        ]
    return out


def get_document(
    *, uow: UnitOfWork, actor: Actor, slug: str, version: int | None = None
) -> DocumentOut:
    """Return one version of a document (the one in force today when no version is named)."""
    check(actor, "supervision.read")
    ensure_seeded(uow)
    rows = _versions(uow, slug)
    if not rows:
        raise NotFound("supervision.document.not_found", f"no document {slug!r}", field="slug")
    if version is None:
        row = document_at(uow, slug, clock_now()) or rows[-1]
    else:
        found = [r for r in rows if r.version == version]
        if not found:
            raise NotFound(
                "supervision.document.not_found",
                f"{slug} has no version {version}",
                field="version",
            )
        row = found[0]
    in_force = _in_force_ids(uow, clock_now())
    nxt = _superseded(rows)
    return DocumentOut.model_validate(
        {**_summary(row, in_force, nxt[row.id]), "content": row.content}
    )


def publish_document(*, uow: UnitOfWork, actor: Actor, slug: str, body: DocumentIn) -> DocumentOut:
    """Publish a new version of a document; earlier versions stay in force for their dates."""
    check(actor, "supervision.documents.manage")
    ensure_seeded(uow)
    rows = _versions(uow, slug)
    if not rows:
        raise NotFound("supervision.document.not_found", f"no document {slug!r}", field="slug")
    kind = rows[0].kind
    content = validate_content(kind, slug, body.content, body.effective_from)
    title = body.title or dict(rows[-1].title)
    if not title.get("zh") or not title.get("en"):
        raise InvalidInput(
            "supervision.document.bad_title", "a title in zh and en is needed", field="title"
        )
    version = (
        int(
            uow.session.scalar(
                select(func.max(SupervisionDocument.version)).where(
                    SupervisionDocument.slug == slug
                )
            )
            or 0
        )
        + 1
    )
    row = SupervisionDocument(
        slug=slug,
        kind=kind,
        version=version,
        title={"zh": title["zh"], "en": title["en"]},
        effective_from=_start_of(uow, body.effective_from),
        content=content,
        sha256=_sha(content),
        note=body.note,
        published_by=actor.label(),
        published_at=clock_now(),
    )
    uow.session.add(row)
    uow.flush()
    uow.audit(
        "supervision.document.published",
        f"supervision_document:{row.id}",
        {
            "slug": slug,
            "kind": kind,
            "version": version,
            "effective_from": body.effective_from.isoformat(),
            "sha256": row.sha256,
            "previous_sha256": rows[-1].sha256,
            "note": body.note,
        },
    )
    return get_document(uow=uow, actor=actor, slug=slug, version=version)


def run_selfcheck(*, uow: UnitOfWork, actor: Actor, body: SelfCheckIn) -> SelfCheckOut:
    """Answer a guideline's questionnaire; keep the answers and the rules they point to."""
    check(actor, "supervision.selfcheck.run")
    org = require_org(actor, field="--as")
    doc = document_at(uow, body.slug, clock_now())
    if doc is None or doc.kind != "guideline":
        raise NotFound(
            "supervision.document.not_found", f"no guideline {body.slug!r} in force", field="slug"
        )
    result = run_self_check(Guideline.from_dict(doc.content), body.answers).to_dict()
    row = SupervisionSelfCheck(
        organization_id=org,
        slug=doc.slug,
        version=doc.version,
        answers=dict(body.answers),
        result=result,
        created_by=actor.label(),
        created_at=clock_now(),
    )
    uow.session.add(row)
    uow.flush()
    ref = f"supervision_selfcheck:{row.id}"
    uow.audit(
        "supervision.selfcheck.completed",
        ref,
        {
            "slug": doc.slug,
            "version": doc.version,
            "score": result.get("score"),
            "risks": result.get("risks"),
        },
        organization_id=org,
    )
    record_count(
        uow=uow,
        organization_id=org,
        meter="supervision.selfchecks",
        unit="selfcheck",
        source="supervision",
        ref=ref,
    )
    return SelfCheckOut.model_validate(row)


def list_selfchecks(
    *, uow: UnitOfWork, actor: Actor, organization_id: int | None = None
) -> list[SelfCheckOut]:
    """Return the self-checks the actor may see, newest first."""
    check(actor, "supervision.read")
    stmt = select(SupervisionSelfCheck)
    if organization_id is not None:
        stmt = stmt.where(SupervisionSelfCheck.organization_id == organization_id)
    rows = uow.session.scalars(stmt.order_by(SupervisionSelfCheck.id.desc()).limit(200))
    return [SelfCheckOut.model_validate(r) for r in rows]
