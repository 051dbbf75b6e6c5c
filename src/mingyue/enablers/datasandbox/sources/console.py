"""Console page to register a dataset: an uploaded file or a PostgreSQL table; refresh sources."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from mingyue.enablers.datasandbox.catalogue import register_upload
from mingyue.i18n import t
from mingyue.sdk import InvalidInput, MingyueError, check, local_time, unit_of_work
from mingyue.web.console import ConsoleActor, csrf_protect, locale_of, render

from . import service as sources

router = APIRouter(include_in_schema=False)


def _names(text: str) -> list[str]:
    return [p.strip() for p in text.replace("\n", ",").split(",") if p.strip()]


def _page(
    request: Request,
    actor: ConsoleActor,
    *,
    error: str | None = None,
    done: str | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    check(actor, "datasandbox.dataset.register")
    settings = request.app.state.settings
    with unit_of_work(actor, settings) as uow:
        mine = sources.list_sources(uow=uow, actor=actor)
    # Times on screen are in the display zone (MINGYUE_TIMEZONE, Asia/Shanghai by default).
    shown = {s.dataset: local_time(s.snapshot_at, settings, "%Y-%m-%d %H:%M:%S") for s in mine}
    return render(
        request,
        "datasandbox/register.html",
        {"sources": mine, "shown": shown, "error": error, "done": done, "form": form or {}},
        status_code=422 if error else 200,
    )


def _message(request: Request, exc: MingyueError) -> str:
    text = t(exc.key, locale_of(request), **exc.params)
    return exc.message if text == exc.key else text


@router.get("/register", response_class=HTMLResponse)
def register_form(request: Request, actor: ConsoleActor) -> Response:
    """The dataset form: source choice (file upload or PostgreSQL table) and classification."""
    return _page(request, actor)


@router.post("/register", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def register(
    request: Request,
    actor: ConsoleActor,
    name: Annotated[str, Form()],
    source: Annotated[str, Form()] = "file",
    identifiers: Annotated[str, Form()] = "",
    quasi: Annotated[str, Form()] = "",
    sensitive: Annotated[str, Form()] = "",
    min_group: Annotated[int, Form(ge=1)] = 10,
    epsilon_per_period: Annotated[float, Form(ge=0)] = 3.0,
    open_to_all: Annotated[bool, Form()] = False,
    description: Annotated[str, Form(max_length=2000)] = "",
    file: Annotated[UploadFile | None, File()] = None,
    pg_host: Annotated[str, Form()] = "",
    pg_port: Annotated[str, Form()] = "",
    pg_db: Annotated[str, Form()] = "",
    pg_user: Annotated[str, Form()] = "",
    pg_password: Annotated[str, Form()] = "",
    pg_table: Annotated[str, Form()] = "",
    pg_columns: Annotated[str, Form()] = "",
) -> Response:
    """Register the dataset from the chosen source (the password is never echoed back)."""
    common: dict[str, Any] = {
        "name": name.strip(),
        "identifiers": _names(identifiers),
        "quasi": _names(quasi),
        "sensitive": _names(sensitive),
        "min_group": min_group,
        "epsilon_per_period": epsilon_per_period or None,
        "open_to_all": open_to_all,
        "description": description,
    }
    # Shown again after an error; the password field is never filled back in.
    form = {
        **common,
        "source": source,
        "pg_host": pg_host,
        "pg_port": pg_port,
        "pg_db": pg_db,
        "pg_user": pg_user,
        "pg_table": pg_table,
        "pg_columns": pg_columns,
    }
    try:
        with unit_of_work(actor, request.app.state.settings) as uow:
            if source == "postgresql":
                if pg_port.strip() and not pg_port.strip().isdigit():
                    raise InvalidInput(
                        "datasandbox.pg.dsn", "the port must be a number", field="pg_port"
                    )
                sources.register_pg_dataset(
                    uow=uow,
                    actor=actor,
                    table=pg_table,
                    host=pg_host.strip() or None,
                    port=int(pg_port) if pg_port.strip() else None,
                    dbname=pg_db.strip() or None,
                    user=pg_user.strip() or None,
                    password=pg_password or None,
                    columns=_names(pg_columns) or None,
                    **common,
                )
            elif file is not None and file.filename:
                # The API's upload handling (suffix check, size cap, temp file) as is.
                register_upload(
                    uow=uow, actor=actor, data=file.file, filename=file.filename, **common
                )
            else:
                raise InvalidInput(
                    "datasandbox.dataset.missing_file",
                    "choose a file or a PostgreSQL table",
                    field="file",
                )
    except MingyueError as exc:
        return _page(request, actor, error=_message(request, exc), form=form)
    return _page(request, actor, done=common["name"])


@router.post(
    "/register/{name}/refresh", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)]
)
def refresh(name: str, request: Request, actor: ConsoleActor) -> Response:
    """Snapshot a PostgreSQL-sourced dataset again (a new version)."""
    try:
        with unit_of_work(actor, request.app.state.settings) as uow:
            sources.refresh_dataset(uow=uow, actor=actor, name=name)
    except MingyueError as exc:
        return _page(request, actor, error=_message(request, exc))
    return _page(request, actor, done=name)
