"""How the review case of an App report shows its subject: the report's summary and a link to it.

Named by the case kind (``subject_view``); only :mod:`mingyue.sdk`, the enabler's table and the
pure :mod:`.report_view`, so the case page never needs the appcheck extra.
"""

from __future__ import annotations

from mingyue.sdk import CaseOut, SubjectView, UnitOfWork, get_visible

from . import report_view
from .models import Review, Scan


def subject_view(*, uow: UnitOfWork, case: CaseOut) -> SubjectView | None:
    """Return the summary of the report under review, linked to the full report."""
    scan_id = (case.data or {}).get("scan_id")
    if not isinstance(scan_id, int):
        return None
    scan = get_visible(uow, Scan, scan_id, "appcheck.report.read", key="appcheck.not_found")
    link = f"/appcheck/scans/{scan.id}"
    if scan.status != "done":
        return SubjectView(
            title="appcheck.subject.title",
            fields=(("appcheck.file", scan.file_name), ("SHA-256", scan.sha256)),
            link=link,
            link_label="appcheck.open_report",
        )
    s = report_view.summarize(scan.report or {})
    app_type = (scan.report or {}).get("app_type") or {}
    fields: list[tuple[str, str]] = [
        # the case page translates labels, not values: the verdict is in the label
        (
            f"appcheck.conclusion.short.{s.conclusion}",
            str(s.dynamic if s.conclusion == "clean" else s.issue_total + s.warning_total),
        ),
        ("appcheck.file", scan.file_name),
        ("appcheck.package", scan.package or "—"),
        ("SHA-256", scan.sha256),
        ("appcheck.subject.app_type", f"{app_type.get('zh', '')} / {app_type.get('en', '')}")
        if app_type
        else ("appcheck.subject.app_type", "—"),
        ("appcheck.summary.third_party", ", ".join(s.third_party) or "—"),
        ("appcheck.subject.dangerous", str(s.dangerous)),
        ("appcheck.subject.unnecessary", str(len(s.unnecessary))),
        ("appcheck.subject.issues_high", str(s.issues["high"])),
        ("appcheck.subject.issues_medium", str(s.issues["medium"])),
        ("appcheck.subject.issues_low", str(s.issues["low"])),
        ("appcheck.subject.warnings", str(s.warning_total)),
        ("appcheck.summary.dynamic", str(s.dynamic)),
    ]
    if s.incomplete:
        fields.insert(1, ("appcheck.incomplete", "⚠"))
    return SubjectView(
        title="appcheck.subject.title",
        fields=tuple(fields),
        link=link,
        link_label="appcheck.open_report",
    )


def review_subject_view(*, uow: UnitOfWork, case: CaseOut) -> SubjectView | None:
    """Return the summary of a listing / ethics review, linked to its page."""
    review_id = (case.data or {}).get("review_id")
    if not isinstance(review_id, int):
        return None
    review = get_visible(uow, Review, review_id, "appcheck.report.read", key="appcheck.not_found")
    counts = {r: sum(1 for x in review.results if x.get("result") == r) for r in _RESULTS}
    return SubjectView(
        title=f"appcheck.review.kind.{review.kind}",
        fields=(
            ("appcheck.package", review.package or "—"),
            ("appcheck.review.result.pass", str(counts["pass"])),
            ("appcheck.review.result.fail", str(counts["fail"])),
            ("appcheck.review.result.needs_evidence", str(counts["needs_evidence"])),
            ("appcheck.review.evidence_count", str(len(review.evidence))),
        ),
        link=f"/appcheck/reviews/{review.id}",
        link_label="appcheck.review.open",
    )


_RESULTS = ("pass", "fail", "needs_evidence")
