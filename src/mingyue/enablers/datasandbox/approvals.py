"""The owner's approval and release review of a sandbox request, as core cases.

A request that needs an owner's consent opens one ``datasandbox.approval`` case in each owning
organization whose policy does not approve it standing; a result whose policy asks for a release
review opens one ``datasandbox.release`` case per such owner. Owners decide through the core case
workflow (``/api/cases``, the ``/cases`` console, ``mingyue cases act``); the hooks below move the
request, which stays the enabler's own row (``datasandbox_request.case_ids`` links its cases,
each case's ``subject`` names the request). All owners approve → the job runs; one rejects →
the request is refused with that owner's reason and the other owners' open cases are closed.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from mingyue.sdk import (
    SYSTEM,
    CaseOut,
    Conflict,
    UnitOfWork,
    enqueue,
    get_case,
    list_cases,
    now,
    open_case,
    transition,
)

from .budget import asked
from .case_kinds import APPROVAL, RELEASE
from .models import SandboxRequest

# Case data is capped by the core (64 KiB); the reviewed result is cut to fit.
_DATA_BUDGET = 48 * 1024
_PARAMS_BUDGET = 8 * 1024


def subject_of(request_id: int) -> str:
    """Return the case subject (and ledger subject) of a request."""
    return f"datasandbox_request:{request_id}"


def _fit(data: dict[str, Any], key: str, items: list[Any]) -> dict[str, Any]:
    """Put as many of ``items`` under ``key`` as the case data budget holds; say if cut."""
    out = {**data, key: list(items), f"{key}_total": len(items)}
    while len(json.dumps(out, default=str)) > _DATA_BUDGET and out[key]:
        out[key] = out[key][: len(out[key]) // 2]
    out[f"{key}_cut"] = len(out[key]) < len(items)
    return out


def _base_data(req: SandboxRequest) -> dict[str, Any]:
    spec = asked(req.spec or {})
    # Bound parameter values are part of what the owner judges; a huge list is flagged instead.
    if len(json.dumps(spec.get("params"), default=str)) > _PARAMS_BUDGET:
        spec["params"], spec["params_cut"] = None, True
    return {
        "request_id": req.id,
        "consumer_org_id": req.organization_id,
        "consumer": req.created_by,
        "request_kind": req.kind,
        "datasets": list(req.datasets),
        "purpose": req.purpose,
        "spec": spec,
    }


def _open(
    uow: UnitOfWork,
    req: SandboxRequest,
    kind: str,
    owners: list[int],
    data: dict[str, Any],
    title: str,
) -> None:
    # The consumer's request opens cases in the owners' organizations: an audited cross-tenant
    # step, taken as the system (members may not open cases for another organization).
    with uow.unscoped(reason=f"datasandbox: open {kind} cases of request {req.id}"):
        ids = list(req.case_ids or [])
        for org in owners:
            case = open_case(
                uow=uow,
                kind=kind,
                organization_id=org,
                actor=SYSTEM,
                subject=subject_of(req.id),
                data=data,
                title=f"{title} #{req.id}: {', '.join(req.datasets)}"[:200],
            )
            ids.append(case.id)
        req.case_ids = ids
        uow.flush()


def open_approval(uow: UnitOfWork, req: SandboxRequest, owners: list[int]) -> None:
    """Wait for the owners' approval: status ``pending_approval`` and one case per owner."""
    req.status = "pending_approval"
    req.updated_at = now()
    data = _base_data(req)
    if req.preview:
        data["executed_sql"] = req.preview.get("executed_sql")
        data["preview"] = {
            k: v for k, v in req.preview.items() if k not in ("outputs", "executed_sql")
        }
        data = _fit(data, "preview_outputs", list(req.preview.get("outputs", [])))
    _open(uow, req, APPROVAL, owners, data, "数据使用审批 / Data-use approval")


def open_release(uow: UnitOfWork, req: SandboxRequest, owners: list[int]) -> None:
    """Hold a computed result for the owners' release review: ``in_review`` and one case each."""
    req.status = "in_review"
    req.updated_at = now()
    uow.audit(
        "datasandbox.request.review_requested",
        subject_of(req.id),
        {"owners": owners},
        organization_id=req.organization_id,
    )
    result = req.result or {}
    data = {**_base_data(req), "epsilon_spent": req.epsilon_spent}
    if "model" in result:
        model = result["model"] or {}
        data["model"] = {
            k: model.get(k) for k in ("template", "metrics", "n_parameters", "rows_used")
        }
        params = model.get("model") or {}
        data = _fit(
            data, "model_parameters", sorted(params.items()) if isinstance(params, dict) else []
        )
    else:
        data = _fit(data, "rows", list(result.get("rows") or []))
    _open(uow, req, RELEASE, owners, data, "结果出域审查 / Release review")


def approve(uow: UnitOfWork, req: SandboxRequest, by: str) -> None:
    """Mark the request approved (owners or a standing policy) and queue its run."""
    req.status = "approved"
    req.decided_by = by
    req.updated_at = now()
    uow.audit(
        "datasandbox.request.approved",
        subject_of(req.id),
        {"by": by},
        organization_id=req.organization_id,
    )
    job = enqueue(
        uow=uow,
        kind="datasandbox.run",
        params={"request_id": req.id},
        organization_id=req.organization_id,
    )
    req.job_id = job.id


