"""REST API of modeleval (mounted at /api/modeleval): recorded evaluation runs, registered models
and their cards, trial conversations, quotas, feedback and organization probes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from mingyue.enablers.modeleval import service
from mingyue.enablers.modeleval.schemas import (
    ConversationOut,
    FeedbackIn,
    FeedbackOut,
    MessageOut,
    ModelCard,
    ModelIn,
    ModelOut,
    ModelUpdate,
    ProbeIn,
    ProbeOut,
    QuotaIn,
    QuotaOut,
    RunStartIn,
    SendIn,
    StartIn,
)
from mingyue.sdk import Actor, require_org
from mingyue.web.deps import IdPath, UoW, require

router = APIRouter(tags=["modeleval"])

Reader = Annotated[Actor, Depends(require("modeleval.run.read"))]
ModelReader = Annotated[Actor, Depends(require("modeleval.model.read"))]
Registrar = Annotated[Actor, Depends(require("modeleval.model.register"))]
Chatter = Annotated[Actor, Depends(require("modeleval.trial.chat"))]
FeedbackReader = Annotated[Actor, Depends(require("modeleval.feedback.read"))]
ProbeManager = Annotated[Actor, Depends(require("modeleval.probe.manage"))]
QuotaManager = Annotated[Actor, Depends(require("modeleval.quota.manage"))]
Starter = Annotated[Actor, Depends(require("modeleval.run.start"))]
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        description="Repeat the request safely: the same key answers the run it started",
    ),
]


@router.get("/runs", operation_id="modeleval-list_runs")
def list_runs(
    uow: UoW, actor: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[service.RunOut]:
    """List the evaluation runs the caller may read, newest first."""
    return service.list_runs(uow=uow, actor=actor, limit=limit)


@router.post("/runs", operation_id="modeleval-start_run", status_code=202)
def start_run(
    body: RunStartIn, uow: UoW, actor: Starter, idempotency_key: IdemKey = None
) -> service.RunOut:
    """Queue an evaluation of a registered model (a job: follow ``GET /runs/{id}``).

    ``model_id`` names a model of the caller's organization; platform admins may instead name
    an ``endpoint`` (allow-listed) and a ``model``. The same ``Idempotency-Key`` answers the run
    it started and queues nothing.
    """
    return service.start_run(uow=uow, actor=actor, body=body, idempotency_key=idempotency_key)


@router.get("/runs/{run_id}", operation_id="modeleval-get_run")
def get_run(run_id: IdPath, uow: UoW, actor: Reader) -> service.RunOut:
    """Return one run: ``status`` queued, running, succeeded or failed (``error``), its job,
    and its scorecard once it has succeeded."""
    return service.get_run(uow=uow, actor=actor, run_id=run_id)


@router.get("/runs/{run_id}/records", operation_id="modeleval-run_records")
def run_records(run_id: IdPath, uow: UoW, actor: Reader) -> list[dict[str, Any]]:
    """Return a run's per-item records (prompt hash, output, score)."""
    run = service.get_run(uow=uow, actor=actor, run_id=run_id)
    return service.run_records(uow.settings.data_dir, run.run_key)


# -- registered models ------------------------------------------------------------------------


@router.get("/models", operation_id="modeleval-list_models")
def list_models(uow: UoW, actor: ModelReader) -> list[ModelOut]:
    """List the models the caller may read: its organization's and district-shared ones."""
    return service.list_models(uow=uow, actor=actor)


@router.post("/models", operation_id="modeleval-register_model", status_code=201)
def register_model(body: ModelIn, uow: UoW, actor: Registrar) -> ModelOut:
    """Register a model with its card (the endpoint's host must be on the allow-list)."""
    return service.register_model(uow=uow, actor=actor, data=body)


@router.get("/models/{model_id}", operation_id="modeleval-model_card")
def model_card(model_id: IdPath, uow: UoW, actor: ModelReader) -> ModelCard:
    """Return a model's card, its evaluation history and its versions' latest scores."""
    return service.model_card(uow=uow, actor=actor, model_id=model_id)


