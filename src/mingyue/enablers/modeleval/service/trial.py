"""Trial chat with a registered model: conversations kept per user, a token quota per
organization and month, usage metered by tokens, every exchange on the audit ledger with
personal information redacted (PIPL Art. 51; TC260-003 §7 service transparency and records).

A message is sent in three steps so that no database transaction waits on the model:
``send_message`` (quota, the redacted question and a pending reply, committed), ``call_model``
(the request, streamed, outside any unit of work), ``finish_message`` (the reply, usage, audit
entry). ``stream_reply`` does the last two for the console and, while the reply streams in,
keeps its part read so far (redacted) on the pending row for the chat page to show.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from mingyue.enablers.modeleval.adapters.openai_compat import KeyTransport, OpenAICompatible
from mingyue.enablers.modeleval.engine.client import Reply
from mingyue.enablers.modeleval.engine.trial import estimate_tokens, reply_cost
from mingyue.enablers.modeleval.models import (
    ModelevalConversation,
    ModelevalFeedback,
    ModelevalMessage,
    ModelevalModel,
    ModelevalQuota,
)
from mingyue.enablers.modeleval.schemas import ConversationOut, MessageOut, QuotaOut
from mingyue.enablers.modeleval.service.hosting import api_key_of, check_endpoint, readable_model
from mingyue.enablers.modeleval.settings import options
from mingyue.sdk import (
    OVERSIGHT_ROLES,
    TOU_BANDS,
    Actor,
    Settings,
    TariffSpec,
    UnitOfWork,
    check,
    get_visible,
    local_time,
    month_bounds,
    now,
    record_usage,
    redact_pii,
    require_org,
    unit_of_work,
)
from mingyue.sdk.errors import InvalidInput, NotFound, QuotaExceeded

logger = logging.getLogger(__name__)

METER = "modeleval.tokens"
HISTORY_TURNS = 20  # messages of context sent with a new question
_GRACE = timedelta(seconds=30)  # past timeout + grace a pending reply was interrupted


@dataclass(frozen=True)
class PendingCall:
    """What ``call_model`` needs: the endpoint, the key, the redacted conversation."""

    conversation_id: int
    question_id: int
    reply_id: int
    endpoint: str
    served_model: str
    api_key_env: str | None
    api_key: str | None
    messages: tuple[tuple[str, str], ...]
    max_tokens: int
    timeout_s: float

    def __repr__(self) -> str:  # the key never reaches a log line
        return f"PendingCall(conversation={self.conversation_id}, reply={self.reply_id})"


# -- quota ------------------------------------------------------------------------------------


def _month(uow: UnitOfWork) -> str:
    return local_time(now(), uow.settings, "%Y-%m")


def quota_of(*, uow: UnitOfWork, organization_id: int) -> QuotaOut:
    """Return an organization's trial quota and the tokens it used this month."""
    month = _month(uow)
    start, end = month_bounds(month, uow.settings)
    used = uow.session.scalar(
        select(
            func.coalesce(
                func.sum(ModelevalMessage.prompt_tokens + ModelevalMessage.completion_tokens), 0
            )
        ).where(
            ModelevalMessage.organization_id == organization_id,
            ModelevalMessage.role == "assistant",
            ModelevalMessage.created_at >= start,
            ModelevalMessage.created_at < end,
        )
    )
    override = uow.session.scalars(
        select(ModelevalQuota).where(ModelevalQuota.organization_id == organization_id)
    ).first()
    limit = (
        override.tokens_per_month
        if override is not None
        else options(uow.settings).trial_tokens_per_month
    )
    return QuotaOut(
        organization_id=organization_id,
        month=month,
        limit=limit,
        used=int(used or 0),
        overridden=override is not None,
    )


def set_quota(
    *, uow: UnitOfWork, actor: Actor, organization_id: int, tokens_per_month: int
) -> QuotaOut:
    """Set an organization's monthly trial-token quota (operator)."""
    check(actor, "modeleval.quota.manage")
    if tokens_per_month < 0:
        raise InvalidInput("modeleval.bad_quota", "a quota is zero or more tokens")
    row = uow.session.scalars(
        select(ModelevalQuota).where(ModelevalQuota.organization_id == organization_id)
    ).first()
    if row is None:
        row = ModelevalQuota(organization_id=organization_id, tokens_per_month=0, set_by="")
        uow.session.add(row)
    row.tokens_per_month = tokens_per_month
    row.set_by = actor.label()
    uow.flush()
    uow.audit(
        "modeleval.quota.set",
        f"core_organization:{organization_id}",
        {"tokens_per_month": tokens_per_month},
    )
    return quota_of(uow=uow, organization_id=organization_id)


