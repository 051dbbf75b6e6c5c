"""Display filters of the console: money, local time, legal citations, labels of keys.

Registered on the Jinja environment by ``mingyue.web.console.environment()``:
``{{ amount | money }}``, ``{{ when | local_dt }}``, ``{{ "PIPL Art. 38(2)" | citation }}``,
``{{ key | label }}``. The macros ``tech_details`` and ``kv_table`` live in ``_tech.html``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from mingyue.core import registries
from mingyue.core.clock import zone
from mingyue.core.config import get_settings
from mingyue.core.metering.money import format_cny
from mingyue.core.plugins import registry
from mingyue.i18n import t, zone_label

_DIGITS = "零一二三四五六七八九"
_locale_var: ContextVar[str] = ContextVar("mingyue_render_locale", default="zh_CN")


@contextmanager
def rendering_locale(locale: str) -> Iterator[None]:
    """Set the locale of the page being rendered (read by macros imported without context)."""
    token = _locale_var.set(locale)
    try:
        yield
    finally:
        _locale_var.reset(token)


def current_locale() -> str:
    """Return the locale of the page being rendered (zh_CN outside a render)."""
    return _locale_var.get()


# Short names of the instruments the platform cites → their Chinese short titles.
INSTRUMENTS_ZH: dict[str, str] = {
    "PIPL": "个人信息保护法",
    "DSL": "数据安全法",
    "CSL": "网络安全法",
    "APL": "行政处罚法",
    "CAC 2022": "数据出境安全评估办法",
    "CAC 2024": "促进和规范数据跨境流动规定",
    "CAC 2023": "个人信息出境标准合同办法",
}

_CITE = re.compile(
    r"^\s*(?P<inst>.+?)\s+Art(?:icle)?\.?\s*(?P<art>\d{1,3})"
    r"(?P<parts>(?:\s*\(\d{1,3}\))*)\s*$"
)


def zh_number(n: int) -> str:
    """Write 1-999 as Chinese statutes number articles and items (三十八, 一百零五)."""
    if not 0 < n < 1000:
        raise ValueError(f"cannot write {n} in Chinese numerals")
    hundreds, rest = divmod(n, 100)
    tens, ones = divmod(rest, 10)
    out = ""
    if hundreds:
        out += _DIGITS[hundreds] + "百"
        if rest and tens == 0:
            return out + "零" + _DIGITS[ones]
    if tens:
        out += ("" if tens == 1 and not hundreds else _DIGITS[tens]) + "十"
    if ones:
        out += _DIGITS[ones]
    return out


def _zh_citation(inst: str, article: int, parts: list[int]) -> str:
    name = INSTRUMENTS_ZH.get(inst, inst)
    out = f"{name}第{zh_number(article)}条"
    if len(parts) == 1:
        out += f"第{zh_number(parts[0])}项"
    elif len(parts) >= 2:
        out += f"第{zh_number(parts[0])}款第{zh_number(parts[1])}项"
    return out


def format_citation(value: str | Mapping[str, Any] | None, locale: str = "zh_CN") -> str:
    """Return a legal citation as the locale writes it.

    ``"PIPL Art. 38(2)"`` or ``{"instrument": "PIPL", "article": 38, "item": 2}`` reads
    ``个人信息保护法第三十八条第二项`` in zh-CN and ``PIPL Art. 38(2)`` in English; ``(1)(2)`` is
    paragraph then item. Text that is not a citation is returned as it is.
    """
    if value is None:
        return ""
    if isinstance(value, Mapping):
        inst = str(value.get("instrument", ""))
        article = value.get("article")
        parts = [int(value[k]) for k in ("paragraph", "item") if value.get(k)]
        if not isinstance(article, int) or isinstance(article, bool):
            return inst
        if locale == "zh_CN":
            return _zh_citation(inst, article, parts)
        return f"{inst} Art. {article}" + "".join(f"({p})" for p in parts)
    text = str(value)
    if locale != "zh_CN":
        return text
    m = _CITE.match(text)
    if not m:
        return text
    nums = [int(p) for p in re.findall(r"\d+", m["parts"] or "")]
    try:
        return _zh_citation(m["inst"].strip(), int(m["art"]), nums)
    except ValueError:
        return text


def _locale(ctx: Context) -> str:
    return str(ctx.get("locale") or current_locale())


def _timezone(ctx: Context) -> str:
    request = ctx.get("request")
    settings = getattr(getattr(getattr(request, "app", None), "state", None), "settings", None)
    return str((settings or get_settings()).timezone)


def money(value: Decimal | int | float | str | None) -> str:
    """Jinja filter: CNY to the fen, half up (``¥1,234.57``)."""
    return format_cny(value)


@pass_context
def local_dt(ctx: Context, value: datetime | date | None, seconds: bool = False) -> Markup:
    """Jinja filter: an aware time in the display zone, the ISO UTC time in ``title``."""
    if value is None:
        return Markup("—")
    if not isinstance(value, datetime):
        return escape(value.isoformat())
    tz = _timezone(ctx)
    local = value.astimezone(zone(tz))
    shown = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    iso = value.astimezone(zone("UTC")).isoformat().replace("+00:00", "Z")
    label = zone_label(tz, _locale(ctx), value)
    return Markup('<time datetime="{iso}" title="{iso} · {label}">{shown}</time>').format(
        iso=iso, label=label, shown=shown
    )


@pass_context
def citation(ctx: Context, value: str | Mapping[str, Any] | None) -> str:
    """Jinja filter: a legal citation in the page's locale (see ``format_citation``)."""
    return format_citation(value, _locale(ctx))


