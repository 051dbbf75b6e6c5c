"""Store-listing review (上架审核) and algorithm-ethics review (算法伦理审查) as case kinds.

The operator opens a review on a finished scan: the checklist (listing) or the static signals and
questionnaire (ethics) are judged from the scan's report and the package's texts; the operator
answers, declares and attaches evidence (stored uploads); a reviewer decides — per item that
needed evidence, an opinion, accept or return — through the case, and acceptance signs the result
as a credential. Every change writes one audit entry in the same unit of work.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, BinaryIO

from sqlalchemy import select

from mingyue.sdk import (
    Actor,
    CaseOut,
    Conflict,
    InvalidInput,
    UnitOfWork,
    check,
    get_visible,
    issue_credential,
    now,
    open_case,
    store_upload,
    stored_path,
    transition,
)

from .engine import AppcheckError
from .engine.disclosure import read_policy_text
from .engine.ethics import assess, signals
from .engine.listing import RESULTS, load_rules, package_texts, review_listing
from .models import Review, Scan
from .schemas_reviews import AnswersIn, DecisionIn, ReviewOut
from .service import _engine_error

MAX_EVIDENCE_BYTES = 20 * 1024 * 1024
MAX_EVIDENCE_FILES = 50
LISTING_CREDENTIAL = "AppStoreListingReview"
ETHICS_CREDENTIAL = "AlgorithmEthicsReview"
CASE_KINDS = {"listing": "appcheck.listing", "ethics": "appcheck.ethics"}
CASE_TITLES = {
    "listing": "App上架审核 / Store-listing review",
    "ethics": "算法伦理审查 / Algorithm-ethics review",
}


def _out(review: Review) -> ReviewOut:
    return ReviewOut.model_validate(review)


def _policy_text(uow: UnitOfWork, scan: Scan) -> str | None:
    if not scan.policy_file_id:
        return None
    try:
        return read_policy_text(stored_path(uow=uow, file_id=scan.policy_file_id).read_bytes())
    except AppcheckError as exc:
        raise _engine_error(exc) from None


def _judge(uow: UnitOfWork, review: Review, scan: Scan) -> None:
    """(Re)compute the review's results from the scan, the package and the operator's answers."""
    try:
        texts = package_texts(stored_path(uow=uow, file_id=scan.file_id))
    except AppcheckError as exc:
        raise _engine_error(exc) from None
    answers = dict(review.answers or {})
    if review.kind == "listing":
        results = review_listing(
            scan.report or {},
            texts,
            policy_text=_policy_text(uow, scan),
            content_category=answers.get("content_category") or None,
            at=now(),
        )
        review.results = [r.to_dict() for r in results]
    else:
        sig = signals(scan.report or {}, texts)
        review.signals = sig
        review.results = assess(sig, dict(answers.get("questions") or {}))


def open_review(
    *,
    uow: UnitOfWork,
    actor: Actor,
    scan_id: int,
    kind: str,
    content_category: str | None = None,
) -> ReviewOut:
    """Open a listing or ethics review of a finished scan, with its case."""
    scan = get_visible(uow, Scan, scan_id, "appcheck.report.read", key="appcheck.not_found")
    check(actor, "appcheck.review.submit", scan)
    if kind not in CASE_KINDS:
        raise InvalidInput(
            "appcheck.review.bad_kind", "kind must be listing or ethics", field="kind"
        )
    if scan.status != "done":
        raise Conflict("appcheck.report_not_ready", f"scan {scan_id} is {scan.status}")
    _check_category(content_category)
    review = Review(
        organization_id=scan.organization_id,
        kind=kind,
        scan_id=scan.id,
        package=scan.package,
        opened_by=actor.label(),
        answers={"content_category": content_category} if content_category else {},
    )
    _judge(uow, review, scan)
    uow.session.add(review)
    uow.flush()
    case = open_case(
        uow=uow,
        kind=CASE_KINDS[kind],
        organization_id=scan.organization_id,
        title=f"{CASE_TITLES[kind]}: {scan.package or scan.file_name}"[:200],
        subject=f"appcheck_review:{review.id}",
        data={"review_id": review.id, "scan_id": scan.id, "package": scan.package},
    )
    review.case_id = case.id
    uow.flush()
    uow.audit(
        "appcheck.review.opened",
        f"appcheck_review:{review.id}",
        {"kind": kind, "scan_id": scan.id, "case_id": case.id, "summary": _summary(review)},
        organization_id=review.organization_id,
    )
    return _out(review)


def _check_category(category: str | None) -> None:
    if category and category not in load_rules("listing_rules.yaml")["content_categories"]:
        raise InvalidInput(
            "appcheck.review.bad_category",
            f"unknown content category {category!r}",
            field="content_category",
        )


def _open_for_operator(uow: UnitOfWork, actor: Actor, review_id: int) -> Review:
    review = get_review_row(uow=uow, review_id=review_id)
    check(actor, "appcheck.review.submit", review)
    if review.decision:
        raise Conflict(
            "appcheck.review.decided", f"review {review_id} was already {review.decision}"
        )
    return review


def save_answers(*, uow: UnitOfWork, actor: Actor, review_id: int, body: AnswersIn) -> ReviewOut:
    """Save the operator's content category (listing) or questionnaire answers (ethics)."""
    review = _open_for_operator(uow, actor, review_id)
    answers = dict(review.answers or {})
    if review.kind == "listing":
        _check_category(body.content_category)
        if body.content_category is not None:
            answers["content_category"] = body.content_category
    else:
        known = {str(q["id"]) for q in load_rules("ethics_rules.yaml")["questions"]}
        unknown = sorted(set(body.answers) - known)
        if unknown:
            raise InvalidInput(
                "appcheck.review.bad_question",
                f"unknown question(s): {', '.join(unknown)}",
                field="answers",
            )
        qs = dict(answers.get("questions") or {})
        qs.update({k: v.model_dump() for k, v in body.answers.items()})
        answers["questions"] = qs
    review.answers = answers
    scan = get_visible(uow, Scan, review.scan_id, key="appcheck.not_found")
    _judge(uow, review, scan)
    uow.flush()
    uow.audit(
        "appcheck.review.answered",
        f"appcheck_review:{review.id}",
        {"summary": _summary(review), "answered": sorted(body.answers)},
        organization_id=review.organization_id,
    )
    return _out(review)