# -- conversations ----------------------------------------------------------------------------


def _own_conversation(uow: UnitOfWork, actor: Actor, conversation_id: int) -> ModelevalConversation:
    """Return a conversation of the actor (oversight roles read any); else NotFound."""
    conv = get_visible(uow, ModelevalConversation, conversation_id)
    if conv.user_id != actor.user_id and not actor.has_role(*OVERSIGHT_ROLES):
        raise NotFound("core.not_found", f"no conversation {conversation_id}")
    return conv


def start_conversation(*, uow: UnitOfWork, actor: Actor, model_id: int) -> ConversationOut:
    """Start a trial conversation of the actor with a registered model it may read."""
    check(actor, "modeleval.trial.chat")
    org = require_org(actor)
    if actor.user_id is None:
        raise InvalidInput("modeleval.no_org", "a trial conversation belongs to a user")
    model = readable_model(uow, model_id)
    check_endpoint(uow.settings, model.endpoint)
    conv = ModelevalConversation(
        organization_id=org, user_id=actor.user_id, created_by=actor.label(), model_id=model.id
    )
    uow.session.add(conv)
    uow.flush()
    return _conversation_out(uow, conv, model, messages=False)


def list_conversations(*, uow: UnitOfWork, actor: Actor, limit: int = 50) -> list[ConversationOut]:
    """List the actor's own trial conversations, newest first."""
    check(actor, "modeleval.trial.chat")
    rows = uow.session.scalars(
        select(ModelevalConversation)
        .where(ModelevalConversation.user_id == actor.user_id)
        .order_by(ModelevalConversation.id.desc())
        .limit(limit)
    ).all()
    return [_conversation_out(uow, c, None, messages=False) for c in rows]


def get_conversation(*, uow: UnitOfWork, actor: Actor, conversation_id: int) -> ConversationOut:
    """Return one of the actor's conversations with its (redacted) messages."""
    check(actor, "modeleval.trial.chat")
    conv = _own_conversation(uow, actor, conversation_id)
    return _conversation_out(uow, conv, None, messages=True)


def _conversation_out(
    uow: UnitOfWork,
    conv: ModelevalConversation,
    model: ModelevalModel | None,
    *,
    messages: bool,
) -> ConversationOut:
    if model is None:
        try:
            model = readable_model(uow, conv.model_id)
        except NotFound:
            model = None  # made private by its owner since
    out = ConversationOut.model_validate(conv)
    out.model_name = model.name if model else ""
    out.model_version = model.version if model else ""
    if messages:
        out.messages = _messages(uow, conv)
    return out


def _messages(uow: UnitOfWork, conv: ModelevalConversation) -> list[MessageOut]:
    rows = uow.session.scalars(
        select(ModelevalMessage)
        .where(ModelevalMessage.conversation_id == conv.id)
        .order_by(ModelevalMessage.id)
    ).all()
    ratings = {
        f.message_id: f
        for f in uow.session.scalars(
            select(ModelevalFeedback).where(ModelevalFeedback.message_id.in_([r.id for r in rows]))
        )
    }
    late = now() - timedelta(seconds=options(uow.settings).trial_timeout_s) - _GRACE
    out = []
    for r in rows:
        m = MessageOut.model_validate(r)
        if m.status == "pending" and r.created_at < late:
            m.status, m.error = "failed", "interrupted"
        if (fb := ratings.get(r.id)) is not None:
            m.feedback_id, m.rating = fb.id, fb.rating
        out.append(m)
    return out


# -- one exchange -----------------------------------------------------------------------------


