"""API and CLI shapes of the policy corpus and of answers (pydantic)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field


def clause_url(clause_id: str) -> str:
    """Return the console path of a clause (the id's ``#`` and Chinese are percent-encoded)."""
    return "/policy/clauses/" + quote(clause_id, safe="@")


class DocumentOut(BaseModel):
    """One version of a policy document."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    version: int
    status: str
    title: str
    issuer: str
    doc_number: str
    issued_on: date | None
    effective_from: date | None
    effective_to: date | None
    validity: str
    published: bool
    region: str
    industry_tags: list[str]
    source_name: str
    source_format: str
    sha256: str
    clause_count: int
    superseded_by_id: int | None
    created_at: datetime
    created_by: str
    unchanged: bool = Field(False, description="True: the same file was ingested before")


class ClauseOut(BaseModel):
    """One clause, with where it sits and how it changed from the previous version."""

    clause_id: str
    document_id: int
    doc: str
    slug: str
    version: int
    current: bool
    path: str
    parent_path: str | None
    kind: str
    label: str
    heading: str
    text: str
    change: str
    url: str


class DocumentDetail(DocumentOut):
    """A document version with its clauses and what changed from the previous version."""

    changes: dict[str, str]
    clauses: list[ClauseOut]


class AskIn(BaseModel):
    """A question to the policy corpus."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=2, max_length=500)
    k: int = Field(5, ge=1, le=10, description="Clauses to retrieve")
    mode: Literal["hybrid", "bm25", "dense"] = "hybrid"
    generate: bool = Field(
        False, description="Answer through the configured model endpoint (extractive otherwise)"
    )


class CitationOut(BaseModel):
    """A clause an answer cites; ``highlights`` are [start, end) spans of the question's words."""

    doc: str
    clause_id: str
    text: str
    path: str
    current: bool
    support: float
    highlights: list[tuple[int, int]]
    url: str


class RetrievedOut(BaseModel):
    """One retrieved clause with each ranker's evidence."""

    clause_id: str
    doc: str
    path: str
    rank: int
    score: float
    bm25: float
    cosine: float
    coverage: float


class AnswerOut(BaseModel):
    """An answer that cites its clauses, or says the corpus does not cover the question."""

    question: str
    answer: str
    citations: list[CitationOut]
    covered: bool
    mode: str
    support: float
    threshold: float
    retrieved: list[RetrievedOut]
    dropped_sentences: list[str] = Field(
        default_factory=list, description="Generated sentences dropped for citing no clause"
    )
