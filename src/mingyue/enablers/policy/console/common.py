"""What the policy pages share: labels, figures, the template helpers and the page renderer."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import Form, Path, Request
from fastapi.responses import Response

from mingyue.enablers.policy.service.common import departments
from mingyue.i18n import t
from mingyue.sdk import Actor, can
from mingyue.sdk.errors import MingyueError
from mingyue.web.console import lang_of, locale_of, render_page

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
Key = Annotated[str, Form(max_length=100)]


def pick(text: dict[str, str] | None, lang: str) -> str:
    """Return one language of a {zh, en} pair (Chinese when the other is missing)."""
    if not text:
        return ""
    return text.get(lang) or text.get("zh") or next(iter(text.values()), "")


def number(value: Decimal | float | int | None) -> str:
    """Return a figure as people read it: thousands separated, at most two decimals."""
    if value is None:
        return "—"
    d = Decimal(str(value)).quantize(Decimal("0.01"))
    text = f"{d:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def percent(value: Decimal | float | None, digits: int = 1) -> str:
    """Return a share (0.123) as a percentage (12.3%)."""
    if value is None:
        return "—"
    return f"{float(value) * 100:.{digits}f}%"


def is_enterprise(actor: Actor) -> bool:
    """Tell whether the actor acts for an enterprise (its own profile, requests, inbox)."""
    return actor.org_kind == "enterprise" and can(actor, "policy.profile.manage")


def helpers(request: Request) -> dict[str, Any]:
    """Return the functions every policy template uses."""
    locale = locale_of(request)
    lang = lang_of(locale)
    depts = departments()

    def label(prefix: str, value: str | None) -> str:
        if value is None or value == "":
            return "—"
        key = f"{prefix}.{value}"
        found = t(key, locale)
        return value if found == key else found

    def fact_value(fact: str, value: str) -> str:
        sep = "、" if lang == "zh" else ", "
        if fact in ("qualifications", "sectors"):
            prefix = "policy.qual" if fact == "qualifications" else "policy.sector"
            codes = [c for c in value.split(",") if c and c != "-"]
            return sep.join(label(prefix, c) for c in codes) or t("policy.console.none", locale)
        if fact in ("listing", "size_class"):
            return label("policy.listing" if fact == "listing" else "policy.size", value)
        if fact == "is_sme":
            return t("policy.console.yes" if value == "true" else "policy.console.no", locale)
        if fact in ("revenue", "rd_spend"):
            return t("policy.console.wan_yuan", locale, n=number(Decimal(value)))
        if fact == "rd_ratio":
            return f"{value}%"
        if fact == "age_years":
            return t("policy.console.years", locale, n=number(Decimal(value)))
        if fact == "headcount":
            return t("policy.console.persons", locale, n=value)
        return value

    def facts(values: list[Any]) -> str:
        sep = "；" if lang == "zh" else "; "
        return sep.join(f"{t('policy.fact.' + f, locale)} {fact_value(f, v)}" for f, v in values)

    return {
        "lang": lang,
        "facts": facts,
        "pick": lambda d: pick(d, lang),
        "num": number,
        "pct": percent,
        "dept": lambda code: pick(depts.get(code or ""), lang) or (code or "—"),
        "departments": [(code, pick(title, lang)) for code, title in depts.items()],
        "label": label,
    }


def page(
    request: Request, template: str, ctx: dict[str, Any], exc: MingyueError | None = None
) -> Response:
    """Render a policy page with the shared helpers; with ``exc``, its error box and status."""
    return render_page(request, template, {**helpers(request), **ctx}, exc)
