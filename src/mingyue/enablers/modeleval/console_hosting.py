"""Console pages of hosting, trial chat and feedback (mounted under /modeleval): the model
registry and cards, one user's trial conversations, and the reviewers' feedback list.

Every POST claims a one-time form key and answers with a redirect (a reload sends nothing
twice); a refused POST shows the page again with the translated reason, never a 500.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import SecretStr, ValidationError
from starlette.background import BackgroundTask

from mingyue.enablers.modeleval import service
from mingyue.enablers.modeleval.engine.trial import feedback_categories
from mingyue.enablers.modeleval.schemas import FeedbackIn, ModelIn, ProbeIn, RunStartIn
from mingyue.i18n import t
from mingyue.sdk import Actor, UnitOfWork, can, check, unit_of_work
from mingyue.sdk.errors import InvalidInput, MingyueError
from mingyue.web.console import (
    ConsoleActor,
    csrf_protect,
    form_done,
    form_once,
    locale_of,
    new_form_key,
    render,
    run_once,
)

router = APIRouter(include_in_schema=False)

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
FormKey = Annotated[str, Form(max_length=100)]
Text = Annotated[str, Form(max_length=8000)]
Short = Annotated[str, Form(max_length=500)]
FormId = Annotated[int, Form(ge=1, le=2**31 - 1)]


def _error(request: Request, exc: MingyueError) -> dict[str, Any]:
    locale = locale_of(request)
    text = t(exc.key, locale, **exc.params)
    field = t(f"modeleval.field.{exc.field}", locale) if exc.field else ""
    return {
        "message": text if text != exc.key else t("modeleval.console.refused", locale),
        "field": "" if field.startswith("modeleval.field.") else field,
        "status": exc.status,
    }


def _invalid(exc: ValidationError) -> InvalidInput:
    err = exc.errors()[0]
    field = str(err["loc"][0]) if err["loc"] else "form"
    return InvalidInput("modeleval.form_invalid", f"{field}: {err['msg']}", field=field)


# -- models -----------------------------------------------------------------------------------


def _models_page(
    request: Request,
    actor: Actor,
    *,
    error: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    check(actor, "modeleval.model.read")
    with unit_of_work(actor, request.app.state.settings) as uow:
        models = service.list_models(uow=uow, actor=actor)
        chats = (
            service.list_conversations(uow=uow, actor=actor)
            if can(actor, "modeleval.trial.chat")
            else []
        )
        quota = (
            service.quota_of(uow=uow, organization_id=actor.organization_id)
            if actor.organization_id is not None and can(actor, "modeleval.trial.chat")
            else None
        )
    return render(
        request,
        "modeleval/models.html",
        {
            "models": models,
            "chats": chats,
            "quota": quota,
            "can_register": can(actor, "modeleval.model.register"),
            "can_chat": can(actor, "modeleval.trial.chat"),
            "can_review": can(actor, "modeleval.feedback.read"),
            "form": form or {"visibility": "private"},
            "form_key": new_form_key(),
            "error": error,
        },
        status_code=error["status"] if error else 200,
    )


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, actor: ConsoleActor) -> Response:
    """Registered models (own and district-shared), the registration form, my conversations."""
    return _models_page(request, actor)


@router.post("/models", dependencies=[Depends(csrf_protect)])
def register(
    request: Request,
    actor: ConsoleActor,
    form_key: FormKey = "",
    name: Short = "",
    version: Short = "",
    provider: Short = "",
    licence: Short = "",
    endpoint: Short = "",
    served_model: Short = "",
    intended_use: Text = "",
    limitations: Text = "",
    api_key_env: Short = "",
    api_key: Short = "",
    price_1k: Short = "",
    visibility: Short = "private",
) -> Response:
    """Register a model from the form, then show its card."""
    values = {
        "name": name,
        "version": version,
        "provider": provider,
        "licence": licence,
        "endpoint": endpoint,
        "served_model": served_model,
        "intended_use": intended_use,
        "limitations": limitations,
        "api_key_env": api_key_env,
        "price_1k": price_1k,
        "visibility": visibility,
    }
    try:
        with unit_of_work(actor, request.app.state.settings) as uow:
            if (seen := form_once(uow, actor, form_key)) is not None:
                return RedirectResponse(seen, status_code=303)
            out = service.register_model(uow=uow, actor=actor, data=_model_in(values, api_key))
            location = f"/modeleval/models/{out.id}"
            form_done(uow, form_key, location)
    except MingyueError as exc:
        return _models_page(request, actor, error=_error(request, exc), form=values)
    return RedirectResponse(location, status_code=303)


def _model_in(values: dict[str, str], api_key: str) -> ModelIn:
    try:
        price = Decimal(values["price_1k"]) if values["price_1k"].strip() else None
    except InvalidOperation:
        raise InvalidInput(
            "modeleval.form_invalid", "price_1k: a decimal", field="price_1k"
        ) from None
    try:
        return ModelIn(
            name=values["name"],
            version=values["version"],
            provider=values["provider"],
            licence=values["licence"],
            endpoint=values["endpoint"],
            served_model=values["served_model"].strip() or None,
            intended_use=values["intended_use"],
            limitations=values["limitations"],
            api_key_env=values["api_key_env"].strip() or None,
            api_key=SecretStr(api_key) if api_key else None,
            price_1k=price,
            visibility="district" if values["visibility"] == "district" else "private",
        )
    except ValidationError as exc:
        raise _invalid(exc) from None


def card_page_of(
    request: Request,
    actor: Actor,
    model_id: int,
    *,
    error: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    """Render a model's card page (with a refused form's reason and values)."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        card = service.model_card(uow=uow, actor=actor, model_id=model_id)
    return render(
        request,
        "modeleval/card.html",
        {
            "card": card,
            "m": card.model,
            "can_chat": can(actor, "modeleval.trial.chat"),
            "can_evaluate": can(actor, "modeleval.run.start", card.model),
            "eval_form": form or {"suite": "standard", "scoring": "generate"},
            "form_key": new_form_key(),
            "eval_key": new_form_key(),
            "error": error,
        },
        status_code=error["status"] if error else 200,
    )


