"""Use cases of the policy corpus: ingest a document version, list and read documents and clauses.

A document is identified by its slug; ingesting a different file under the same slug makes a
new version that supersedes the current one (its clauses stay readable under their own ids, and
each new clause says whether it is unchanged, changed or added). The same file again changes
nothing. The original file is kept in the file store; every ingest writes one audit entry.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import PurePath
from typing import Any

from sqlalchemy import func, select

from mingyue.enablers.policy.engine.clauses import compare
from mingyue.enablers.policy.engine.ingest import FORMATS, ParsedDocument, parse_document, slugify
from mingyue.enablers.policy.models_corpus import PolicyClause, PolicyDocument
from mingyue.enablers.policy.schemas_corpus import (
    ClauseOut,
    DocumentDetail,
    DocumentOut,
    clause_url,
)
from mingyue.enablers.policy.settings import options
from mingyue.sdk import (
    Actor,
    UnitOfWork,
    caps_from_settings,
    check,
    check_archive,
    scratch_upload,
    store_upload,
    stored_path,
)
from mingyue.sdk.errors import InvalidInput, NotFound, PayloadTooLarge

MANAGE = "policy.corpus.manage"
READ = "policy.read"
SEED_PACKAGE = "mingyue.enablers.policy"
SEED_FOLDER = "corpus"
_SEED_SUFFIXES = (".txt", ".html", ".htm", ".pdf", ".docx")


def clause_id(slug: str, version: int, path: str) -> str:
    """Return the stable id of a clause: ``<slug>@<version>#<path>``."""
    return f"{slug}@{version}#{path}"


def _document_out(doc: PolicyDocument, *, unchanged: bool = False) -> DocumentOut:
    out = DocumentOut.model_validate(doc, from_attributes=True)
    return out.model_copy(update={"unchanged": unchanged})


def _clause_out(c: PolicyClause, doc: PolicyDocument) -> ClauseOut:
    return ClauseOut(
        clause_id=c.clause_id,
        document_id=doc.id,
        doc=doc.title,
        slug=doc.slug,
        version=doc.version,
        current=doc.status == "current",
        path=c.path,
        parent_path=c.parent_path,
        kind=c.kind,
        label=c.label,
        heading=c.heading,
        text=c.text,
        change=c.change,
        url=clause_url(c.clause_id),
    )


def _valid_slug(slug: str) -> str:
    clean = slugify(slug + ".x", "")
    if clean != slug:
        raise InvalidInput(
            "policy.bad_slug",
            "slug: 3–80 characters of a-z, 0-9 and '-' (it names the document in clause ids)",
            field="slug",
        )
    return slug


def _parse(uow: UnitOfWork, data: bytes, filename: str, fmt: str | None) -> ParsedDocument:
    if fmt is not None and fmt not in FORMATS:
        raise InvalidInput("policy.bad_format", f"format must be one of {FORMATS}", field="format")
    return parse_document(data, filename=filename, fmt=fmt)


def ingest_document(
    *,
    uow: UnitOfWork,
    actor: Actor,
    data: bytes,
    filename: str,
    slug: str | None = None,
    fmt: str | None = None,
    region: str | None = None,
    industry_tags: list[str] | None = None,
) -> DocumentOut:
    """Read a policy document, split it into clauses and store it as the slug's next version."""
    check(actor, MANAGE)
    opts = options(uow.settings)
    if len(data) > opts.max_document_bytes:
        raise PayloadTooLarge(
            "policy.document_too_large",
            f"document is {len(data)} bytes (max {opts.max_document_bytes})",
        )
    name = PurePath(filename or "document.txt").name[:255]
    sha = hashlib.sha256(data).hexdigest()
    slug = _valid_slug(slug) if slug else slugify(name, f"doc-{sha[:10]}")
    current = uow.session.scalars(
        select(PolicyDocument)
        .where(PolicyDocument.slug == slug)
        .order_by(PolicyDocument.version.desc())
        .limit(1)
    ).first()
    if current is not None and current.sha256 == sha:
        return _document_out(current, unchanged=True)
    file_id = None
    if actor.organization_id is not None:  # the system (demo seeding) keeps no original
        stored = store_upload(
            uow=uow,
            upload=data,
            filename=name,
            purpose="policy.document",
            max_bytes=opts.max_document_bytes,
        )
        file_id = stored.id
        if data[:4] == b"PK\x03\x04":  # an Office document is a zip: judge it before opening
            check_archive(stored_path(uow=uow, file_id=stored.id), caps_from_settings())
    elif data[:4] == b"PK\x03\x04":
        with scratch_upload(uow=uow, upload=data, filename=name) as scratch:
            check_archive(scratch.path, caps_from_settings())
    parsed = _parse(uow, data, name, fmt)
    version = (current.version + 1) if current is not None else 1
    meta = parsed.meta
    doc = PolicyDocument(
        slug=slug,
        version=version,
        status="current",
        title=meta.title[:300],
        issuer=meta.issuer[:200],
        doc_number=meta.doc_number[:80],
        issued_on=meta.issued_on,
        effective_from=meta.effective_from,
        effective_to=meta.effective_to,
        validity=meta.validity,
        published=meta.published,
        region=(region if region is not None else meta.region)[:80],
        industry_tags=list(industry_tags if industry_tags is not None else meta.industry_tags),
        source_name=name,
        source_format=parsed.format,
        sha256=sha,
        file_id=file_id,
        text=parsed.text,
        clause_count=len(parsed.clauses),
        created_by=actor.username,
        created_org_id=actor.organization_id,
    )
    old_texts: dict[str, str] = {}
    if current is not None:
        old_texts = {
            c.path: c.text
            for c in uow.session.scalars(
                select(PolicyClause).where(PolicyClause.document_id == current.id)
            )
        }
    changes = compare(old_texts, {c.path: c.text for c in parsed.clauses}) if current else {}
    doc.changes = {p: s for p, s in changes.items() if s != "unchanged"}
    uow.session.add(doc)
    uow.session.flush()
    for c in parsed.clauses:
        uow.session.add(
            PolicyClause(
                document_id=doc.id,
                clause_id=clause_id(slug, version, c.path),
                path=c.path,
                parent_path=c.parent,
                kind=c.kind,
                label=c.label,
                heading=c.heading[:300],
                context=list(c.context),
                text=c.text,
                ordinal=c.ordinal,
                depth=c.depth,
                change=changes.get(c.path, "added"),
            )
        )
    if current is not None:
        current.status = "superseded"
        current.superseded_by_id = doc.id
    uow.session.flush()
    uow.audit(
        "policy.document.ingested",
        f"policy_document:{doc.id}",
        {
            "slug": slug,
            "version": version,
            "sha256": sha,
            "clauses": len(parsed.clauses),
            "supersedes": current.id if current is not None else None,
            "changed": sum(1 for s in changes.values() if s != "unchanged"),
        },
    )
    return _document_out(doc)


