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


def _known(key: str, locale: str) -> bool:
    return key in catalogue("en") or key in catalogue(locale)


def field_label(name: str, vc_type: str, locale: str) -> str:
    """Return the label of a subject field: the type's own, the generic one, or the name in words.

    A dotted name ``<group>.<field>`` (satcert's key figures: ``NMEA-CONF.nmea_accepted``) with
    no label of its own reads ``<group> · <label of field>``: the group is a name as its issuer
    wrote it (a test case id), the field is labelled like any other.
    """
    key = snake(name)
    for candidate in (f"credential.{vc_type}.{key}", f"core.credentials.field.{key}"):
        if _known(candidate, locale):
            return t(candidate, locale)
    group, dot, leaf = name.rpartition(".")
    if dot and group and leaf:
        return f"{group} · {field_label(leaf, vc_type, locale)}"
    return key.replace("_", " ").strip().capitalize() or name


def type_label(vc_type: str, locale: str) -> str:
    """Return the label of a credential type (``credential.<Type>``), else the type itself."""
    key = f"credential.{vc_type}"
    if key in catalogue("en") or key in catalogue(locale):
        return t(key, locale)
    # No label declared: the type in words ("AppComplianceReport" → "App Compliance Report").
    return " ".join(_CAMEL.split(vc_type)) or vc_type


def localized(value: Any, locale: str) -> str | None:
    """Return a VC language value (text, ``[{"@value", "@language"}]`` or ``{"zh", "en"}``)
    in the locale."""
    if isinstance(value, str):
        return value
    if _is_language_pair(value):
        lang = locale.split("_")[0]
        return str(value.get(lang) or value.get("en") or next(iter(value.values()), "")) or None
    if isinstance(value, list):
        values = {
            str(v.get("@language", "")).split("-")[0]: str(v.get("@value", ""))
            for v in value
            if isinstance(v, dict)
        }
        return values.get(locale.split("_")[0]) or next(iter(values.values()), None)
    return None


_LANGS = frozenset({"zh", "en"})
_TOKEN = re.compile(r"^[\w.-]{1,64}$")


def _is_language_pair(value: Any) -> bool:
    """Tell a text given in both languages (``{"zh": …, "en": …}``) from a nested object."""
    return (
        isinstance(value, dict)
        and bool(value)
        and set(value) <= _LANGS
        and all(isinstance(v, str) for v in value.values())
    )


def _is_language_map(value: Any) -> bool:
    """Tell a JSON-LD language map (``[{"@value", "@language"}]``) from a list of objects."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and "@value" in v for v in value)
    )


def subject_value_label(
    value: Any, name: str, parent: str, vc_type: str, locale: str
) -> str | None:
    """Return the issuer's label of an enumerated subject value, or None when it has none.

    The issuing enabler's catalogue names the values its credentials carry:
    ``credential.<Type>.<field>.<value>`` (``credential.SupervisionDecision.outcome.no_penalty``),
    else ``credential.<Type>.<parent field>.<value>`` for an object whose entries all take the
    same kind of value (``factSources`` → ``credential.SupervisionDecision.fact_sources.platform``).
    """
    if not isinstance(value, str) or not _TOKEN.match(value):
        return None
    for field_name in (name, parent):
        if not field_name:
            continue
        key = f"credential.{vc_type}.{snake(field_name)}.{value}"
        if _known(key, locale):
            return t(key, locale)
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
    subject: dict[str, Any], vc_type: str, locale: str, tz: str, depth: int = 0, parent: str = ""
) -> list[Field]:
    """Return the credential subject as labelled lines (nested objects as nested lines).

    A value the issuer names in its catalogue (see ``subject_value_label``) is shown by that name, a
    text given in both languages in the page's language; anything else as it was signed.
    """
    out: list[Field] = []

    def scalar(v: Any, name: str, up: str) -> tuple[str, bool]:
        named = subject_value_label(v, name, up, vc_type, locale)
        return (named, False) if named is not None else _scalar(v, locale, tz)

    for name, value in subject.items():
        label = field_label(name, vc_type, locale)
        if _is_language_pair(value) or _is_language_map(value):
            out.append(Field(label, localized(value, locale) or "—"))
        elif isinstance(value, dict) and depth < 3:
            children = subject_fields(value, vc_type, locale, tz, depth + 1, parent=name)
            out.append(Field(label, children=children))
        elif isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
            out.append(Field(label, "、".join(scalar(v, name, parent)[0] for v in value) or "—"))
        elif isinstance(value, list) and depth < 3:
            children = [
                Field(
                    f"{i + 1}",
                    children=subject_fields(v, vc_type, locale, tz, depth + 1, parent=name)
                    if isinstance(v, dict)
                    else [],
                    text="" if isinstance(v, dict) else scalar(v, name, parent)[0],
                )
                for i, v in enumerate(value)
            ]
            out.append(Field(label, children=children))
        else:
            text, code = scalar(value, name, parent)
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
