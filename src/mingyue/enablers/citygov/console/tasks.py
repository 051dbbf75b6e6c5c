"""A unit's tasks (mobile-friendly): the list, most urgent first, and a task's page with 接单,
处理反馈 (text and photos) and 回退."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from mingyue.enablers.citygov.service import supervise, views, workflow
from mingyue.sdk import Actor, UnitOfWork, can, unit_of_work
from mingyue.sdk.errors import InvalidInput, MingyueError
from mingyue.web.console import ConsoleActor, csrf_protect, new_form_key, run_once, settings_of

from .common import Id, Key, Text, page

router = APIRouter(include_in_schema=False)


@router.get("/tasks", response_class=HTMLResponse)
def tasks(request: Request, actor: ConsoleActor) -> Response:
    """The tasks dispatched to the reader's unit, the most urgent first."""
    with unit_of_work(actor, settings_of(request)) as uow:
        rows = workflow.list_tasks(uow=uow, actor=actor)
        clocks = {
            r.id: views.sla_clock(uow, r.due_at, r.limit_unit)
            for r in rows
            if r.status in ("dispatched", "handling")
        }
    return page(request, "citygov/tasks.html", {"rows": rows, "clocks": clocks})


def _task(
    request: Request,
    actor: Actor,
    task_id: int,
    exc: MingyueError | None = None,
) -> Response:
    with unit_of_work(actor, settings_of(request)) as uow:
        task = workflow.get_task(uow=uow, actor=actor, task_id=task_id)
        clock = views.sla_clock(uow, task.due_at, task.limit_unit)
        notes = [
            n
            for n in supervise.list_supervisions(
                uow=uow, actor=actor, city_case_id=task.city_case_id
            )
            if n.task_id == task.id
        ]
    return page(
        request,
        "citygov/task.html",
        {
            "task": task,
            "s": task.snapshot,
            "clock": clock,
            "notes": notes,
            "can_handle": can(actor, "citygov.task.handle") or can(actor, "citygov.case.manage"),
            "form_key": new_form_key(),
        },
        exc,
    )


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task(task_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """A task: where, what, by when; accept, report back with photos, or send it back."""
    return _task(request, actor, task_id)


@router.post("/tasks/{task_id}/step", dependencies=[Depends(csrf_protect)])
def task_step(
    task_id: Id,
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    action: Annotated[str, Form(max_length=20)] = "",
    text: Text = "",
    photo: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    """接单, 处理反馈 (text and photos) or 回退 (a reason)."""

    def work(uow: UnitOfWork) -> str:
        if action == "accept":
            workflow.accept_task(uow=uow, actor=actor, task_id=task_id)
        elif action == "feedback":
            files = [p for p in (photo or []) if p.filename]
            workflow.feedback_task(uow=uow, actor=actor, task_id=task_id, text=text, photos=files)
        elif action == "send_back":
            workflow.send_back_task(
                uow=uow, actor=actor, task_id=task_id, comment=text.strip() or None
            )
        else:
            raise InvalidInput("citygov.console.bad_step", "unknown step", field="action")
        return f"/citygov/tasks/{task_id}"

    return run_once(
        request, actor, form_key, work, on_error=lambda exc: _task(request, actor, task_id, exc)
    )
