"""The ask page (Q&A that cites its clauses) and the page of one clause."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from mingyue.enablers.policy.schemas_corpus import AskIn
from mingyue.enablers.policy.service import corpus, push, qa
from mingyue.enablers.policy.service.common import READ
from mingyue.sdk import check, unit_of_work
from mingyue.sdk.errors import InvalidInput, MingyueError
from mingyue.web.console import ConsoleActor, settings_of

from .common import is_enterprise, page

router = APIRouter(include_in_schema=False)

SAMPLES = (
    "明月湖的中小企业能免费使用算力吗？",
    "在新三板挂牌有什么奖励？",
    "员工租房补贴怎么申请？",
)


def segments(text: str, spans: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    """Split a clause's text into plain and highlighted runs (the question's words)."""
    out: list[tuple[str, bool]] = []
    at = 0
    for start, end in sorted(spans):
        start, end = max(start, at), min(end, len(text))
        if start >= end:
            continue
        if start > at:
            out.append((text[at:start], False))
        out.append((text[start:end], True))
        at = end
    if at < len(text):
        out.append((text[at:], False))
    return out


@router.get("", response_class=HTMLResponse)
def index(
    request: Request,
    actor: ConsoleActor,
    q: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Ask a question of the policy corpus; an enterprise also sees the measures it may use."""
    check(actor, READ)
    answer: Any = None
    failed: MingyueError | None = None
    question = " ".join((q or "").split())
    with unit_of_work(actor, settings_of(request)) as uow:
        if question:
            try:
                if len(question) < 2:
                    raise InvalidInput("policy.bad_question", "ask a question", field="q")
                answer = qa.ask(uow=uow, actor=actor, body=AskIn(question=question))
            except MingyueError as exc:
                failed = exc
        mine = None
        unread = 0
        if is_enterprise(actor):
            mine = [
                m
                for m in push.eligibility(uow=uow, actor=actor)
                if m.verdict in ("eligible", "likely")
            ]
            unread = push.unread_count(uow=uow, actor=actor)
    return page(
        request,
        "policy/index.html",
        {
            "q": question,
            "answer": answer,
            "segments": segments,
            "mine": mine,
            "unread": unread,
            "samples": SAMPLES,
        },
        failed,
    )


@router.get("/clauses/{clause_id:path}", response_class=HTMLResponse)
def clause(
    request: Request,
    actor: ConsoleActor,
    clause_id: Annotated[str, Path(max_length=200)],
) -> Response:
    """One clause: its text, its document, its place; the stable page every citation links to."""
    with unit_of_work(actor, settings_of(request)) as uow:
        c = corpus.get_clause(uow=uow, actor=actor, clause_id=clause_id)
        measures = [m for m in push.list_measures(actor=actor) if m.clause_id == c.clause_id]
    return page(request, "policy/clause.html", {"c": c, "measures": measures})