@router.get("/models/{model_id}", response_class=HTMLResponse)
def card_page(request: Request, actor: ConsoleActor, model_id: Id) -> Response:
    """A model's card: its fields, evaluation history, versions compared, a trial button and
    the form that starts an evaluation."""
    return card_page_of(request, actor, model_id)


@router.post("/models/{model_id}/evaluate", dependencies=[Depends(csrf_protect)])
def evaluate(
    request: Request,
    actor: ConsoleActor,
    model_id: Id,
    form_key: FormKey = "",
    suite: Short = "standard",
    scoring: Short = "generate",
) -> Response:
    """Queue an evaluation of the model (once per form key), then show its run page, which
    follows the job live; a reload or a resent form starts nothing."""
    values = {"suite": suite, "scoring": scoring}

    def work(uow: UnitOfWork) -> str:
        try:
            body = RunStartIn.model_validate({"model_id": model_id, **values})
        except ValidationError as exc:
            raise _invalid(exc) from None
        # The form key is the run's idempotency key too: a form sent twice at once (two
        # clicks) still queues one evaluation.
        out = service.start_run(
            uow=uow, actor=actor, body=body, idempotency_key=f"form:{form_key}"[:128]
        )
        return f"/modeleval/runs/{out.id}"

    def refused(exc: MingyueError) -> Response:
        return card_page_of(request, actor, model_id, error=_error(request, exc), form=values)

    return run_once(request, actor, form_key, work, on_error=refused)


# -- trial chat -------------------------------------------------------------------------------


@router.post("/trial", dependencies=[Depends(csrf_protect)])
def start(
    request: Request, actor: ConsoleActor, form_key: FormKey = "", model_id: FormId = 1
) -> Response:
    """Start a trial conversation with a model, then open it."""
    try:
        with unit_of_work(actor, request.app.state.settings) as uow:
            if (seen := form_once(uow, actor, form_key)) is not None:
                return RedirectResponse(seen, status_code=303)
            conv = service.start_conversation(uow=uow, actor=actor, model_id=model_id)
            location = f"/modeleval/trial/{conv.id}"
            form_done(uow, form_key, location)
    except MingyueError as exc:
        return _models_page(request, actor, error=_error(request, exc))
    return RedirectResponse(location, status_code=303)


def _chat_ctx(request: Request, actor: Actor, conversation_id: int) -> dict[str, Any]:
    with unit_of_work(actor, request.app.state.settings) as uow:
        conv = service.get_conversation(uow=uow, actor=actor, conversation_id=conversation_id)
        quota = service.quota_of(uow=uow, organization_id=conv.organization_id)
    return {
        "conv": conv,
        "quota": quota,
        "pending": any(m.status == "pending" for m in conv.messages),
        "mine": conv.user_id == actor.user_id,
        "categories": feedback_categories(),
        "form_key": new_form_key(),
    }


def _chat_page(
    request: Request, actor: Actor, conversation_id: int, error: dict[str, Any] | None = None
) -> Response:
    ctx = _chat_ctx(request, actor, conversation_id)
    ctx["error"] = error
    return render(
        request, "modeleval/chat.html", ctx, status_code=error["status"] if error else 200
    )


@router.get("/trial/{conversation_id}", response_class=HTMLResponse)
def chat_page(request: Request, actor: ConsoleActor, conversation_id: Id) -> Response:
    """One trial conversation: its messages, the send form and a rating form per reply."""
    return _chat_page(request, actor, conversation_id)