def list_documents(
    *, uow: UnitOfWork, actor: Actor, include_superseded: bool = False
) -> list[DocumentOut]:
    """Return the corpus's documents, newest first (current versions only unless asked)."""
    check(actor, READ)
    query = select(PolicyDocument).order_by(PolicyDocument.id.desc())
    if not include_superseded:
        query = query.where(PolicyDocument.status == "current")
    return [_document_out(d) for d in uow.session.scalars(query)]


def get_document(*, uow: UnitOfWork, actor: Actor, document_id: int) -> DocumentDetail:
    """Return one document version with its clauses."""
    check(actor, READ)
    doc = uow.session.get(PolicyDocument, document_id)
    if doc is None:
        raise NotFound("policy.document_not_found", "no such policy document")
    clauses = uow.session.scalars(
        select(PolicyClause)
        .where(PolicyClause.document_id == doc.id)
        .order_by(PolicyClause.ordinal)
    )
    base = _document_out(doc).model_dump()
    return DocumentDetail(
        **base, changes=dict(doc.changes), clauses=[_clause_out(c, doc) for c in clauses]
    )


def get_clause(*, uow: UnitOfWork, actor: Actor, clause_id: str) -> ClauseOut:
    """Return one clause by its id (``<slug>@<version>#<path>``)."""
    check(actor, READ)
    row = uow.session.execute(
        select(PolicyClause, PolicyDocument)
        .join(PolicyDocument, PolicyDocument.id == PolicyClause.document_id)
        .where(PolicyClause.clause_id == clause_id)
    ).first()
    if row is None:
        raise NotFound("policy.clause_not_found", f"no clause {clause_id}")
    return _clause_out(row[0], row[1])


def corpus_rows(uow: UnitOfWork) -> list[tuple[PolicyClause, PolicyDocument]]:
    """Return the clauses retrieval searches, with their documents.

    Every clause of a current version, plus each clause of an older version whose text the
    current version changed or removed (so a question about the old rule finds it, marked as
    superseded); an older clause the current version kept word for word is left out.
    """
    rows: list[tuple[PolicyClause, PolicyDocument]] = [
        (c, d)
        for c, d in uow.session.execute(
            select(PolicyClause, PolicyDocument)
            .join(PolicyDocument, PolicyDocument.id == PolicyClause.document_id)
            .order_by(PolicyDocument.slug, PolicyDocument.version.desc(), PolicyClause.ordinal)
        )
    ]
    current: dict[str, dict[str, str]] = {}
    for c, d in rows:
        if d.status == "current":
            current.setdefault(d.slug, {})[c.path] = c.text
    out: list[tuple[PolicyClause, PolicyDocument]] = []
    seen_old: dict[tuple[str, str], str] = {}
    for c, d in rows:
        if d.status == "current":
            out.append((c, d))
            continue
        now_text = current.get(d.slug, {}).get(c.path)
        key = (d.slug, c.path)
        if now_text == c.text or seen_old.get(key) == c.text:
            continue
        seen_old[key] = c.text
        out.append((c, d))
    return out


def corpus_fingerprint(uow: UnitOfWork) -> tuple[Any, ...]:
    """Return what changes whenever the searchable corpus changes (for index caches)."""
    docs = uow.session.execute(
        select(func.count(PolicyDocument.id), func.max(PolicyDocument.id))
    ).one()
    current = uow.session.scalar(
        select(func.count(PolicyDocument.id)).where(PolicyDocument.status == "current")
    )
    return (int(docs[0]), docs[1], current)


def seed_files() -> list[tuple[str, bytes]]:
    """Return (file name, content) of the seed documents bundled with the enabler."""
    out = []
    folder = resources.files(SEED_PACKAGE) / SEED_FOLDER
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_file() and entry.name.lower().endswith(_SEED_SUFFIXES):
            out.append((entry.name, entry.read_bytes()))
    return out


def seed_corpus(*, uow: UnitOfWork, actor: Actor) -> list[DocumentOut]:
    """Ingest the bundled seed documents (the demo calls it); a seeded file is not duplicated."""
    return [
        ingest_document(uow=uow, actor=actor, data=data, filename=name)
        for name, data in seed_files()
    ]
