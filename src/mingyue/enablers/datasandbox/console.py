"""Console pages: catalogue with mock previews, the query form, one page per request (live status,
refusal reasons, the result as a table with a CSV download), the owner's open cases, budgets."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mingyue.i18n import t
from mingyue.sdk import MingyueError, RecordedRefusal, can, check, local_time, unit_of_work
from mingyue.sdk.errors import InvalidInput
from mingyue.web.console import (
    ConsoleActor,
    csrf_protect,
    form_done,
    form_once,
    locale_of,
    new_form_key,
    render,
)

from . import service
from .schemas import DatasetOut, RequestOut
from .sources.console import router as sources_router

router = APIRouter(include_in_schema=False)

DEFAULT_SQL = "SELECT industry, count(*) AS n FROM enterprises GROUP BY industry"
# A request in these states is still moving: its page follows it.
_MOVING = ("submitted", "pending_approval", "approved", "in_review")
# …and in these it ended without a result: shown as a refusal.
REFUSED = ("refused", "rejected", "failed", "withheld")


def default_epsilon(datasets: list[DatasetOut]) -> float:
    """Return the ε a query spends when none is given (the smallest default of a DP dataset)."""
    found = [
        float(d.policy.get("default_epsilon", 0.5))
        for d in datasets
        if d.policy.get("epsilon_per_period") is not None
    ]
    return min(found, default=0.5)


def reason_text(reason: dict[str, Any] | None, locale: str) -> str:
    """Return why a request was refused in the reader's language (the rule's catalogue entry)."""
    if not reason:
        return ""
    rule = str(reason.get("rule") or "")
    for key in (str(reason.get("key") or ""), f"datasandbox.{rule}"):
        if key and (text := t(key, locale)) != key:
            return text
    return str(reason.get("message") or rule)


def _message(request: Request, exc: MingyueError) -> str:
    text = t(exc.key, locale_of(request), **exc.params)
    return exc.message if text == exc.key else text


def _index(
    request: Request,
    actor: ConsoleActor,
    *,
    error: str | None = None,
    sql: str | None = None,
    epsilon: str | None = None,
) -> Response:
    check(actor, "datasandbox.dataset.read")
    locale = locale_of(request)
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
    eps_default = default_epsilon(datasets)
    return render(
        request,
        "datasandbox/index.html",
        {
            "datasets": datasets,
            "requests": requests,
            "budgets": budgets,
            "pending": pending,
            "error": error,
            "sql": sql if sql is not None else DEFAULT_SQL,
            "epsilon": epsilon if epsilon is not None else f"{eps_default:g}",
            "epsilon_default": f"{eps_default:g}",
            "form_key": new_form_key(),
            "refused": REFUSED,
            "reason_text": lambda r: reason_text(r, locale),
            "can_query": can(actor, "datasandbox.query.submit"),
            "chart": {
                "datasets": [b.dataset for b in budgets],
                "spent": [round(b.spent, 4) for b in budgets],
                "left": [round(max(b.left, 0), 4) for b in budgets],
                "ledger_x": [c["at"][:19] for c in ledger],
                "ledger_y": [c["epsilon"] for c in ledger],
                "status": [
                    {"name": t(f"datasandbox.status.{s}", locale), "value": n}
                    for s, n in statuses.items()
                ],
            },
        },
        status_code=422 if error else 200,
    )


@router.get("", response_class=HTMLResponse)
def index(request: Request, actor: ConsoleActor, again: int | None = None) -> Response:
    """Catalogue, the query form (``?again=<id>`` fills in that request's SQL), requests,
    the owner's open approval/release cases and the budget charts."""
    sql = None
    if again is not None:
        with unit_of_work(actor, request.app.state.settings) as uow:
            sql = service.request_sql(uow=uow, actor=actor, request_id=again)
    return _index(request, actor, sql=sql)


@router.get("/datasets/{name}", response_class=HTMLResponse)
def dataset_page(name: str, request: Request, actor: ConsoleActor) -> Response:
    """One dataset: schema, classification, usage policy and the mock preview."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        ds = service.get_dataset(uow=uow, actor=actor, name=name)
    return render(request, "datasandbox/dataset.html", {"ds": ds})


@router.post("/query", dependencies=[Depends(csrf_protect)])
def query(
    request: Request,
    actor: ConsoleActor,
    sql: Annotated[str, Form(max_length=20_000)],
    epsilon: Annotated[str, Form(max_length=20)] = "",
    form_key: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Submit aggregate SQL once (a reload or double click lands on the same request), then
    show the request's page; a refusal is a request too and is shown there."""
    try:
        eps = _epsilon(epsilon)
        with unit_of_work(actor, request.app.state.settings) as uow:
            if (seen := form_once(uow, actor, form_key)) is not None:
                return RedirectResponse(seen, status_code=303)
            try:
                out = service.submit_query(uow=uow, actor=actor, sql=sql, epsilon=eps)
                request_id = out.id
            except RecordedRefusal as exc:  # the refused request is the record: keep it
                request_id = int((exc.document or {})["id"])
            location = f"/datasandbox/requests/{request_id}"
            form_done(uow, form_key, location)
    except MingyueError as exc:
        return _index(request, actor, error=_message(request, exc), sql=sql, epsilon=epsilon)
    return RedirectResponse(location, status_code=303)


def _epsilon(text: str) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 10:
        raise InvalidInput(
            "datasandbox.dp.epsilon", "epsilon: a number in (0, 10]", field="epsilon"
        )
    return value


def _request_context(request: Request, actor: ConsoleActor, request_id: int) -> dict[str, Any]:
    settings = request.app.state.settings
    locale = locale_of(request)
    with unit_of_work(actor, settings) as uow:
        req = service.get_request(uow=uow, actor=actor, request_id=request_id)
        sql = service.request_sql(uow=uow, actor=actor, request_id=request_id)
    return {
        "req": req,
        "sql": sql,
        "columns": columns_of(req),
        "moving": req.status in _MOVING,
        "refused": req.status in REFUSED,
        "reason": reason_text(req.reason, locale),
        "created": local_time(req.created_at, settings),
    }


def columns_of(req: RequestOut) -> list[str]:
    """Return the result's columns in the order the query named them."""
    cols: list[str] = []
    for row in req.rows or []:
        cols.extend(k for k in row if k not in cols)
    return cols


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_page(request: Request, actor: ConsoleActor, request_id: int) -> Response:
    """One request: its state (kept current), why it was refused, its result as a table."""
    return render(request, "datasandbox/request.html", _request_context(request, actor, request_id))


@router.get("/requests/{request_id}/live")
def request_live(
    request: Request, actor: ConsoleActor, request_id: int, seen: str = ""
) -> Response:
    """Answer the request page's poll: reload the page (``HX-Refresh``) once its state moved."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        req = service.get_request(uow=uow, actor=actor, request_id=request_id)
    resp = Response(status_code=200, media_type="text/plain")
    if req.status != seen:
        resp.headers["HX-Refresh"] = "true"
    return resp


@router.get("/requests/{request_id}/result.csv")
def request_csv(request: Request, actor: ConsoleActor, request_id: int) -> Response:
    """The released result as CSV (UTF-8 with a byte-order mark, so spreadsheets read Chinese)."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        req = service.get_request(uow=uow, actor=actor, request_id=request_id)
    if req.rows is None:
        raise InvalidInput(
            "datasandbox.result_not_released",
            f"request {request_id} has no released result",
            field="request_id",
        )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns_of(req), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(req.rows)
    return Response(
        "\ufeff" + buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="datasandbox-request-{request_id}.csv"'
        },
    )


router.include_router(sources_router)  # the dataset form: /register, /register/{name}/refresh
