"""What every citygov service needs: the category table, the working-hour calendar, the city's
box, the command centre's organization, and loading rows inside the caller's scope."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from mingyue.enablers.citygov.engine.categories import Catalogue, Category, load_catalogue
from mingyue.enablers.citygov.engine.kpi import check_weights, parse_weights
from mingyue.enablers.citygov.engine.places import Box, parse_box
from mingyue.enablers.citygov.engine.workhours import WorkCalendar, parse_windows
from mingyue.enablers.citygov.settings import CitygovSettings, options
from mingyue.sdk import (
    Actor,
    OrganizationOut,
    Settings,
    UnitOfWork,
    can,
    find_organizations,
    is_working_day,
    now,
    organization,
)
from mingyue.sdk.errors import InvalidInput, NotFound

RULES = Path(__file__).resolve().parent.parent / "rules"


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """Return the category table shipped in ``rules/categories.yaml`` (checked once)."""
    return load_catalogue((RULES / "categories.yaml").read_text(encoding="utf-8"))


def category(code: str) -> Category:
    """Return a category by code or alias (InvalidInput ``citygov.unknown_category``)."""
    return catalogue().get(code)


def opts(uow_or_settings: UnitOfWork | Settings) -> CitygovSettings:
    """Return the validated citygov options."""
    settings = (
        uow_or_settings.settings if isinstance(uow_or_settings, UnitOfWork) else uow_or_settings
    )
    return options(settings)


def calendar(settings: Settings) -> WorkCalendar:
    """Return the city's working-hour calendar (mainland working days, the configured hours)."""
    return WorkCalendar(
        windows=parse_windows(options(settings).work_hours),
        zone=ZoneInfo(settings.timezone),
        is_working_day=is_working_day,
    )


def service_box(settings: Settings) -> Box:
    """Return the city's bounding box."""
    return parse_box(options(settings).service_area)


@lru_cache(maxsize=1)
def _default_weights() -> dict[str, float]:
    doc = yaml.safe_load((RULES / "kpi.yaml").read_text(encoding="utf-8"))
    return check_weights({str(k): float(v) for k, v in (doc.get("weights") or {}).items()})


def kpi_weights(settings: Settings) -> dict[str, float]:
    """Return the ranking weights: the setting when given, else ``rules/kpi.yaml``."""
    text = options(settings).kpi_weights.strip()
    return parse_weights(text) if text else dict(_default_weights())


def _named_org(uow: UnitOfWork, name: str, option: str) -> OrganizationOut:
    found = find_organizations(uow=uow, name=name, limit=1)
    if not found:
        raise InvalidInput(
            "citygov.settings", f"{option}: no organization named {name!r}", field=option
        )
    return found[0]


def centre_org(uow: UnitOfWork) -> OrganizationOut:
    """Return the command centre's organization (``centre_org``, or the oldest operator)."""
    name = opts(uow).centre_org.strip()
    if name:
        return _named_org(uow, name, "MINGYUE_CITYGOV__CENTRE_ORG")
    found = find_organizations(uow=uow, kind="operator", limit=1)
    if not found:
        raise InvalidInput(
            "citygov.no_centre",
            "no command centre: create an operator organization or set MINGYUE_CITYGOV__CENTRE_ORG",
            field="MINGYUE_CITYGOV__CENTRE_ORG",
        )
    return found[0]


def supervisor_org(uow: UnitOfWork) -> OrganizationOut:
    """Return the organization escalations go to (``supervisor_org``, or the centre)."""
    name = opts(uow).supervisor_org.strip()
    return _named_org(uow, name, "MINGYUE_CITYGOV__SUPERVISOR_ORG") if name else centre_org(uow)


def org_name(uow: UnitOfWork, org_id: int | None) -> str:
    """Return an organization's name (``""`` when none or unknown)."""
    if org_id is None:
        return ""
    org = organization(uow=uow, organization_id=org_id)
    return org.name if org is not None else ""


def is_centre(uow: UnitOfWork, actor: Actor) -> bool:
    """Tell whether the actor works the centre's desk (a seat, or the platform admin)."""
    return can(actor, "citygov.case.manage")


def require_centre_member(uow: UnitOfWork, actor: Actor) -> int:
    """Return the centre's org id when the actor may collect problems for it (inspector, seat)."""
    centre = centre_org(uow)
    if actor.is_system or is_centre(uow, actor) or actor.organization_id == centre.id:
        return centre.id
    raise NotFound("core.not_found", "not found")


@contextmanager
def platform_scope(uow: UnitOfWork, reason: str, *, record: bool = True) -> Iterator[None]:
    """Lift the tenant filter for one explicit cross-organization step (recorded by default)."""
    with uow.unscoped(reason=f"citygov: {reason}", record=record):
        yield


def local_day(at: datetime, settings: Settings) -> str:
    """Return the local calendar day (YYYY-MM-DD) of a moment in the display zone."""
    return at.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d")


def contact_key(settings: Settings, kind: str, value: str) -> str:
    """Return a stable, non-reversible key of a reporter's contact (for caps and de-dup)."""
    digest = hmac.new(
        settings.secret_key.encode(), f"{kind}:{value.strip().lower()}".encode(), hashlib.sha256
    ).hexdigest()[:40]
    return f"contact:{digest}"


def clean_text(
    value: Any, *, field: str, max_len: int, required: bool = False, multiline: bool = False
) -> str:
    """Return stripped text without control characters (InvalidInput naming the field)."""
    text = str(value or "").strip()
    if required and not text:
        raise InvalidInput("citygov.text_required", f"{field} is required", field=field)
    if len(text) > max_len:
        raise InvalidInput(
            "citygov.text_too_long", f"{field} longer than {max_len}", field=field, max=max_len
        )
    keep = {"\n", "\r", "\t"} if multiline else set()
    if any((ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0) and ch not in keep for ch in text):
        raise InvalidInput(
            "citygov.control_chars", f"{field}: control characters are not allowed", field=field
        )
    return text


def now_utc() -> datetime:
    """Return the platform clock's now (one clock, frozen in tests)."""
    return now()
