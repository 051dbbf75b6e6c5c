"""Console pages of listing / ethics reviews and of an App's release history (included by
:mod:`.console`). Every form is Post/Redirect/Get with a one-time form key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from mingyue.sdk import InvalidInput, can
from mingyue.web.console import (
    ConsoleActor,
    csrf_protect,
    form_done,
    form_once,
    locale_of,
    new_form_key,
    render,
)
from mingyue.web.deps import UoW

from . import service, service_releases, service_reviews
from .schemas_reviews import AnswerIn, AnswersIn, DecisionIn

router = APIRouter(include_in_schema=False)

#: message keys of the values shown as badges (listed so the i18n contract sees every key)
RESULT_KEYS = {
    "pass": "appcheck.review.result.pass",
    "fail": "appcheck.review.result.fail",
    "needs_evidence": "appcheck.review.result.needs_evidence",
}
DECISION_KEYS = {
    "": "appcheck.review.decision.pending",
    "accepted": "appcheck.review.decision.accepted",
    "returned": "appcheck.review.decision.returned",
}
KIND_KEYS = {"listing": "appcheck.review.kind.listing", "ethics": "appcheck.review.kind.ethics"}
ANSWER_KEYS = {
    "yes": "appcheck.review.answer.yes",
    "no": "appcheck.review.answer.no",
    "na": "appcheck.review.answer.na",
}
SIGNAL_KEYS = {
    "recommendation": "appcheck.review.signal.recommendation",
    "ab_testing": "appcheck.review.signal.ab_testing",
    "face_swap": "appcheck.review.signal.face_swap",
    "aigc": "appcheck.review.signal.aigc",
    "personalisation_switch": "appcheck.review.signal.personalisation_switch",
    "ai_label": "appcheck.review.signal.ai_label",
    "user_tags": "appcheck.review.signal.user_tags",
    "minors_mode": "appcheck.review.signal.minors_mode",
    "elderly_mode": "appcheck.review.signal.elderly_mode",
}
HISTORY_KEYS = {
    k: f"appcheck.history.{k}"
    for k in (
        "sdks_added",
        "sdks_removed",
        "permissions_added",
        "permissions_removed",
        "findings_added",
        "findings_removed",
        "undisclosed_added",
        "sdk_versions_changed",
    )
}
CATEGORY_KEYS = {c: f"appcheck.review.category.{c}" for c in service_reviews.content_categories()}
_KEYS = {
    "result": RESULT_KEYS,
    "decision": DECISION_KEYS,
    "kind": KIND_KEYS,
    "answer": ANSWER_KEYS,
    "signal": SIGNAL_KEYS,
    "category": CATEGORY_KEYS,
    "history": HISTORY_KEYS,
}


async def _form_fields(request: Request) -> dict[str, str]:
    """The submitted form's text fields (one value each), for forms with per-item field names."""
    form = await request.form()
    return {str(k): str(v) for k, v in form.multi_items() if isinstance(v, str)}


FormFields = Annotated[dict[str, str], Depends(_form_fields)]


def _lang(request: Request) -> str:
    return "zh" if locale_of(request) == "zh_CN" else "en"


