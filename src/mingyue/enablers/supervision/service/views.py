"""What the console pages need besides the use cases: previews, one decision, duplicate guards.

Reads only, except :func:`sync_as_platform`, which takes over a re-verification result the
raising enabler has already recorded (the same step the reminders job takes, as the platform).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from mingyue.enablers.supervision.engine.citations import zh_number
from mingyue.enablers.supervision.models import (
    SupervisionDecision,
    SupervisionDocument,
    SupervisionRectification,
    SupervisionSelfCheck,
)
from mingyue.enablers.supervision.schemas import DecisionOut, SelfCheckOut
from mingyue.sdk import (
    Actor,
    Conflict,
    InvalidInput,
    UnitOfWork,
    check,
    deadline_after,
    finding_rules,
    get_finding,
    get_visible,
)
from mingyue.sdk import now as clock_now

from .common import decision_out
from .docformat import correction_days
from .documents import exemption_item, local_day, validate_content
from .rectify import sync_row

DEFAULT_DAYS = 15  # order_rectification's default when a rule declares no time limit


class OrderPreview(BaseModel):
    """The time limit an order on this finding would set, and where it comes from."""

    finding_id: int
    working_days: int
    rule_working_days: int
    deadline: datetime
    source: str  # "exemption_list" (an item of the list governing the finding) | "rule"
    exemption_list_version: int | None
    exemption_list_label: str | None
    exemption_item: str | None


def order_preview(*, uow: UnitOfWork, actor: Actor, finding_id: int) -> OrderPreview:
    """Return the deadline ``order_rectification`` would set on this finding now (APL Art. 28)."""
    check(actor, "supervision.read")
    finding = get_finding(uow=uow, actor=actor, finding_id=finding_id)
    declared = finding_rules().get(finding.rule)
    days = finding.rectify_working_days or (
        declared.rectify_working_days if declared else DEFAULT_DAYS
    )
    listed = exemption_item(uow, finding.rule, finding.first_seen)
    listed_days = correction_days(listed.item)
    return OrderPreview(
        finding_id=finding.id,
        working_days=listed_days or days,
        rule_working_days=listed_days or days,
        deadline=deadline_after(clock_now(), listed_days or days, tz=uow.settings.timezone),
        source="exemption_list" if listed_days else "rule",
        exemption_list_version=listed.version,
        exemption_list_label=listed.label,
        exemption_item=str(listed.item.get("id")) if listed.item else None,
    )


def get_decision(*, uow: UnitOfWork, actor: Actor, decision_id: int) -> DecisionOut:
    """Return one decision the actor may see (404 when absent or another organization's)."""
    check(actor, "supervision.read")
    row = get_visible(
        uow,
        SupervisionDecision,
        decision_id,
        "supervision.read",
        key="supervision.decision.not_found",
    )
    return decision_out(row)


def get_selfcheck(*, uow: UnitOfWork, actor: Actor, selfcheck_id: int) -> SelfCheckOut:
    """Return one self-check the actor may see (404 when absent or another organization's)."""
    check(actor, "supervision.read")
    row = get_visible(
        uow,
        SupervisionSelfCheck,
        selfcheck_id,
        "supervision.read",
        key="supervision.selfcheck.not_found",
    )
    return SelfCheckOut.model_validate(row)


def sync_as_platform(*, uow: UnitOfWork, rectification_id: int) -> bool:
    """Take over the raising enabler's re-verification result, once (a platform unit of work).

    The reader's own visibility is checked by the caller; ``uow`` acts as the platform, as the
    reminders job does, because recording the enabler's result is no person's step.
    """
    if not uow.actor.is_system:
        raise Conflict("supervision.use_service", "the platform records verification results")
    row = uow.session.get(SupervisionRectification, rectification_id)
    if row is None:
        return False
    return sync_row(uow, row)


def recent_selfcheck(
    *,
    uow: UnitOfWork,
    actor: Actor,
    slug: str,
    answers: dict[str, Any],
    within: timedelta = timedelta(minutes=10),
) -> SelfCheckOut | None:
    """Return the actor's own self-check with these answers made just now, if any (a re-post)."""
    check(actor, "supervision.read")
    since = clock_now() - within
    rows = uow.session.scalars(
        select(SupervisionSelfCheck)
        .where(
            SupervisionSelfCheck.slug == slug,
            SupervisionSelfCheck.created_by == actor.label(),
            SupervisionSelfCheck.created_at >= since,
        )
        .order_by(SupervisionSelfCheck.id.desc())
        .limit(20)
    ).all()
    for row in rows:
        if row.answers == answers:
            return SelfCheckOut.model_validate(row)
    return None


def same_as_latest(
    *, uow: UnitOfWork, actor: Actor, slug: str, content: dict[str, Any], effective: date
) -> int | None:
    """Return the latest version's number when it already holds this content and date (a re-post)."""
    check(actor, "supervision.documents.manage")
    latest = uow.session.scalars(
        select(SupervisionDocument)
        .where(SupervisionDocument.slug == slug)
        .order_by(SupervisionDocument.version.desc())
    ).first()
    if latest is None:
        return None
    try:
        wanted = validate_content(latest.kind, slug, content, effective)
    except (InvalidInput, ValueError):  # publishing reports it, naming the field
        return None
    same_day = local_day(uow, latest.effective_from) == effective
    return latest.version if same_day and latest.content == wanted else None


_ART = re.compile(r"\s*Art\.\s*(\d{1,3})((?:\(\d{1,3}\))*)")
_PART = re.compile(r"\((\d{1,3})\)")


def citation_zh(text: str) -> str:
    """Write '个人信息保护法 Art. 6(2)' as the Chinese legal form '个人信息保护法第六条第二款'.

    One bracket after the article is a paragraph (款), a second one an item (项); text without
    'Art.' (a document number, a list's own clause) is left as it is.
    """

    def repl(m: re.Match[str]) -> str:
        parts = [int(p) for p in _PART.findall(m.group(2))]
        out = f"第{zh_number(int(m.group(1)))}条"
        for n, unit in zip(parts, ("款", "项"), strict=False):
            out += f"第{zh_number(n)}{unit}"
        return out

    try:
        return _ART.sub(repl, text)
    except ValueError:
        return text