def add_evidence(
    *,
    uow: UnitOfWork,
    actor: Actor,
    review_id: int,
    item: str,
    data: bytes | BinaryIO,
    filename: str,
) -> ReviewOut:
    """Attach one evidence file (a screenshot, the filing certificate) to a review item."""
    review = _open_for_operator(uow, actor, review_id)
    if item not in {str(r["id"]) for r in review.results}:
        raise InvalidInput("appcheck.review.bad_item", f"unknown item {item!r}", field="item")
    if len(review.evidence) >= MAX_EVIDENCE_FILES:
        raise InvalidInput(
            "appcheck.review.too_much_evidence",
            f"at most {MAX_EVIDENCE_FILES} evidence files per review",
            field="file",
        )
    stored = store_upload(
        uow=uow,
        upload=data,
        filename=filename or "evidence",
        max_bytes=MAX_EVIDENCE_BYTES,
        purpose="appcheck_evidence",
        organization_id=review.organization_id,
    )
    if stored.size == 0:
        raise InvalidInput("appcheck.review.empty_file", "the evidence file is empty", field="file")
    review.evidence = [
        *review.evidence,
        {
            "item": item,
            "file_id": stored.id,
            "name": stored.filename,
            "sha256": stored.sha256,
            "size": stored.size,
            "by": actor.label(),
            "at": now().isoformat(),
        },
    ]
    uow.flush()
    uow.audit(
        "appcheck.review.evidence_added",
        f"appcheck_review:{review.id}",
        {"item": item, "file_id": stored.id, "sha256": stored.sha256},
        organization_id=review.organization_id,
    )
    return _out(review)


def decide(*, uow: UnitOfWork, actor: Actor, review_id: int, body: DecisionIn) -> ReviewOut:
    """The reviewer's decision: results of items that needed evidence, opinion, accept/return."""
    review = get_review_row(uow=uow, review_id=review_id)
    check(actor, "appcheck.review.decide", review)
    if review.decision:
        raise Conflict(
            "appcheck.review.decided", f"review {review_id} was already {review.decision}"
        )
    pending = {str(r["id"]) for r in review.results if r.get("result") == "needs_evidence"}
    unknown = sorted(set(body.items) - pending)
    if unknown:
        raise InvalidInput(
            "appcheck.review.bad_item",
            f"only items that need evidence take a reviewer's result: {', '.join(unknown)}",
            field="items",
        )
    opinion = body.opinion.strip()
    if body.decision == "return" and not opinion:
        raise InvalidInput(
            "appcheck.review.opinion_required", "say why the review is returned", field="opinion"
        )
    review.item_decisions = dict(body.items)
    review.opinion = opinion
    uow.flush()
    if review.case_id is None:
        raise Conflict("appcheck.review.no_case", "the review has no case")
    transition(
        uow=uow,
        case_id=review.case_id,
        name=body.decision,
        comment=opinion or None,
        actor=actor,
    )
    return _out(review)


