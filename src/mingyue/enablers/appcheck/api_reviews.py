"""REST routes of listing / ethics reviews and release history (included by :mod:`.api`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile

from mingyue.sdk import Actor
from mingyue.web.deps import UoW, require

from . import service_releases, service_reviews
from .schemas_reviews import AnswersIn, AppHistoryOut, DecisionIn, ReviewIn, ReviewOut

router = APIRouter(tags=["appcheck"])


@router.post("/reviews", operation_id="appcheck-open_review", status_code=201)
def open_review(
    body: ReviewIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("appcheck.review.submit"))],
) -> ReviewOut:
    """Open a store-listing or algorithm-ethics review of a finished scan (opens its case)."""
    return service_reviews.open_review(
        uow=uow,
        actor=actor,
        scan_id=body.scan_id,
        kind=body.kind,
        content_category=body.content_category,
    )


@router.get("/reviews", operation_id="appcheck-list_reviews")
def list_reviews(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("appcheck.report.read"))],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ReviewOut]:
    """List reviews, newest first."""
    return service_reviews.list_reviews(uow=uow, actor=actor, limit=limit)


@router.get("/reviews/{review_id}", operation_id="appcheck-get_review")
def get_review(
    review_id: int, uow: UoW, actor: Annotated[Actor, Depends(require("appcheck.report.read"))]
) -> ReviewOut:
    """Return one review with its results, answers, evidence and decision."""
    return service_reviews.get_review(uow=uow, actor=actor, review_id=review_id)


@router.put("/reviews/{review_id}/answers", operation_id="appcheck-save_review_answers")
def save_answers(
    review_id: int,
    body: AnswersIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("appcheck.review.submit"))],
) -> ReviewOut:
    """Save the content category (listing) or questionnaire answers (ethics); re-judge."""
    return service_reviews.save_answers(uow=uow, actor=actor, review_id=review_id, body=body)


@router.post(
    "/reviews/{review_id}/evidence", operation_id="appcheck-add_review_evidence", status_code=201
)
def add_evidence(
    review_id: int,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("appcheck.review.submit"))],
    item: Annotated[str, Form(max_length=40)],
    file: Annotated[UploadFile, File(description="screenshot, filing certificate, PDF")],
) -> ReviewOut:
    """Attach one evidence file to a review item."""
    return service_reviews.add_evidence(
        uow=uow,
        actor=actor,
        review_id=review_id,
        item=item,
        data=file.file,
        filename=file.filename or "evidence",
    )


@router.post("/reviews/{review_id}/decision", operation_id="appcheck-decide_review")
def decide(
    review_id: int,
    body: DecisionIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("appcheck.review.decide"))],
) -> ReviewOut:
    """The reviewer's decision: item results, opinion, accept (signs) or return."""
    return service_reviews.decide(uow=uow, actor=actor, review_id=review_id, body=body)


@router.get("/apps/{package}/releases", operation_id="appcheck-app_history")
def app_history(
    package: str,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("appcheck.report.read"))],
    org: Annotated[int | None, Query(ge=1)] = None,
) -> AppHistoryOut:
    """Release history of one App: SDKs with versions, diffs between releases, watch-list hits."""
    return service_releases.app_history(uow=uow, actor=actor, package=package, organization_id=org)
