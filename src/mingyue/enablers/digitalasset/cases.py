"""The case kind of digitalasset: the content review of a registered work.

Light on purpose (only :mod:`mingyue.sdk`): ``mingyue dev check`` loads it without the
digitalasset extra; the hooks it names live in :mod:`.service.registry`.
"""

from __future__ import annotations

from mingyue.sdk import CaseKind, State, Transition

_HOOKS = "mingyue.enablers.digitalasset.service.registry"
_REVIEWERS = ("reviewer",)

WORK_REVIEW_CASE = CaseKind(
    name="digitalasset.work_review",
    title={"zh": "数字作品内容审核", "en": "Content review of a digital work"},
    states={
        "submitted": State({"zh": "已提交", "en": "Submitted"}, sla_hours=72),
        "reviewed": State({"zh": "已初审", "en": "Reviewed"}, sla_hours=48),
        "approved": State({"zh": "审核通过", "en": "Approved"}, terminal=True),
        "rejected": State({"zh": "审核不通过", "en": "Rejected"}, terminal=True),
    },
    initial="submitted",
    transitions=[
        Transition(
            "review",
            ("submitted",),
            "reviewed",
            _REVIEWERS,
            {"zh": "初审通过", "en": "Mark reviewed"},
        ),
        Transition(
            "approve",
            ("reviewed",),
            "approved",
            _REVIEWERS,
            {"zh": "审核通过并发证", "en": "Approve and certify"},
        ),
        Transition(
            "reject",
            ("submitted", "reviewed"),
            "rejected",
            _REVIEWERS,
            {"zh": "审核不通过", "en": "Reject"},
            requires_comment=True,
        ),
    ],
    hooks={
        "review": f"{_HOOKS}:on_review",
        "approve": f"{_HOOKS}:on_approve",
        "reject": f"{_HOOKS}:on_reject",
    },
)