@router.get("/reviews", response_class=HTMLResponse)
def reviews(request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """List listing / ethics reviews; operators get a form to open one on a finished scan."""
    scans = [s for s in service.list_scans(uow=uow, actor=actor) if s.status == "done"]
    return render(
        request,
        "appcheck/reviews.html",
        {
            "reviews": service_reviews.list_reviews(uow=uow, actor=actor),
            "scans": scans,
            "can_submit": can(actor, "appcheck.review.submit"),
            "form_key": new_form_key(),
            "keys": _KEYS,
            "lang": _lang(request),
            "selected": request.query_params.get("scan", ""),
        },
    )


@router.post("/reviews", dependencies=[Depends(csrf_protect)])
def open_review(
    uow: UoW,
    actor: ConsoleActor,
    scan_id: Annotated[int, Form()],
    kind: Annotated[str, Form(max_length=16)],
    form_key: Annotated[str | None, Form(max_length=100)] = None,
    content_category: Annotated[str | None, Form(max_length=40)] = None,
) -> Response:
    """Open a review once and go to its page."""
    if (seen := form_once(uow, actor, form_key)) is not None:
        return RedirectResponse(seen, status_code=303)
    out = service_reviews.open_review(
        uow=uow,
        actor=actor,
        scan_id=scan_id,
        kind=kind,
        content_category=content_category or None,
    )
    location = f"/appcheck/reviews/{out.id}"
    form_done(uow, str(form_key), location)
    return RedirectResponse(location, status_code=303)


@router.get("/reviews/{review_id}", response_class=HTMLResponse)
def review_page(review_id: int, request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """One review: results with evidence and citations, the operator's forms, the decision."""
    review = service_reviews.get_review(uow=uow, actor=actor, review_id=review_id)
    open_ = not review.decision
    return render(
        request,
        "appcheck/review.html",
        {
            "review": review,
            "questions": service_reviews.questionnaire(),
            "categories": service_reviews.content_categories(),
            "final": {
                str(r["id"]): review.item_decisions.get(str(r["id"]), str(r["result"]))
                for r in review.results
            },
            "pending": [r for r in review.results if r["result"] == "needs_evidence"],
            "can_submit": open_ and can(actor, "appcheck.review.submit"),
            "can_decide": open_ and can(actor, "appcheck.review.decide"),
            "form_key": new_form_key(),
            "keys": _KEYS,
            "lang": _lang(request),
        },
    )


@router.post("/reviews/{review_id}/answers", dependencies=[Depends(csrf_protect)])
def save_answers(review_id: int, form: FormFields, uow: UoW, actor: ConsoleActor) -> Response:
    """Save the content category or the questionnaire answers (``q.<id>``, ``note.<id>``)."""
    form_key = str(form.get("form_key") or "") or None
    if (seen := form_once(uow, actor, form_key)) is not None:
        return RedirectResponse(seen, status_code=303)
    answers: dict[str, AnswerIn] = {}
    for q in service_reviews.questionnaire():
        qid = str(q["id"])
        value = str(form.get(f"q.{qid}") or "")
        if value in ANSWER_KEYS:
            note = str(form.get(f"note.{qid}") or "")[:1000]
            answers[qid] = AnswerIn(answer=value, note=note)
    category = str(form.get("content_category") or "") or None
    service_reviews.save_answers(
        uow=uow,
        actor=actor,
        review_id=review_id,
        body=AnswersIn(content_category=category, answers=answers),
    )
    location = f"/appcheck/reviews/{review_id}"
    form_done(uow, str(form_key), location)
    return RedirectResponse(location, status_code=303)


@router.post("/reviews/{review_id}/evidence", dependencies=[Depends(csrf_protect)])
def add_evidence(
    review_id: int,
    uow: UoW,
    actor: ConsoleActor,
    item: Annotated[str, Form(max_length=40)],
    file: Annotated[UploadFile, File()],
    form_key: Annotated[str | None, Form(max_length=100)] = None,
) -> Response:
    """Attach one evidence file to an item once."""
    if (seen := form_once(uow, actor, form_key)) is not None:
        return RedirectResponse(seen, status_code=303)
    service_reviews.add_evidence(
        uow=uow,
        actor=actor,
        review_id=review_id,
        item=item,
        data=file.file,
        filename=file.filename or "evidence",
    )
    location = f"/appcheck/reviews/{review_id}"
    form_done(uow, str(form_key), location)
    return RedirectResponse(location, status_code=303)


@router.get("/reviews/{review_id}/evidence/{file_id}")
def evidence_file(review_id: int, file_id: int, uow: UoW, actor: ConsoleActor) -> Response:
    """Download one evidence file of a review."""
    path, name = service_reviews.evidence_path(
        uow=uow, actor=actor, review_id=review_id, file_id=file_id
    )
    return FileResponse(path, filename=name, media_type="application/octet-stream")


@router.post("/reviews/{review_id}/decision", dependencies=[Depends(csrf_protect)])
def decide(review_id: int, form: FormFields, uow: UoW, actor: ConsoleActor) -> Response:
    """The reviewer's decision (``decision``, ``opinion``, ``item.<id>`` = pass|fail)."""
    form_key = str(form.get("form_key") or "") or None
    if (seen := form_once(uow, actor, form_key)) is not None:
        return RedirectResponse(seen, status_code=303)
    decision = str(form.get("decision") or "")
    if decision not in ("accept", "return"):
        raise InvalidInput(
            "appcheck.review.bad_decision", "choose accept or return", field="decision"
        )
    items = {
        str(k)[5:]: str(v)
        for k, v in form.items()
        if k.startswith("item.") and v in ("pass", "fail")
    }
    service_reviews.decide(
        uow=uow,
        actor=actor,
        review_id=review_id,
        body=DecisionIn(
            decision=decision,
            opinion=str(form.get("opinion") or "")[:4000],
            items=items,
        ),
    )
    location = f"/appcheck/reviews/{review_id}"
    form_done(uow, str(form_key), location)
    return RedirectResponse(location, status_code=303)


@router.get("/apps/{package}", response_class=HTMLResponse)
def app_history(package: str, request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """The App's release timeline: versions, SDKs with versions, what changed, watch-list hits."""
    org = request.query_params.get("org")
    history = service_releases.app_history(
        uow=uow,
        actor=actor,
        package=package,
        organization_id=int(org) if org and org.isdigit() else None,
    )
    return render(
        request,
        "appcheck/app_history.html",
        {"history": history, "lang": _lang(request), "keys": _KEYS},
    )