def key_label(key: Any, locale: str, prefix: str = "") -> str:
    """Return a data key as people read it: ``prefix + key``, then ``core.field.<key>``, then
    the key itself as words (``max_runtime_s`` → ``max runtime s``) — never a raw identifier."""
    text = str(key)
    for full in (prefix + text, "core.field." + text):
        if prefix or full != text:
            found = t(full, locale)
            if found != full:
                return found
    return text.replace("_", " ").replace(".", " ").strip() or text


@pass_context
def label(ctx: Context, key: Any, prefix: str = "") -> str:
    """Jinja filter: a data key through the catalogue (see ``key_label``)."""
    return key_label(key, _locale(ctx), prefix)


@pass_context
def plain(ctx: Context, value: Any) -> str:
    """Jinja filter: a scalar value as people read it (yes/no, numbers, lists joined)."""
    locale = _locale(ctx)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return t("core.yes" if value else "core.no", locale)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) >= 1e6 else f"{value:g}"
    if isinstance(value, str):
        return value_label(value, locale)
    if isinstance(value, (list, tuple)):
        return (
            "、".join(plain(ctx, v) for v in value)
            if locale == "zh_CN"
            else ", ".join(plain(ctx, v) for v in value)
        )
    return str(value)


def job_kind_label(kind: str, locale: str) -> str:
    """Return a job kind as people read it: the catalogue's ``job.<kind>``, else the title of the
    enabler that declares it ("App 合规检测 · 任务"), never the raw name."""
    key = "job." + kind
    found = t(key, locale)
    if found != key:
        return found
    lang = "zh" if locale == "zh_CN" else "en"
    for en in registry().ordered():
        if kind in en.job_kinds:
            title = en.title.get(lang) or en.title.get("en") or en.key
            return f"{title} · {t('core.jobs.job', locale)}"
    return t("core.jobs.kind.unknown", locale)


@pass_context
def job_kind(ctx: Context, kind: str) -> str:
    """Jinja filter: a job kind's label (see ``job_kind_label``)."""
    return job_kind_label(str(kind), _locale(ctx))


def value_label(value: str, locale: str) -> str:
    """Return a text value as people read it when it names something the platform knows.

    A catalogue key is translated; a common state word (``core.value.<word>``: done, failed,
    queued …) too; a finding rule name becomes the rule's title; a job kind its
    label; a record reference (``appcheck_scan:1``) its label (see ``subject_ref``); anything
    else is returned as it is.
    """
    if not value or len(value) > 200 or " " in value:
        return value
    found = t(value, locale)
    if found != value:
        return found
    common = "core.value." + value
    found = t(common, locale)
    if found != common:
        return found
    lang = "zh" if locale == "zh_CN" else "en"
    rule = registries.finding_rule(value)
    if rule is not None:
        title = rule[1].title
        return title.get(lang) or title.get("en") or value
    if value in registries._job_kinds:
        return job_kind_label(value, locale)
    if _REF.match(value):
        return subject_ref_label(value, locale)
    return value


_REF = re.compile(r"^([a-z][a-z0-9]*(?:_[a-z0-9]+)+):([\w.-]{1,80})$")


def subject_ref_label(ref: str, locale: str) -> str:
    """Return a record reference ``<table>:<id>`` as people read it ("App 检测报告 #1").

    The table's label is the catalogue's ``subject.<table>``, else the title of the enabler
    whose key prefixes the table; ``user:<name>`` is the user's name.
    """
    if ref.startswith("user:"):
        return ref.removeprefix("user:")
    m = _REF.match(ref)
    if not m:
        return ref
    table, ident = m.group(1), m.group(2)
    key = "subject." + table
    found = t(key, locale)
    if found != key:
        return f"{found} #{ident}"
    lang = "zh" if locale == "zh_CN" else "en"
    for en in registry().ordered():
        ns = "core" if en.core else en.key
        if table.startswith(ns + "_") and not en.core:
            return f"{en.title.get(lang) or en.title.get('en') or en.key} #{ident}"
    return ref


@pass_context
def subject_ref(ctx: Context, ref: Any) -> str:
    """Jinja filter: a record reference (``appcheck_scan:1``) as people read it."""
    return subject_ref_label(str(ref), _locale(ctx))


FILTERS = {
    "subject_ref": subject_ref,
    "job_kind": job_kind,
    "money": money,
    "local_dt": local_dt,
    "citation": citation,
    "label": label,
    "plain": plain,
}
