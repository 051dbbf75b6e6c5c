"""What the digitalasset pages share: form field types, template helpers, the page renderer, the
error box (with the rule and its citation when a rule refused), amounts and capped uploads."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import Form, Path, Request, UploadFile
from fastapi.responses import Response

from mingyue.enablers.digitalasset.cases import WORK_REVIEW_CASE
from mingyue.enablers.digitalasset.engine.rules import load_pack
from mingyue.i18n import t
from mingyue.sdk import format_cny
from mingyue.sdk.errors import InvalidInput, MingyueError, PayloadTooLarge
from mingyue.web.console import error_box, lang_of, locale_of, render_page

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
Key = Annotated[str, Form(max_length=100)]
Short = Annotated[str, Form(max_length=200)]
Text = Annotated[str, Form(max_length=20000)]


def helpers(request: Request) -> dict[str, Any]:
    """Return the functions every digitalasset template uses (labels, money, short hashes)."""
    locale = locale_of(request)
    lang = lang_of(locale)
    states = WORK_REVIEW_CASE.states

    def tr(prefix: str) -> Callable[[Any], str]:
        def f(value: Any) -> str:
            key = f"digitalasset.{prefix}.{value}"
            found = t(key, locale)
            return str(value) if found == key else found

        return f

    return {
        "lang": lang,
        "state_title": lambda s: states[s].title.get(lang, s) if s in states else s,
        "kind_text": tr("kind"),
        "mode_text": tr("mode"),
        "purpose_text": tr("purpose"),
        "status_text": tr("status"),
        "standard_text": tr("standard"),
        "step_text": tr("step"),
        "pattern_text": tr("pattern"),
        "severity_text": tr("severity"),
        "category_text": tr("category"),
        "alert_status_text": tr("alert_status"),
        "label_kind_text": tr("label_kind"),
        "window_text": tr("window"),
        "audit_status_text": tr("audit.run_status"),
        "cny": lambda v: "—" if v is None else format_cny(Decimal(v)),
        "short": lambda s: (s[:10] + "…" + s[-6:]) if s and len(s) > 20 else (s or "—"),
    }


def page(
    request: Request,
    template: str,
    ctx: dict[str, Any],
    exc: MingyueError | None = None,
) -> Response:
    """Render a digitalasset page; with ``exc``, its error box and its status."""
    return render_page(request, template, {**helpers(request), **ctx}, exc, box=error)


def error(request: Request, exc: MingyueError) -> dict[str, Any]:
    """Return an error as the pages show it; a rule's refusal adds the rule and its citation."""
    params = {k: v for k, v in (exc.params or {}).items() if isinstance(v, (str, int))}
    out = error_box(request, exc, params=params)
    rule_id = (exc.params or {}).get("rule")
    if isinstance(rule_id, str):
        try:
            rule = load_pack().get(rule_id)
        except KeyError:
            rule = None
        if rule is not None:
            lang = lang_of(locale_of(request))
            out["rule"] = {
                "id": rule.id,
                "title": rule.title[lang],
                "citation": rule.citation[lang],
            }
    return out


def amount(text: str, field: str) -> Decimal | None:
    """Return a typed amount (``99.00``), None when the field is empty."""
    if not text.strip():
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation as exc:
        raise InvalidInput(
            "digitalasset.bad_amount", "an amount such as 99.00", field=field
        ) from exc


def read_capped(upload: UploadFile, limit: int, key: str) -> bytes:
    """Return an upload's bytes, refusing (413) one larger than ``limit``."""
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(key, f"the file is larger than {limit} bytes", field="file")
    return data
