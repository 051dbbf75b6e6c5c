"""Console pages: catalogue with mock previews, requests, the owner's open cases, budget charts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from mingyue.sdk import MingyueError, RecordedRefusal, can, check, unit_of_work
from mingyue.web.console import ConsoleActor, csrf_protect, render

from . import service
from .schemas import RequestOut
from .sources.console import router as sources_router

router = APIRouter(include_in_schema=False)


def _page(
    request: Request, actor: ConsoleActor, error: str | None = None, submitted: object = None
) -> Response:
    check(actor, "datasandbox.dataset.read")
    with unit_of_work(actor, request.app.state.settings) as uow:
        datasets = service.list_datasets(uow=uow, actor=actor)
        requests = service.list_requests(uow=uow, actor=actor, limit=50)
        budgets = service.budgets(uow=uow, actor=actor)
        pending = (
            service.pending_for_owner(uow=uow, actor=actor)
            if can(actor, "datasandbox.request.decide")
            else []
        )
        ledger = service.charges(uow=uow, actor=actor)
    statuses: dict[str, int] = {}
    for r in requests:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    return render(
        request,
        "datasandbox/index.html",
        {
            "datasets": datasets,
            "requests": requests,
            "budgets": budgets,
            "pending": pending,
            "error": error,
            "submitted": submitted,
            "can_query": can(actor, "datasandbox.query.submit"),
            "chart": {
                "datasets": [b.dataset for b in budgets],
                "spent": [round(b.spent, 4) for b in budgets],
                "left": [round(max(b.left, 0), 4) for b in budgets],
                "ledger_x": [c["at"][:19] for c in ledger],
                "ledger_y": [c["epsilon"] for c in ledger],
                "status_names": list(statuses),
                "status_counts": list(statuses.values()),
            },
        },
        status_code=422 if error else 200,
    )


@router.get("", response_class=HTMLResponse)
def index(request: Request, actor: ConsoleActor) -> Response:
    """Catalogue, requests, the owner's open approval/release cases and the budget charts."""
    return _page(request, actor)


@router.get("/datasets/{name}", response_class=HTMLResponse)
def dataset_page(name: str, request: Request, actor: ConsoleActor) -> Response:
    """One dataset: schema, classification, ODRL policy and the mock preview."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        ds = service.get_dataset(uow=uow, actor=actor, name=name)
    return render(request, "datasandbox/dataset.html", {"ds": ds})


@router.post("/query", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def query(
    request: Request,
    actor: ConsoleActor,
    sql: Annotated[str, Form()],
    epsilon: Annotated[str, Form()] = "",
) -> Response:
    """Submit aggregate SQL; the job runs it in the background."""
    try:
        with unit_of_work(actor, request.app.state.settings) as uow:
            out = service.submit_query(
                uow=uow, actor=actor, sql=sql, epsilon=float(epsilon) if epsilon.strip() else None
            )
    except RecordedRefusal as exc:  # committed with its audit entry; shown like any request
        return _page(request, actor, submitted=RequestOut.model_validate(exc.document))
    except (MingyueError, ValueError) as exc:
        return _page(request, actor, error=getattr(exc, "message", str(exc)))
    return _page(request, actor, submitted=out)


router.include_router(sources_router)  # the dataset form: /register, /register/{name}/refresh
