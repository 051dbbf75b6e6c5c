"""What the citygov pages share: form field types, the template helpers (stage titles, names,
SLA clock text), the page renderer with the reader's role, and the lon/lat field parser."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Path, Request
from fastapi.responses import Response

from mingyue.enablers.citygov.cases import CITY_CASE, STAGES
from mingyue.enablers.citygov.service import registry, views
from mingyue.enablers.citygov.service.common import catalogue
from mingyue.i18n import t
from mingyue.sdk import Actor, can, unit_of_work
from mingyue.sdk.errors import InvalidInput, MingyueError
from mingyue.web.console import lang_of, locale_of, render_page, settings_of

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
Key = Annotated[str, Form(max_length=100)]
Text = Annotated[str, Form(max_length=4000)]
POLL_S = 15
OVERSIGHT = ("platform_admin", "reviewer", "regulator", "auditor")


def helpers(request: Request) -> dict[str, Any]:
    """Return the functions every citygov template uses (titles, names, the SLA clock's text)."""
    locale = locale_of(request)
    lang = lang_of(locale)
    cats = catalogue()
    states = CITY_CASE.states

    def clock_text(c: views.Clock) -> str:
        if not c.known:
            return "—"
        unit = t(f"citygov.console.hours.{c.unit}", locale)
        key = "citygov.console.overdue_by" if c.overdue else "citygov.console.time_left"
        return t(key, locale, hours=f"{c.hours:g}", unit=unit)

    return {
        "lang": lang,
        "stage_title": lambda s: states[s].title.get(lang, s) if s in states else s,
        "cat_name": lambda code: views.category_name(code, lang),
        "dept_name": lambda d: cats.department_name(d, lang),
        "source_name": lambda s: t(f"citygov.source.{s}", locale),
        "task_status": lambda s: t(f"citygov.task_status.{s}", locale),
        "report_status": lambda s: t(f"citygov.report_status.{s}", locale),
        "reward_status": lambda s: t(f"citygov.reward_status.{s}", locale),
        "clock_text": clock_text,
        "stages": STAGES,
        "poll": POLL_S,
    }


def page(
    request: Request, template: str, ctx: dict[str, Any], exc: MingyueError | None = None
) -> Response:
    """Render a citygov page for the signed-in reader; with ``exc``, its error box and status."""
    actor: Actor = request.state.actor
    return render_page(request, template, {**helpers(request), "role": role_of(actor), **ctx}, exc)


def role_of(actor: Actor) -> str:
    """Return the reader's part: ``centre`` (takes the steps), ``oversight`` (reads), ``other``."""
    if can(actor, "citygov.case.manage"):
        return "centre"
    if actor.has_role(*OVERSIGHT):
        return "oversight"
    return "other"


def is_unit(request: Request, actor: Actor) -> bool:
    """Tell whether the reader's organization is an active unit (it receives tasks)."""
    with unit_of_work(actor, settings_of(request)) as uow:
        return any(
            u.org_id == actor.organization_id
            for u in registry.list_units(uow=uow, actor=actor, active_only=True)
        )


def parse_float(value: str, field: str) -> float | None:
    """Return a form's lon or lat as a number, None when empty (a bad one: 400 on ``field``)."""
    text = value.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(
            "citygov.bad_location", f"{field} is not a number", field=field
        ) from None
