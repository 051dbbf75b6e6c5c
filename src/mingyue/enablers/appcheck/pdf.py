"""PDF export of a report (WeasyPrint; CJK text set in Debian's Noto CJK fonts).

The report holds attacker-controlled strings (class names, URLs, manifest values): they are
autoescaped by Jinja, and WeasyPrint gets a URL fetcher that refuses every fetch, so rendering
never touches the network or the file system.

A PDF that would lose glyphs is refused: on a server without a CJK font WeasyPrint draws empty
boxes and the document still "renders". So the text of the finished PDF is read back (pypdf)
and every Chinese character of the page must be in it; otherwise ``appcheck.pdf_no_cjk_font``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import segno
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from mingyue.i18n import t
from mingyue.sdk import Refused

from . import report_view

TEMPLATES = Path(__file__).parent / "templates"
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")
_TAG = re.compile(r"<[^>]*>")


class MissingGlyphs(Refused):
    """The server has no font for the report's Chinese text (HTTP 503)."""

    status = 503


def _no_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    raise ValueError(f"external resources are not loaded in reports: {url[:80]}")


def qr_svg(text: str) -> Markup:
    """Return a QR code of ``text`` as inline SVG for the PDF."""
    svg = segno.make(text, error="m").svg_inline(scale=2, border=2, dark="#000", light="#fff")
    # segno writes the SVG from the encoded bits alone (no input text in it): safe markup.
    return Markup(svg)  # noqa: S704


def _text_of(html: str) -> str:
    return _TAG.sub(" ", re.sub(r"<(style|svg)\b.*?</\1>", " ", html, flags=re.S))


def extract_text(pdf: bytes) -> str:
    """Return the text of a PDF as a reader's copy-and-paste would give it."""
    from pypdf import PdfReader  # lazy: appcheck extra, only when a PDF is checked

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


def check_glyphs(html: str, pdf: bytes) -> None:
    """Refuse a PDF whose text lost Chinese characters of its page (no CJK font installed)."""
    wanted = set(_CJK.findall(_text_of(html)))
    if not wanted:
        return
    got = set(_CJK.findall(extract_text(pdf)))
    lost = wanted - got
    if lost:
        raise MissingGlyphs(
            "appcheck.pdf_no_cjk_font",
            f"no CJK font: {len(lost)} Chinese characters would print as boxes "
            "(install fonts-noto-cjk)",
            missing=len(lost),
        )


def render_html(report: dict[str, Any], *, lang: str = "zh", verify_url: str | None = None) -> str:
    """Return the report's PDF page as HTML, labels in ``lang`` (zh or en)."""
    locale = "en" if lang == "en" else "zh_CN"
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape())

    def tr(key: str, **params: Any) -> str:
        return t(key, locale, **params)

    return env.get_template("appcheck/report_pdf.html").render(
        r=report,
        lang=lang,
        locale=locale,
        t=tr,
        s=report_view.summarize(report),
        rows=lambda findings: report_view.rows(findings, locale),
        sdk_category=lambda c: report_view.sdk_category(c, locale),
        reason=lambda x: report_view.reason_text(x, locale),
        sev=report_view.SEVERITY_KEYS,
        cat=report_view.CATEGORY_STATUS_KEYS,
        review=report_view.REVIEW_DECISION_KEYS,
        verify_url=verify_url,
        qr=qr_svg(verify_url) if verify_url else None,
    )


def render_pdf(report: dict[str, Any], *, lang: str = "zh", verify_url: str | None = None) -> bytes:
    """Render a report dict (``get_report`` output) as PDF bytes; refuse one that loses glyphs."""
    try:
        import weasyprint  # lazy: appcheck extra, heavy (pango/cairo bindings)
    except ImportError as exc:  # pragma: no cover - the appcheck extra installs it
        raise Refused("appcheck.pdf_unavailable", "PDF export needs WeasyPrint") from exc
    html = render_html(report, lang=lang, verify_url=verify_url)
    doc = weasyprint.HTML(string=html, base_url=None, url_fetcher=_no_fetch)
    pdf: bytes = doc.write_pdf()
    check_glyphs(html, pdf)
    return pdf