@router.patch("/models/{model_id}", operation_id="modeleval-update_model")
def update_model(model_id: IdPath, body: ModelUpdate, uow: UoW, actor: Registrar) -> ModelOut:
    """Change a model card of the caller's organization."""
    return service.update_model(uow=uow, actor=actor, model_id=model_id, data=body)


@router.delete("/models/{model_id}", operation_id="modeleval-delete_model", status_code=204)
def delete_model(model_id: IdPath, uow: UoW, actor: Registrar) -> Response:
    """Withdraw a model nobody has chatted with."""
    service.delete_model(uow=uow, actor=actor, model_id=model_id)
    return Response(status_code=204)


# -- trial chat -------------------------------------------------------------------------------


@router.get("/quota", operation_id="modeleval-get_quota")
def get_quota(uow: UoW, actor: Chatter) -> QuotaOut:
    """Return the caller's organization's trial tokens this month."""
    return service.quota_of(uow=uow, organization_id=require_org(actor))


@router.put("/quota/{organization_id}", operation_id="modeleval-set_quota")
def set_quota(organization_id: IdPath, body: QuotaIn, uow: UoW, actor: QuotaManager) -> QuotaOut:
    """Set an organization's monthly trial-token quota (operator)."""
    return service.set_quota(
        uow=uow,
        actor=actor,
        organization_id=organization_id,
        tokens_per_month=body.tokens_per_month,
    )


@router.get("/conversations", operation_id="modeleval-list_conversations")
def list_conversations(uow: UoW, actor: Chatter) -> list[ConversationOut]:
    """List the caller's trial conversations, newest first."""
    return service.list_conversations(uow=uow, actor=actor)


@router.post("/conversations", operation_id="modeleval-start_conversation", status_code=201)
def start_conversation(body: StartIn, uow: UoW, actor: Chatter) -> ConversationOut:
    """Start a trial conversation with a registered model."""
    return service.start_conversation(uow=uow, actor=actor, model_id=body.model_id)


@router.get("/conversations/{conversation_id}", operation_id="modeleval-get_conversation")
def get_conversation(conversation_id: IdPath, uow: UoW, actor: Chatter) -> ConversationOut:
    """Return one of the caller's conversations with its (redacted) messages."""
    return service.get_conversation(uow=uow, actor=actor, conversation_id=conversation_id)


@router.post(
    "/conversations/{conversation_id}/messages",
    operation_id="modeleval-send_message",
    status_code=201,
)
def send_message(
    conversation_id: IdPath, body: SendIn, request: Request, actor: Chatter
) -> MessageOut:
    """Send a message and return the model's reply (a failure is a reply with ``error``).

    The question is committed before the model is asked and the reply after it answers, so no
    transaction waits on the model (429 past the organization's monthly quota).
    """
    return service.chat(
        actor=actor,
        settings=request.app.state.settings,
        conversation_id=conversation_id,
        text=body.text,
    )


# -- feedback and probes ----------------------------------------------------------------------


@router.get("/feedback", operation_id="modeleval-list_feedback")
def list_feedback(
    uow: UoW,
    actor: FeedbackReader,
    status: Annotated[str | None, Query(pattern="^(open|probe)$")] = None,
) -> list[FeedbackOut]:
    """List the feedback the caller may read, newest first."""
    return service.list_feedback(uow=uow, actor=actor, status=status)


@router.post("/feedback", operation_id="modeleval-give_feedback", status_code=201)
def give_feedback(body: FeedbackIn, uow: UoW, actor: Chatter) -> FeedbackOut:
    """Rate a model reply of one of the caller's conversations."""
    return service.give_feedback(uow=uow, actor=actor, data=body)


@router.post(
    "/feedback/{feedback_id}/probe", operation_id="modeleval-create_probe", status_code=201
)
def create_probe(feedback_id: IdPath, body: ProbeIn, uow: UoW, actor: ProbeManager) -> ProbeOut:
    """Turn a feedback into a probe of its organization's safety set."""
    return service.create_probe(uow=uow, actor=actor, feedback_id=feedback_id, data=body)


@router.get("/probes", operation_id="modeleval-list_probes")
def list_probes(uow: UoW, actor: FeedbackReader) -> list[ProbeOut]:
    """List the probes of the organizations the caller may read."""
    return service.list_probes(uow=uow, actor=actor)