def final_results(review: Review) -> dict[str, str]:
    """Return each item's result after the reviewer's decisions."""
    return {
        str(r["id"]): review.item_decisions.get(str(r["id"]), str(r["result"]))
        for r in review.results
    }


def _summary(review: Review) -> dict[str, int]:
    res = final_results(review)
    return {k: sum(1 for v in res.values() if v == k) for k in RESULTS}


def _review_of_case(uow: UnitOfWork, case: CaseOut) -> Review:
    review_id = int((case.data or {}).get("review_id", 0))
    review = uow.session.scalars(select(Review).where(Review.id == review_id)).first()
    if review is None:
        raise Conflict("appcheck.review.case_without_review", "the case names no review")
    return review


def _sign(uow: UnitOfWork, case: CaseOut) -> None:
    review = _review_of_case(uow, case)
    scan = uow.session.scalars(select(Scan).where(Scan.id == review.scan_id)).one()
    results = final_results(review)
    body = {
        "results": review.results,
        "answers": review.answers,
        "signals": review.signals,
        "item_decisions": review.item_decisions,
    }
    subject = {
        "review_id": review.id,
        "kind": review.kind,
        "package": review.package,
        "version_name": str((scan.report or {}).get("version_name") or ""),
        "apk_sha256": scan.sha256,
        "scan_id": scan.id,
        "results": results,
        "summary": _summary(review),
        "review_sha256": hashlib.sha256(
            json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
        ).hexdigest(),
        "evidence_sha256": [e["sha256"] for e in review.evidence],
        "opinion": review.opinion,
        "reviewed_by": uow.actor.label(),
        "case_id": case.id,
    }
    public = ("kind", "package", "version_name", "apk_sha256", "results", "summary")
    if review.kind == "listing":
        vc = issue_credential(
            uow=uow,
            type=LISTING_CREDENTIAL,
            subject=subject,
            organization_id=review.organization_id,
            public_fields=public,
        )
    else:
        vc = issue_credential(
            uow=uow,
            type=ETHICS_CREDENTIAL,
            subject=subject,
            organization_id=review.organization_id,
            public_fields=public,
        )
    review.credential_id = vc.id
    review.decision = "accepted"
    uow.flush()
    uow.audit(
        "appcheck.review.signed",
        f"appcheck_review:{review.id}",
        {"kind": review.kind, "credential_id": vc.id, "summary": subject["summary"]},
        organization_id=review.organization_id,
    )


def _return(uow: UnitOfWork, case: CaseOut) -> None:
    review = _review_of_case(uow, case)
    review.decision = "returned"
    uow.flush()
    uow.audit(
        "appcheck.review.returned",
        f"appcheck_review:{review.id}",
        {"kind": review.kind, "case_id": case.id},
        organization_id=review.organization_id,
    )


def on_listing_accept(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Case hook: sign the listing review on acceptance."""
    _sign(uow, case)


def on_listing_return(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Case hook: mark the listing review returned."""
    _return(uow, case)


def on_ethics_accept(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Case hook: sign the ethics review on acceptance."""
    _sign(uow, case)


def on_ethics_return(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Case hook: mark the ethics review returned."""
    _return(uow, case)


def get_review_row(*, uow: UnitOfWork, review_id: int) -> Review:
    """Load a review the actor may see (NotFound if absent or foreign)."""
    return get_visible(
        uow, Review, review_id, "appcheck.report.read", key="appcheck.review.not_found"
    )


def get_review(*, uow: UnitOfWork, actor: Actor, review_id: int) -> ReviewOut:
    """Return one review the actor may see."""
    return _out(get_review_row(uow=uow, review_id=review_id))


def list_reviews(*, uow: UnitOfWork, actor: Actor, limit: int = 100) -> list[ReviewOut]:
    """List the reviews the actor may see, newest first."""
    check(actor, "appcheck.report.read")
    rows = uow.session.scalars(select(Review).order_by(Review.id.desc()).limit(limit)).all()
    return [_out(r) for r in rows]


def evidence_path(*, uow: UnitOfWork, actor: Actor, review_id: int, file_id: int) -> Any:
    """Return (path, name) of one evidence file of a review the actor may see."""
    review = get_review_row(uow=uow, review_id=review_id)
    for e in review.evidence:
        if int(e["file_id"]) == file_id:
            return stored_path(uow=uow, file_id=file_id), str(e["name"])
    raise InvalidInput("appcheck.review.bad_item", "no such evidence file", field="file_id")


def questionnaire() -> list[dict[str, Any]]:
    """The ethics questionnaire (for forms)."""
    return [dict(q) for q in load_rules("ethics_rules.yaml")["questions"]]


def content_categories() -> list[str]:
    """The content categories an operator may declare."""
    return [str(c) for c in load_rules("listing_rules.yaml")["content_categories"]]