@router.get("/trial/{conversation_id}/messages", response_class=HTMLResponse)
def chat_messages(request: Request, actor: ConsoleActor, conversation_id: Id) -> Response:
    """The messages of a conversation (polled while a reply is pending)."""
    ctx = _chat_ctx(request, actor, conversation_id)
    return render(request, "modeleval/_messages_live.html", ctx)


@router.post("/trial/{conversation_id}/send", dependencies=[Depends(csrf_protect)])
def send(
    request: Request,
    actor: ConsoleActor,
    conversation_id: Id,
    form_key: FormKey = "",
    text: Text = "",
) -> Response:
    """Send a message (once per form key) and show the conversation at once; the reply streams
    in after the redirect and the page shows it as it arrives."""
    settings = request.app.state.settings
    location = f"/modeleval/trial/{conversation_id}"
    try:
        with unit_of_work(actor, settings) as uow:
            if (seen := form_once(uow, actor, form_key)) is not None:
                return RedirectResponse(seen, status_code=303)
            pending = service.send_message(
                uow=uow, actor=actor, conversation_id=conversation_id, text=text
            )
            location = f"{location}#m{pending.reply_id}"
            form_done(uow, form_key, location)
    except MingyueError as exc:
        return _chat_page(request, actor, conversation_id, _error(request, exc))
    # The model is asked after the redirect went out: the chat page polls the pending reply and
    # shows what has arrived; a reload or a resent form asks nothing (the form key is spent).
    task = BackgroundTask(service.stream_reply, actor=actor, settings=settings, pending=pending)
    return RedirectResponse(location, status_code=303, background=task)


@router.post("/trial/{conversation_id}/feedback", dependencies=[Depends(csrf_protect)])
def rate(
    request: Request,
    actor: ConsoleActor,
    conversation_id: Id,
    form_key: FormKey = "",
    message_id: FormId = 1,
    rating: Annotated[int, Form(ge=1, le=5)] = 3,
    comment: Text = "",
    category: Short = "",
) -> Response:
    """Rate one reply of the conversation."""
    location = f"/modeleval/trial/{conversation_id}#m{message_id}"
    try:
        with unit_of_work(actor, request.app.state.settings) as uow:
            if (seen := form_once(uow, actor, form_key)) is not None:
                return RedirectResponse(seen, status_code=303)
            data = FeedbackIn(
                message_id=message_id, rating=rating, comment=comment, category=category
            )
            service.give_feedback(uow=uow, actor=actor, data=data)
            form_done(uow, form_key, location)
    except MingyueError as exc:
        return _chat_page(request, actor, conversation_id, _error(request, exc))
    return RedirectResponse(location, status_code=303)


# -- feedback review --------------------------------------------------------------------------


def _feedback_page(request: Request, actor: Actor, error: dict[str, Any] | None = None) -> Response:
    check(actor, "modeleval.feedback.read")
    with unit_of_work(actor, request.app.state.settings) as uow:
        items = service.list_feedback(uow=uow, actor=actor)
        probes = service.list_probes(uow=uow, actor=actor)
    return render(
        request,
        "modeleval/feedback.html",
        {
            "items": items,
            "probes": probes,
            "categories": feedback_categories(),
            "can_probe": can(actor, "modeleval.probe.manage"),
            "form_key": new_form_key(),
            "error": error,
        },
        status_code=error["status"] if error else 200,
    )


@router.get("/feedback", response_class=HTMLResponse)
def feedback_page(request: Request, actor: ConsoleActor) -> Response:
    """Feedback on trial replies and the probes made of it (reviewers turn one into a probe)."""
    return _feedback_page(request, actor)


@router.post("/feedback/{feedback_id}/probe", dependencies=[Depends(csrf_protect)])
def make_probe(
    request: Request,
    actor: ConsoleActor,
    feedback_id: Id,
    form_key: FormKey = "",
    prompt: Text = "",
    category: Short = "",
    harmful: Short = "",
) -> Response:
    """Turn a feedback into a probe of its organization's safety set."""
    try:
        with unit_of_work(actor, request.app.state.settings) as uow:
            if (seen := form_once(uow, actor, form_key)) is not None:
                return RedirectResponse(seen, status_code=303)
            try:
                data = ProbeIn(
                    prompt=prompt.strip() or None, category=category, harmful=harmful == "yes"
                )
            except ValidationError as exc:
                raise _invalid(exc) from None
            probe = service.create_probe(uow=uow, actor=actor, feedback_id=feedback_id, data=data)
            location = f"/modeleval/feedback#p{probe.id}"
            form_done(uow, form_key, location)
    except MingyueError as exc:
        return _feedback_page(request, actor, _error(request, exc))
    return RedirectResponse(location, status_code=303)
