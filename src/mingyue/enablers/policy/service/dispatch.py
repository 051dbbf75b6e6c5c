"""Request dispatch (事件智能分拨): classify an enterprise's request and open the department's case.

The classifier (``engine.dispatch``) is trained once per process on the shipped examples and
duties. When both heads are confident enough (``MINGYUE_POLICY__DISPATCH_DEPARTMENT_MIN`` and
``…_KIND_MIN``) the request is dispatched at once: a case of the predicted kind opens with that
kind's time limits, for the department; otherwise it waits on the dispatch desk, where a person
(``policy.request.dispatch``) picks the department and kind. A department that returns a request
sends it back to the desk.
"""

from __future__ import annotations

import threading
from functools import lru_cache

from sqlalchemy import select

from mingyue.enablers.policy.cases import REQUEST_KINDS
from mingyue.enablers.policy.engine.dispatch import (
    Dispatcher,
    Evaluation,
    HeadReport,
    SetReport,
    clean,
    evaluate,
    load_duties,
    load_examples,
)
from mingyue.enablers.policy.models_service import PolicyRequest
from mingyue.enablers.policy.schemas_service import (
    DispatchIn,
    DispatchReportOut,
    HeadOut,
    RankedOut,
    RequestIn,
    RequestOut,
    SetOut,
)
from mingyue.enablers.policy.service.common import (
    READ,
    REQUEST_DISPATCH,
    REQUEST_SUBMIT,
    RULES,
    departments,
)
from mingyue.enablers.policy.settings import PolicySettings, options
from mingyue.sdk import (
    Actor,
    Settings,
    UnitOfWork,
    check,
    get_visible,
    now,
    open_case,
    require_org,
)
from mingyue.sdk.errors import Conflict, InvalidInput

_lock = threading.Lock()


@lru_cache(maxsize=1)
def classifier() -> Dispatcher:
    """Return the classifier trained on the shipped examples and duties (once per process)."""
    with _lock:
        deps = list(departments())
        return Dispatcher(
            load_examples(RULES / "dispatch_examples.jsonl", deps),
            load_duties(RULES / "department_duties.yaml", deps),
        )


@lru_cache(maxsize=4)
def _evaluation(department_min: float, kind_min: float) -> tuple[Evaluation, int]:
    deps = list(departments())
    examples = load_examples(RULES / "dispatch_examples.jsonl", deps)
    ev = evaluate(
        examples,
        deps,
        duties=load_duties(RULES / "department_duties.yaml", deps),
        department_min=department_min,
        kind_min=kind_min,
        blind=load_examples(RULES / "dispatch_blind.jsonl", deps),
    )
    return ev, len(examples)


def _head(h: HeadReport) -> HeadOut:
    return HeadOut(
        accuracy=h.accuracy,
        macro_f1=h.macro_f1,
        labels=list(h.labels),
        confusion=[list(r) for r in h.confusion],
    )


def _set(s: SetReport) -> SetOut:
    return SetOut(
        size=s.size,
        department=_head(s.department),
        kind=_head(s.kind),
        auto_share=s.auto_share,
        auto_accuracy=s.auto_accuracy,
        auto_both_correct=s.auto_both_correct,
    )


def model_report(*, actor: Actor, settings: Settings) -> DispatchReportOut:
    """Return the classifier's held-out figures at the configured thresholds (computed once)."""
    check(actor, READ)
    return evaluation_report(options(settings))


def evaluation_report(opts: PolicySettings) -> DispatchReportOut:
    """Return the held-out figures at these options' thresholds (no database: the CLI)."""
    ev, n = _evaluation(opts.dispatch_department_min, opts.dispatch_kind_min)
    return DispatchReportOut(
        model_version=classifier().version,
        examples=n,
        train=ev.train,
        duties=ev.duties,
        department_min=ev.department_min,
        kind_min=ev.kind_min,
        cv_department_accuracy=ev.cv_department_accuracy,
        held_out=_set(ev.held_out),
        blind=_set(ev.blind) if ev.blind else None,
    )


def _out(row: PolicyRequest) -> RequestOut:
    return RequestOut.model_validate(
        {
            **{k: getattr(row, k) for k in RequestOut.model_fields if k != "ranked"},
            "ranked": [RankedOut(department=d, probability=p) for d, p in row.ranked or []],
        }
    )