def send_message(*, uow: UnitOfWork, actor: Actor, conversation_id: int, text: str) -> PendingCall:
    """Record the (redacted) question and a pending reply; refuse past the month's quota."""
    check(actor, "modeleval.trial.chat")
    conv = _own_conversation(uow, actor, conversation_id)
    if conv.user_id != actor.user_id:
        raise NotFound("core.not_found", f"no conversation {conversation_id}")
    try:
        model = readable_model(uow, conv.model_id)
    except NotFound:
        raise InvalidInput(
            "modeleval.model_gone", "the model is no longer shared with your organization"
        ) from None
    endpoint = check_endpoint(uow.settings, model.endpoint)
    question = redact_pii(text.strip())
    if not question:
        raise InvalidInput("modeleval.empty_message", "write a message first", field="text")
    quota = quota_of(uow=uow, organization_id=conv.organization_id)
    if quota.left <= 0:
        raise QuotaExceeded(
            "modeleval.quota_exceeded",
            f"the organization used its {quota.limit} trial tokens of {quota.month}",
            field="text",
            limit=quota.limit,
            used=quota.used,
            month=quota.month,
        )
    opts = options(uow.settings)
    history = [(m.role, m.content) for m in _messages(uow, conv) if m.status == "ok" and m.content][
        -HISTORY_TURNS:
    ]
    q = ModelevalMessage(
        organization_id=conv.organization_id,
        conversation_id=conv.id,
        role="user",
        content=question,
    )
    r = ModelevalMessage(
        organization_id=conv.organization_id,
        conversation_id=conv.id,
        role="assistant",
        status="pending",
    )
    uow.session.add_all([q, r])
    if not conv.title:
        conv.title = question[:60]
    uow.flush()
    return PendingCall(
        conversation_id=conv.id,
        question_id=q.id,
        reply_id=r.id,
        endpoint=endpoint,
        served_model=model.served_model,
        api_key_env=model.api_key_env,
        api_key=api_key_of(uow.settings, model),
        messages=(*history, ("user", question)),
        max_tokens=max(1, min(opts.trial_max_tokens, quota.left)),
        timeout_s=opts.trial_timeout_s,
    )


def call_model(pending: PendingCall, on_text: Callable[[str], None] | None = None) -> Reply:
    """Send the conversation to the model's endpoint, streamed; failures are a Reply's error.

    ``on_text`` gets each piece of the reply as it arrives (all of it at once from an endpoint
    that does not stream).
    """
    try:
        client = OpenAICompatible(
            pending.endpoint,
            pending.served_model,
            api_key_env=None if pending.api_key else pending.api_key_env,
            timeout_s=pending.timeout_s,
            max_seconds=pending.timeout_s,
            transport=KeyTransport(pending.api_key) if pending.api_key else None,
        )
    except InvalidInput as exc:  # the key's variable is not set on this server
        return Reply("", "no_api_key" if exc.key == "modeleval.no_api_key" else "bad_endpoint")
    try:
        return client.chat_streamed(
            [{"role": role, "content": content} for role, content in pending.messages],
            max_tokens=pending.max_tokens,
            temperature=0.7,
            on_text=on_text or (lambda _: None),
        )
    finally:
        client.close()


# Characters personal information is written with (digits, letters, the separators of phone and
# card numbers, the signs of an e-mail address): a streamed reply's tail made of them may be the
# first half of a number the redactor cannot see yet, so it is held back until the next piece.
_PII_TAIL = re.compile(r"[0-9A-Za-z@._%+\- ]*\Z")
_HOLD_MAX = 64


def shown_so_far(text: str) -> str:
    """Return the part of a reply still streaming that may be shown and kept: redacted, less a
    tail that could be the start of personal information."""
    tail = _PII_TAIL.search(text)
    cut = len(text)
    if tail is not None and any(c.isdigit() or c == "@" for c in tail.group()):
        cut = max(tail.start(), len(text) - _HOLD_MAX)
    return redact_pii(text[:cut])


def save_partial(*, uow: UnitOfWork, pending: PendingCall, text: str) -> None:
    """Keep the part of a reply read so far on its pending row (redacted; shown, not audited:
    the finished exchange is the one audit entry)."""
    row = get_visible(uow, ModelevalMessage, pending.reply_id)
    if row.status == "pending":
        row.content = shown_so_far(text)
        uow.flush()


