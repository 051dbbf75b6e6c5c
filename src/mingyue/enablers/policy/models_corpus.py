"""policy tables (corpus): policy documents, one row per version, and their clauses.

Policy documents are public reference data of the district (issued by government, read by
everyone), not owned by a tenant: they inherit only ``Base``. Who ingested a version is kept
(``created_by``, ``created_org_id``) and every ingest is on the ledger.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.sdk import Base, now


class PolicyDocument(Base):
    """One version of a policy document: its metadata and its cleaned text."""

    __tablename__ = "policy_document"
    __table_args__ = (UniqueConstraint("slug", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="current", index=True)  # or superseded
    superseded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("policy_document.id", ondelete="SET NULL"), default=None
    )
    title: Mapped[str] = mapped_column(String(300))
    issuer: Mapped[str] = mapped_column(String(200), default="")
    doc_number: Mapped[str] = mapped_column(String(80), default="", index=True)
    issued_on: Mapped[date | None] = mapped_column(Date, default=None)
    effective_from: Mapped[date | None] = mapped_column(Date, default=None)
    effective_to: Mapped[date | None] = mapped_column(Date, default=None)
    validity: Mapped[str] = mapped_column(String(20), default="formal")  # formal | trial | interim
    published: Mapped[bool] = mapped_column(Boolean, default=False)  # 此件公开发布
    region: Mapped[str] = mapped_column(String(80), default="")
    industry_tags: Mapped[list[Any]] = mapped_column(default=list)
    source_name: Mapped[str] = mapped_column(String(255), default="")
    source_format: Mapped[str] = mapped_column(String(10))  # text | html | pdf | docx
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    file_id: Mapped[int | None] = mapped_column(default=None)  # the original, in the file store
    text: Mapped[str] = mapped_column(Text)
    clause_count: Mapped[int] = mapped_column(Integer, default=0)
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)  # path -> added|changed|removed
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    created_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_organization.id", ondelete="SET NULL"), default=None
    )


class PolicyClause(Base):
    """One clause of a document version; ``clause_id`` is ``<slug>@<version>#<path>``."""

    __tablename__ = "policy_clause"
    __table_args__ = (UniqueConstraint("document_id", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("policy_document.id", ondelete="CASCADE"), index=True
    )
    clause_id: Mapped[str] = mapped_column(String(200), unique=True)
    path: Mapped[str] = mapped_column(String(120))
    parent_path: Mapped[str | None] = mapped_column(String(120), default=None)
    kind: Mapped[str] = mapped_column(String(20))  # preamble | book … | part | item | point | sub
    label: Mapped[str] = mapped_column(String(40))
    heading: Mapped[str] = mapped_column(String(300), default="")
    context: Mapped[list[Any]] = mapped_column(default=list)  # headings of the levels above
    text: Mapped[str] = mapped_column(Text)
    ordinal: Mapped[int] = mapped_column(Integer)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    # unchanged | changed | added (against the previous version of the document)
    change: Mapped[str] = mapped_column(String(20), default="added")
