"""REST API of the policy corpus and Q&A (included by api.py under /api/policy)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile

from mingyue.enablers.policy.schemas_corpus import (
    AnswerOut,
    AskIn,
    ClauseOut,
    DocumentDetail,
    DocumentOut,
)
from mingyue.enablers.policy.service import corpus, qa
from mingyue.enablers.policy.settings import options
from mingyue.sdk import Actor
from mingyue.sdk.errors import InvalidInput, PayloadTooLarge
from mingyue.web.deps import IdPath, UoW, require

router = APIRouter(tags=["policy"])

Reader = Annotated[Actor, Depends(require("policy.read"))]
Manager = Annotated[Actor, Depends(require("policy.corpus.manage"))]


@router.post("/documents", operation_id="policy-ingest_document", status_code=201)
def ingest_document(
    uow: UoW,
    actor: Manager,
    file: Annotated[UploadFile, File(description="The document: text, HTML, PDF or DOCX.")],
    slug: Annotated[
        str | None, Form(max_length=80, description="Names the document (a-z, 0-9, '-')")
    ] = None,
    format: Annotated[
        str | None, Form(max_length=10, description="text | html | pdf | docx (sniffed if absent)")
    ] = None,
    region: Annotated[str | None, Form(max_length=80)] = None,
) -> DocumentOut:
    """Ingest a policy document; a changed file under the same slug becomes its next version."""
    cap = options(uow.settings).max_document_bytes
    data = file.file.read(cap + 1)
    if len(data) > cap:
        raise PayloadTooLarge("policy.document_too_large", f"document is over {cap} bytes")
    return corpus.ingest_document(
        uow=uow,
        actor=actor,
        data=data,
        filename=file.filename or "document",
        slug=slug or None,
        fmt=format or None,
        region=region,
    )


@router.get("/documents", operation_id="policy-list_documents")
def list_documents(
    uow: UoW, actor: Reader, include_superseded: Annotated[bool, Query()] = False
) -> list[DocumentOut]:
    """Policy documents, newest first (current versions unless ``include_superseded``)."""
    return corpus.list_documents(uow=uow, actor=actor, include_superseded=include_superseded)


@router.get("/documents/{document_id}", operation_id="policy-get_document")
def get_document(document_id: IdPath, uow: UoW, actor: Reader) -> DocumentDetail:
    """One document version with its clauses and its changes from the previous version."""
    return corpus.get_document(uow=uow, actor=actor, document_id=document_id)


@router.get("/clauses/{clause_id:path}", operation_id="policy-get_clause")
def get_clause(
    clause_id: Annotated[str, Path(max_length=200, description="<slug>@<version>#<path>")],
    uow: UoW,
    actor: Reader,
) -> ClauseOut:
    """One clause by its id (percent-encode the '#')."""
    if "@" not in clause_id or "#" not in clause_id:
        raise InvalidInput(
            "policy.bad_clause_id", "a clause id reads <slug>@<version>#<path>", field="clause_id"
        )
    return corpus.get_clause(uow=uow, actor=actor, clause_id=clause_id)


@router.post("/ask", operation_id="policy-ask")
def ask(body: AskIn, uow: UoW, actor: Reader) -> AnswerOut:
    """Answer a question with the clauses that support it, or say it is not covered."""
    return qa.ask(uow=uow, actor=actor, body=body)