def stream_reply(
    *, actor: Actor, settings: Settings, pending: PendingCall, every_s: float = 0.4
) -> MessageOut | None:
    """Ask the model, keeping the reply's part so far on its row at most every ``every_s``
    seconds, then store the whole reply (usage, audit). None when the reply could not be stored
    (it then shows as interrupted once the timeout has passed)."""
    parts: list[str] = []
    last = time.monotonic()

    def on_text(piece: str) -> None:
        nonlocal last
        parts.append(piece)
        if time.monotonic() - last < every_s:
            return
        last = time.monotonic()
        try:
            with unit_of_work(actor, settings) as uow:
                save_partial(uow=uow, pending=pending, text="".join(parts))
        except Exception:  # a busy database must not stop the reply: the next piece retries
            logger.warning("modeleval partial reply %s not stored", pending.reply_id, exc_info=True)

    reply = call_model(pending, on_text)
    try:
        with unit_of_work(actor, settings) as uow:
            return finish_message(uow=uow, actor=actor, pending=pending, reply=reply)
    except Exception:
        logger.warning("modeleval trial reply %s not stored", pending.reply_id, exc_info=True)
        return None


def finish_message(
    *, uow: UnitOfWork, actor: Actor, pending: PendingCall, reply: Reply
) -> MessageOut:
    """Store the (redacted) reply, meter its tokens, and record the exchange on the ledger."""
    conv = get_visible(uow, ModelevalConversation, pending.conversation_id)
    question = get_visible(uow, ModelevalMessage, pending.question_id)
    row = get_visible(uow, ModelevalMessage, pending.reply_id)
    model = _model_for(uow, conv.model_id)
    row.content = redact_pii(reply.text)
    row.status = "ok" if reply.ok else "failed"
    row.error = reply.error
    row.latency_ms = round(reply.latency_ms, 1)
    if reply.ok:
        counted = reply.prompt_tokens is None or reply.completion_tokens is None
        prompt = reply.prompt_tokens
        if prompt is None:
            prompt = sum(estimate_tokens(c) for _, c in pending.messages)
        completion = reply.completion_tokens
        if completion is None:
            completion = estimate_tokens(reply.text)
        row.prompt_tokens, row.completion_tokens = prompt, completion
        row.tokens_counted = counted
        total = prompt + completion
        price = model.price_1k if model is not None else None
        row.cost = reply_cost(total, price)
        conv.tokens += total
        if total > 0:
            start = question.created_at
            end = max(now(), start + timedelta(seconds=1))
            record_usage(
                uow=uow,
                organization_id=conv.organization_id,
                meter=METER,
                quantity=Decimal(total),
                unit="token",
                start=start,
                end=end,
                source="modeleval.trial",
                ref=f"modeleval_message:{row.id}",
                tariff=_tariff(price),
            )
    uow.flush()
    uow.audit(
        "modeleval.trial.message",
        f"modeleval_conversation:{conv.id}",
        {
            "model_id": conv.model_id,
            "model": f"{model.name} {model.version}" if model is not None else None,
            "question": question.content,
            "reply": row.content,
            "status": row.status,
            "error": row.error,
            "prompt_tokens": row.prompt_tokens,
            "completion_tokens": row.completion_tokens,
            "tokens_counted": row.tokens_counted,
        },
    )
    del actor  # the write is the actor's through the unit of work's scope
    return MessageOut.model_validate(row)


def _model_for(uow: UnitOfWork, model_id: int) -> ModelevalModel | None:
    try:
        return readable_model(uow, model_id)
    except NotFound:
        return None


def _tariff(price_1k: Decimal | None) -> TariffSpec | None:
    if price_1k is None:
        return None  # the meter's platform tariffs, if any
    per_token = price_1k / 1000
    return TariffSpec(meter=METER, prices=dict.fromkeys(TOU_BANDS, per_token))


def chat(*, actor: Actor, settings: Settings, conversation_id: int, text: str) -> MessageOut:
    """Send one message and wait for the reply (API and CLI): three steps, two commits."""
    with unit_of_work(actor, settings) as uow:
        pending = send_message(uow=uow, actor=actor, conversation_id=conversation_id, text=text)
    reply = call_model(pending)
    with unit_of_work(actor, settings) as uow:
        return finish_message(uow=uow, actor=actor, pending=pending, reply=reply)
