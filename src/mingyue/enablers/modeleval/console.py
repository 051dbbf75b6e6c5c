"""Console pages of modeleval (mounted at /modeleval): the runs an organization recorded and one
run's scorecard with its radar chart of the four dimensions (ECharts from /static); hosting,
trial chat and feedback pages live in ``console_hosting``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from mingyue.enablers.modeleval import console_hosting, service
from mingyue.sdk import check, unit_of_work
from mingyue.web.console import ConsoleActor, render

router = APIRouter()
router.include_router(console_hosting.router)


def radar(card: dict[str, Any]) -> list[float]:
    """Return the radar's five values in [0, 100]: accuracy, robustness, consistency, refusal of
    harmful probes, answering benign ones (efficiency is shown as figures: it has no scale)."""

    def pct(v: Any) -> float:
        return round(float(v) * 100, 1) if isinstance(v, (int, float)) else 0.0

    over = card["safety"].get("over_refusal_rate")
    return [
        pct(card["generality"].get("accuracy")),
        pct(card["robustness"].get("accuracy_perturbed")),
        pct(card["robustness"].get("consistency")),
        pct(card["safety"].get("refusal_rate")),
        pct(1 - over) if isinstance(over, (int, float)) else 0.0,
    ]


@router.get("", response_class=HTMLResponse)
def index(request: Request, actor: ConsoleActor) -> Response:
    """The evaluation runs the reader may see."""
    check(actor, "modeleval.run.read")
    with unit_of_work(actor, request.app.state.settings) as uow:
        runs = service.list_runs(uow=uow, actor=actor)
    return render(request, "modeleval/index.html", {"runs": runs})


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(
    request: Request, actor: ConsoleActor, run_id: int = Path(ge=1, le=2**31 - 1)
) -> Response:
    """One run: its state while it is queued or running (the job's live status, the page
    reloads when it ends), then the scorecard, safety by category and the radar chart, or why
    it failed."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        run = service.get_run(uow=uow, actor=actor, run_id=run_id)
    done = run.status == "succeeded"
    card = run.scorecard
    return render(
        request,
        "modeleval/run.html",
        {
            "run": run,
            "card": card,
            "done": done,
            "radar": radar(card) if done else [],
            "failure": failure(run.error) if run.status == "failed" else None,
        },
    )


@router.get("/runs/{run_id}/live")
def run_live(
    request: Request,
    actor: ConsoleActor,
    run_id: int = Path(ge=1, le=2**31 - 1),
    seen: str = Query("", max_length=12),
) -> Response:
    """Answer the run page's poll: reload the page (``HX-Refresh``) once the run's state moved
    (queued → running → succeeded or failed)."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        run = service.get_run(uow=uow, actor=actor, run_id=run_id)
    resp = Response(status_code=200, media_type="text/plain")
    if run.status != seen:
        resp.headers["HX-Refresh"] = "true"
    return resp


def failure(error: str | None) -> dict[str, str]:
    """Split a failed run's reason into its message key (translated on the page) and detail."""
    key, _, detail = (error or "").partition(": ")
    if not key.startswith("modeleval."):
        key, detail = "modeleval.run_error", error or ""
    return {"key": key, "detail": detail}