def _request(uow: UnitOfWork, case: CaseOut) -> SandboxRequest:
    rid = int((case.data or {}).get("request_id", 0))
    # Locked: two owners deciding at once must not both see the other's case still pending
    # (PostgreSQL; SQLite serialises writers with BEGIN IMMEDIATE).
    req = uow.session.scalars(
        select(SandboxRequest).where(SandboxRequest.id == rid).with_for_update()
    ).first()
    if req is None or case.id not in (req.case_ids or []):
        raise Conflict(
            "datasandbox.case_without_request", "the case names no sandbox request", case_id=case.id
        )
    return req


def _siblings(uow: UnitOfWork, req: SandboxRequest, kind: str) -> list[CaseOut]:
    return [
        c
        for c in list_cases(
            uow=uow, subject=subject_of(req.id), kind=kind, actor=SYSTEM, limit=1000
        )
        if c.id in (req.case_ids or [])
    ]


def _comment(uow: UnitOfWork, case: CaseOut) -> str | None:
    detail = get_case(uow=uow, case_id=case.id, actor=SYSTEM)
    moves = [e for e in detail.events if e.kind == "transition" and e.to_state == case.state]
    return moves[-1].comment if moves else None


def _refuse(
    uow: UnitOfWork,
    req: SandboxRequest,
    case: CaseOut,
    *,
    rule: str,
    event: str,
    message: str,
) -> None:
    by = uow.actor.label()
    comment = _comment(uow, case)
    req.status = "refused"
    req.decided_by = by
    req.result = None
    req.reason = {
        "rule": rule,
        "key": f"datasandbox.{rule}",
        "message": comment or message,
        "params": {"case_id": str(case.id)},
    }
    req.updated_at = now()
    uow.audit(
        event,
        subject_of(req.id),
        {"by": by, "comment": comment, "case_id": case.id, "owner_org_id": case.organization_id},
        organization_id=req.organization_id,
    )
    for other in _siblings(uow, req, case.kind):
        if other.id != case.id and other.closed_at is None:
            transition(
                uow=uow,
                case_id=other.id,
                name="close",
                actor=SYSTEM,
                comment=f"request {req.id} was refused in case {case.id}",
            )


def on_approve(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Case hook: one owner approved; once every owner has, the request runs."""
    with uow.unscoped(reason=f"datasandbox: owner approval in case {case.id}"):
        req = _request(uow, case)
        if req.status != "pending_approval":
            raise Conflict("datasandbox.not_pending", f"request {req.id} is {req.status}")
        if all(c.state == "approved" for c in _siblings(uow, req, APPROVAL)):
            approve(uow, req, uow.actor.label())
        uow.flush()


def on_reject(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Case hook: an owner rejected; the request is refused with the owner's reason."""
    with uow.unscoped(reason=f"datasandbox: owner rejection in case {case.id}"):
        req = _request(uow, case)
        if req.status != "pending_approval":
            raise Conflict("datasandbox.not_pending", f"request {req.id} is {req.status}")
        _refuse(
            uow,
            req,
            case,
            rule="owner.rejected",
            event="datasandbox.request.rejected",
            message="rejected by the data owner",
        )
        uow.flush()


def on_release(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Case hook: one owner released the result; once every reviewer has, it leaves."""
    with uow.unscoped(reason=f"datasandbox: release review in case {case.id}"):
        req = _request(uow, case)
        if req.status != "in_review":
            raise Conflict("datasandbox.not_pending", f"request {req.id} is {req.status}")
        if all(c.state == "released" for c in _siblings(uow, req, RELEASE)):
            req.status = "released"
            req.decided_by = uow.actor.label()
            req.updated_at = now()
            result = req.result or {}
            uow.audit(
                "datasandbox.request.released",
                subject_of(req.id),
                {
                    "by": uow.actor.label(),
                    "case_id": case.id,
                    "rows": len(result.get("rows") or []),
                },
                organization_id=req.organization_id,
            )
        uow.flush()


def on_withhold(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Case hook: an owner withheld the result; the request is refused, the result dropped."""
    with uow.unscoped(reason=f"datasandbox: release review in case {case.id}"):
        req = _request(uow, case)
        if req.status != "in_review":
            raise Conflict("datasandbox.not_pending", f"request {req.id} is {req.status}")
        _refuse(
            uow,
            req,
            case,
            rule="owner.withheld",
            event="datasandbox.request.withheld",
            message="withheld at release review",
        )
        uow.flush()


def on_close(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Case hook: a case closed without a decision refuses a request still waiting on it."""
    waiting = "pending_approval" if case.kind == APPROVAL else "in_review"
    with uow.unscoped(reason=f"datasandbox: case {case.id} closed"):
        req = _request(uow, case)
        if req.status == waiting:
            _refuse(
                uow,
                req,
                case,
                rule="owner.closed",
                event="datasandbox.request.rejected"
                if case.kind == APPROVAL
                else "datasandbox.request.withheld",
                message="the owner's case was closed without a decision",
            )
        uow.flush()


def open_cases_for_owner(*, uow: UnitOfWork) -> list[CaseOut]:
    """Return the open approval and release cases of the actor's organization, oldest first."""
    org = uow.actor.organization_id
    if org is None:
        return []
    out = [
        c
        for kind in (APPROVAL, RELEASE)
        for c in list_cases(uow=uow, kind=kind, open_only=True, limit=200, organization_id=org)
    ]
    return sorted(out, key=lambda c: c.id)
