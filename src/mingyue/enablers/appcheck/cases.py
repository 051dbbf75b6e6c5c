"""Case kinds of appcheck: the reviewer's sign-off on a report.

Light on purpose (only :mod:`mingyue.sdk`): ``mingyue dev check`` loads it without the appcheck
extra; the hooks it names live in :mod:`.service`.
"""

from __future__ import annotations

from mingyue.sdk import CaseKind, State, Transition

REVIEW_CASE = CaseKind(
    name="appcheck.review",
    title={"zh": "App合规检测报告审核", "en": "App compliance report review"},
    states={
        "submitted": State(title={"zh": "待审核", "en": "Submitted"}, sla_hours=72),
        "in_review": State(title={"zh": "审核中", "en": "In review"}, sla_hours=120),
        "accepted": State(title={"zh": "已通过并签发", "en": "Accepted, signed"}, terminal=True),
        "returned": State(title={"zh": "已退回", "en": "Returned"}, terminal=True),
    },
    initial="submitted",
    transitions=[
        Transition(
            name="start_review",
            source=("submitted",),
            target="in_review",
            roles=("reviewer",),
            title={"zh": "开始审核", "en": "Start review"},
        ),
        Transition(
            name="accept",
            source=("submitted", "in_review"),
            target="accepted",
            roles=("reviewer",),
            title={"zh": "通过并签发报告", "en": "Accept and sign"},
        ),
        Transition(
            name="return",
            source=("submitted", "in_review"),
            target="returned",
            roles=("reviewer",),
            title={"zh": "退回", "en": "Return"},
            requires_comment=True,
        ),
    ],
    hooks={
        "accept": "mingyue.enablers.appcheck.service:on_accept",
        "return": "mingyue.enablers.appcheck.service:on_return",
    },
    subject_view="mingyue.enablers.appcheck.case_view:subject_view",
)


def _review_kind(name: str, title: dict[str, str], hook_prefix: str) -> CaseKind:
    """A review the operator prepares (answers, evidence) and a reviewer accepts or returns."""
    return CaseKind(
        name=name,
        title=title,
        states={
            "submitted": State(title={"zh": "待审核", "en": "Submitted"}, sla_hours=120),
            "accepted": State(
                title={"zh": "已通过并签发", "en": "Accepted, signed"}, terminal=True
            ),
            "returned": State(title={"zh": "已退回", "en": "Returned"}, terminal=True),
        },
        initial="submitted",
        transitions=[
            Transition(
                name="accept",
                source=("submitted",),
                target="accepted",
                roles=("reviewer",),
                title={"zh": "通过并签发", "en": "Accept and sign"},
            ),
            Transition(
                name="return",
                source=("submitted",),
                target="returned",
                roles=("reviewer",),
                title={"zh": "退回", "en": "Return"},
                requires_comment=True,
            ),
        ],
        hooks={
            "accept": f"mingyue.enablers.appcheck.service_reviews:{hook_prefix}_accept",
            "return": f"mingyue.enablers.appcheck.service_reviews:{hook_prefix}_return",
        },
        subject_view="mingyue.enablers.appcheck.case_view:review_subject_view",
    )


LISTING_CASE = _review_kind(
    "appcheck.listing", {"zh": "App上架审核", "en": "App store-listing review"}, "on_listing"
)
ETHICS_CASE = _review_kind(
    "appcheck.ethics", {"zh": "算法伦理审查", "en": "Algorithm-ethics review"}, "on_ethics"
)
