"""PDF export of a report (WeasyPrint; CJK text set in Debian's Noto CJK fonts).

The report holds attacker-controlled strings (class names, URLs, manifest values): they are
autoescaped by Jinja, and WeasyPrint gets a URL fetcher that refuses every fetch, so rendering
never touches the network or the file system.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from mingyue.sdk import Refused

TEMPLATES = Path(__file__).parent / "templates"


def _no_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    raise ValueError(f"external resources are not loaded in reports: {url[:80]}")


def render_pdf(report: dict[str, Any], *, lang: str = "zh") -> bytes:
    """Render a report dict (``get_report`` output) as PDF bytes."""
    try:
        import weasyprint  # lazy: appcheck extra, heavy (pango/cairo bindings)
    except ImportError as exc:  # pragma: no cover - the appcheck extra installs it
        raise Refused("appcheck.pdf_unavailable", "PDF export needs WeasyPrint") from exc
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape())
    html = env.get_template("appcheck/report_pdf.html").render(r=report, lang=lang)
    doc = weasyprint.HTML(string=html, base_url=None, url_fetcher=_no_fetch)
    pdf: bytes = doc.write_pdf()
    return pdf
