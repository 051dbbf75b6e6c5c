"""A credential as a certificate people read: who issued what to whom, until when, and its QR."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import segno
from markupsafe import Markup

from mingyue.core.clock import now, zone
from mingyue.core.ledger.credentials import CredentialOut
from mingyue.i18n import catalogue, t
from mingyue.web.display import value_label

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_HEX = re.compile(r"^[0-9a-f]{32,}$")
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_USER = re.compile(r"^user:[\w.@-]+$")  # how the ledger names a person (Actor.label)


@dataclass
class Field:
    """One line of what is certified: a label and a value (text, or nested fields)."""

    label: str
    text: str = ""
    code: bool = False  # a digest or an identifier: shown in a monospace font
    children: list[Field] = field(default_factory=list)


def signed_document(doc: Any) -> Any:
    """Return the signed credential in what a person saved: the bare VC or the API's answer.

    ``GET /api/credentials/{id}`` (and ``mingyue credential show --json``) wrap the signed VC
    in ``{"id", "type", …, "credential": {…}}``; the VC is the part with ``@context``.
    """
    if isinstance(doc, dict) and "@context" not in doc:
        inner = doc.get("credential")
        if isinstance(inner, dict) and "@context" in inner:
            return inner
    return doc


def snake(name: str) -> str:
    """Return a subject field name in snake_case (``recipientCountry`` → ``recipient_country``)."""
    return _CAMEL.sub("_", name).lower()


def field_label(name: str, vc_type: str, locale: str) -> str:
    """Return the label of a subject field: the type's own, the generic one, or the name in words."""
    key = snake(name)
    for candidate in (f"credential.{vc_type}.{key}", f"core.credentials.field.{key}"):
        if candidate in catalogue("en") or candidate in catalogue(locale):
            return t(candidate, locale)
    return key.replace("_", " ").strip().capitalize() or name


def type_label(vc_type: str, locale: str) -> str:
    """Return the label of a credential type (``credential.<Type>``), else the type itself."""
    key = f"credential.{vc_type}"
    if key in catalogue("en") or key in catalogue(locale):
        return t(key, locale)
    # No label declared: the type in words ("AppComplianceReport" → "App Compliance Report").
    return " ".join(_CAMEL.split(vc_type)) or vc_type


def localized(value: Any, locale: str) -> str | None:
    """Return a VC language value (text or ``[{"@value", "@language"}]``) in the locale."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        values = {
            str(v.get("@language", "")).split("-")[0]: str(v.get("@value", ""))
            for v in value
            if isinstance(v, dict)
        }
        return values.get(locale.split("_")[0]) or next(iter(values.values()), None)
    return None


def _scalar(value: Any, locale: str, tz: str) -> tuple[str, bool]:
    if isinstance(value, bool):
        return t("core.credentials.yes" if value else "core.credentials.no", locale), False
    if value is None or value == "":
        return "—", False
    text = str(value)
    if _USER.match(text):
        return text.removeprefix("user:"), False
    if _ISO_TIME.match(text):
        try:
            at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text, False
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        return at.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M"), False
    if _HEX.match(text):
        return text, True
    return value_label(text, locale), False


def subject_fields(
    subject: dict[str, Any], vc_type: str, locale: str, tz: str, depth: int = 0
) -> list[Field]:
    """Return the credential subject as labelled lines (nested objects as nested lines)."""
    out: list[Field] = []
    for name, value in subject.items():
        label = field_label(name, vc_type, locale)
        if isinstance(value, dict) and depth < 3:
            out.append(Field(label, children=subject_fields(value, vc_type, locale, tz, depth + 1)))
        elif isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
            out.append(Field(label, "、".join(_scalar(v, locale, tz)[0] for v in value) or "—"))
        elif isinstance(value, list) and depth < 3:
            children = [
                Field(
                    f"{i + 1}",
                    children=subject_fields(v, vc_type, locale, tz, depth + 1)
                    if isinstance(v, dict)
                    else [],
                    text="" if isinstance(v, dict) else _scalar(v, locale, tz)[0],
                )
                for i, v in enumerate(value)
            ]
            out.append(Field(label, children=children))
        else:
            text, code = _scalar(value, locale, tz)
            out.append(Field(label, text, code))
    return out


def status_of(c: CredentialOut) -> str:
    """Return the credential's state: ``revoked``, ``expired`` or ``active``."""
    if c.revoked:
        return "revoked"
    until = c.valid_until
    if until is not None and (until if until.tzinfo else until.replace(tzinfo=UTC)) <= now():
        return "expired"
    return "active"


def qr_svg(text: str, title: str) -> Markup:
    """Return a QR code of ``text`` as inline SVG (dark on white, quiet zone kept)."""
    code = segno.make(text, error="m")
    svg = code.svg_inline(
        scale=4, border=4, dark="#1d2433", light="#ffffff", svgclass="qr", lineclass="qr-line"
    )
    # segno writes the SVG from the encoded bits alone (no input text in it): safe markup.
    body = Markup(svg.removeprefix("<svg "))  # noqa: S704
    return Markup('<svg role="img" aria-label="{}" ').format(title) + body