def _open(uow: UnitOfWork, row: PolicyRequest, department: str, kind: str, by: str) -> None:
    title, _sign, _answer = REQUEST_KINDS[kind]
    dept = departments()[department]
    short = row.text if len(row.text) <= 60 else row.text[:59] + "…"
    case = open_case(
        uow=uow,
        kind=f"policy.request_{kind}",
        title=f"{dept['zh']}·{title['zh']}：{short}",
        organization_id=row.organization_id,
        subject=f"policy_request:{row.id}",
        data={"request_id": row.id, "department": department, "kind": kind},
    )
    row.department, row.kind = department, kind
    row.status = "dispatched"
    row.dispatched_by = by
    row.dispatched_at = now()
    row.case_id = case.id
    row.reason_key = None
    row.reason_text = None
    uow.flush()
    uow.audit(
        "policy.request.dispatched",
        f"policy_request:{row.id}",
        {"department": department, "kind": kind, "case_id": case.id, "by": by},
        organization_id=row.organization_id,
    )


def submit_request(*, uow: UnitOfWork, actor: Actor, body: RequestIn) -> RequestOut:
    """File an enterprise's request; dispatch it at once when the classifier is confident."""
    org_id = require_org(actor)
    check(actor, REQUEST_SUBMIT, _Target(org_id))
    text = clean(body.text)
    model = classifier()
    p = model.predict(text)
    opts = options(uow.settings)
    row = PolicyRequest(
        organization_id=org_id,
        created_by=actor.label(),
        text=text,
        status="review",
        predicted_department=p.department,
        department_confidence=p.department_confidence,
        predicted_kind=p.kind,
        kind_confidence=p.kind_confidence,
        ranked=[[d, prob] for d, prob in p.ranked],
        model_version=model.version,
    )
    uow.session.add(row)
    uow.flush()
    confident = p.confident(opts.dispatch_department_min, opts.dispatch_kind_min)
    uow.audit(
        "policy.request.submitted",
        f"policy_request:{row.id}",
        {
            "predicted": p.department,
            "confidence": p.department_confidence,
            "kind": p.kind,
            "kind_confidence": p.kind_confidence,
            "auto": confident,
            "model": model.version,
        },
        organization_id=org_id,
    )
    if confident:
        _open(uow, row, p.department, p.kind, "auto")
    else:
        row.reason_key = "policy.request.low_confidence"
        row.reason_text = (
            f"department {p.department_confidence:.2f} / kind {p.kind_confidence:.2f} "
            "below the thresholds"
        )
    return _out(row)


def dispatch_request(
    *, uow: UnitOfWork, actor: Actor, request_id: int, body: DispatchIn
) -> RequestOut:
    """A dispatcher routes a request waiting on the desk to a department, with its kind."""
    check(actor, REQUEST_DISPATCH)
    row = get_visible(uow, PolicyRequest, request_id, key="policy.request.not_found")
    check(actor, REQUEST_DISPATCH, row)
    if body.department not in departments():
        raise InvalidInput(
            "policy.request.bad_department",
            f"unknown department {body.department!r}",
            field="department",
        )
    if row.status != "review":
        raise Conflict("policy.request.not_waiting", "the request is not waiting for a dispatcher")
    _open(uow, row, body.department, body.kind, actor.label())
    return _out(row)


def list_requests(
    *, uow: UnitOfWork, actor: Actor, status: str | None = None, limit: int = 200
) -> list[RequestOut]:
    """Return the requests in scope (an enterprise: its own; the desk: all), newest first."""
    check(actor, READ)
    if not 1 <= limit <= 1000:
        raise InvalidInput("policy.bad_limit", "limit must be 1..1000", field="limit")
    q = select(PolicyRequest)
    if status:
        if status not in ("review", "dispatched", "answered"):
            raise InvalidInput("policy.request.bad_status", "unknown status", field="status")
        q = q.where(PolicyRequest.status == status)
    rows = uow.session.scalars(q.order_by(PolicyRequest.id.desc()).limit(limit)).all()
    return [_out(r) for r in rows]


def get_request(*, uow: UnitOfWork, actor: Actor, request_id: int) -> RequestOut:
    """Return one request (NotFound when absent or another enterprise's)."""
    check(actor, READ)
    return _out(get_visible(uow, PolicyRequest, request_id, key="policy.request.not_found"))


class _Target:
    def __init__(self, organization_id: int) -> None:
        self.organization_id = organization_id
