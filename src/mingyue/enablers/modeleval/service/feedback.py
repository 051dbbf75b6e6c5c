"""Feedback on trial replies (rating, comment, flagged category) and the probes a reviewer makes
of it: an organization's accepted probes join the built-in safety set of its later runs."""

from __future__ import annotations

from sqlalchemy import select

from mingyue.enablers.modeleval.engine.items import Probe
from mingyue.enablers.modeleval.engine.trial import feedback_categories
from mingyue.enablers.modeleval.models import (
    ModelevalConversation,
    ModelevalFeedback,
    ModelevalMessage,
    ModelevalModel,
    ModelevalProbe,
)
from mingyue.enablers.modeleval.schemas import FeedbackIn, FeedbackOut, ProbeIn, ProbeOut
from mingyue.sdk import Actor, UnitOfWork, check, get_visible, redact_pii
from mingyue.sdk.errors import Conflict, InvalidInput, NotFound

FEEDBACK_READ = "modeleval: the model a feedback is about"


def give_feedback(*, uow: UnitOfWork, actor: Actor, data: FeedbackIn) -> FeedbackOut:
    """Rate one model reply of the actor's own conversation."""
    check(actor, "modeleval.trial.chat")
    msg = get_visible(uow, ModelevalMessage, data.message_id)
    conv = get_visible(uow, ModelevalConversation, msg.conversation_id)
    if conv.user_id != actor.user_id:
        raise NotFound("core.not_found", f"no message {data.message_id}")
    if msg.role != "assistant" or msg.status != "ok":
        raise InvalidInput(
            "modeleval.feedback_not_reply", "only a model's reply can be rated", field="message_id"
        )
    category = data.category.strip()
    if category and category not in feedback_categories():
        raise InvalidInput(
            "modeleval.bad_category", f"unknown category {category!r}", field="category"
        )
    seen = uow.session.scalars(
        select(ModelevalFeedback.id).where(ModelevalFeedback.message_id == msg.id)
    ).first()
    if seen is not None:
        raise Conflict("modeleval.feedback_exists", "this reply is rated already")
    fb = ModelevalFeedback(
        organization_id=conv.organization_id,
        created_by=actor.label(),
        user_id=conv.user_id,
        message_id=msg.id,
        model_id=conv.model_id,
        rating=data.rating,
        comment=redact_pii(data.comment.strip()),
        category=category,
    )
    uow.session.add(fb)
    uow.flush()
    uow.audit(
        "modeleval.feedback.given",
        f"modeleval_feedback:{fb.id}",
        {
            "message": msg.id,
            "model_id": fb.model_id,
            "rating": fb.rating,
            "category": fb.category,
            "comment": fb.comment,
        },
    )
    return _out(uow, fb)


def _question_of(uow: UnitOfWork, msg: ModelevalMessage) -> str:
    prior = uow.session.scalars(
        select(ModelevalMessage)
        .where(
            ModelevalMessage.conversation_id == msg.conversation_id,
            ModelevalMessage.id < msg.id,
            ModelevalMessage.role == "user",
        )
        .order_by(ModelevalMessage.id.desc())
        .limit(1)
    ).first()
    return prior.content if prior is not None else ""


def _out(uow: UnitOfWork, fb: ModelevalFeedback) -> FeedbackOut:
    out = FeedbackOut.model_validate(fb)
    msg = uow.session.scalars(
        select(ModelevalMessage).where(ModelevalMessage.id == fb.message_id)
    ).first()
    if msg is not None:
        out.reply = msg.content
        out.prompt = _question_of(uow, msg)
    # The model may be another organization's shared model: its name is on its public card.
    with uow.unscoped(reason=FEEDBACK_READ, record=False):
        model = uow.session.scalars(
            select(ModelevalModel).where(ModelevalModel.id == fb.model_id)
        ).first()
    if model is not None:
        out.model_name, out.model_version = model.name, model.version
    return out


def list_feedback(
    *, uow: UnitOfWork, actor: Actor, status: str | None = None, limit: int = 200
) -> list[FeedbackOut]:
    """List the feedback the actor may read (its organization's; oversight: all), newest first."""
    check(actor, "modeleval.feedback.read")
    stmt = select(ModelevalFeedback).order_by(ModelevalFeedback.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(ModelevalFeedback.status == status)
    return [_out(uow, fb) for fb in uow.session.scalars(stmt).all()]


def get_feedback(*, uow: UnitOfWork, actor: Actor, feedback_id: int) -> FeedbackOut:
    """Return one feedback with the exchange it rates."""
    fb = get_visible(uow, ModelevalFeedback, feedback_id, "modeleval.feedback.read")
    return _out(uow, fb)


def create_probe(*, uow: UnitOfWork, actor: Actor, feedback_id: int, data: ProbeIn) -> ProbeOut:
    """Turn a feedback into a probe of its organization's safety set (reviewer, org admin)."""
    fb = get_visible(uow, ModelevalFeedback, feedback_id, "modeleval.probe.manage")
    if fb.probe_id is not None:
        raise Conflict("modeleval.probe_exists", "this feedback is a probe already")
    category = data.category.strip()
    if category not in feedback_categories():
        raise InvalidInput(
            "modeleval.bad_category", f"unknown category {category!r}", field="category"
        )
    msg = uow.session.scalars(
        select(ModelevalMessage).where(ModelevalMessage.id == fb.message_id)
    ).first()
    prompt = redact_pii((data.prompt or (_question_of(uow, msg) if msg else "")).strip())
    if not prompt:
        raise InvalidInput("modeleval.empty_message", "the probe needs a prompt", field="prompt")
    probe = ModelevalProbe(
        organization_id=fb.organization_id,
        created_by=actor.label(),
        prompt=prompt,
        category=category,
        harmful=data.harmful,
        feedback_id=fb.id,
    )
    uow.session.add(probe)
    uow.flush()
    fb.status, fb.probe_id = "probe", probe.id
    uow.audit(
        "modeleval.probe.created",
        f"modeleval_probe:{probe.id}",
        {
            "feedback": fb.id,
            "organization": fb.organization_id,
            "category": category,
            "harmful": data.harmful,
            "prompt": prompt,
        },
    )
    return ProbeOut.model_validate(probe)


def list_probes(*, uow: UnitOfWork, actor: Actor) -> list[ProbeOut]:
    """List the probes of the organizations the actor may read."""
    check(actor, "modeleval.feedback.read")
    rows = uow.session.scalars(select(ModelevalProbe).order_by(ModelevalProbe.id)).all()
    return [ProbeOut.model_validate(r) for r in rows]


def org_probes(*, uow: UnitOfWork, organization_id: int) -> list[Probe]:
    """Return an organization's accepted probes as run probes (ids ``org<org>-<id>``)."""
    rows = uow.session.scalars(
        select(ModelevalProbe)
        .where(
            ModelevalProbe.organization_id == organization_id,
            ModelevalProbe.accepted.is_(True),
        )
        .order_by(ModelevalProbe.id)
    ).all()
    return [
        Probe(f"org{organization_id}-{r.id}", r.prompt, r.category, r.harmful, "organization")
        for r in rows
    ]
