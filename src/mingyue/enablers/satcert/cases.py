"""The case kind of satcert: one terminal sample from intake to its certificate.

Light on purpose (only :mod:`mingyue.sdk`): ``mingyue dev check`` loads it without the satcert
extra; the hooks it names live in :mod:`.service.review`.
"""

from __future__ import annotations

from mingyue.sdk import CaseKind, State, Transition

_HOOKS = "mingyue.enablers.satcert.service.review"
_LAB = ("reviewer",)
_MAKER = ("org_admin", "member")

CERTIFICATION_CASE = CaseKind(
    name="satcert.certification",
    title={"zh": "卫星终端送检认证", "en": "Satellite terminal certification"},
    states={
        "intake": State({"zh": "样品受理", "en": "Sample intake"}, sla_hours=48),
        "testing": State({"zh": "检测中", "en": "Testing"}, sla_hours=240),
        "review": State({"zh": "审核中", "en": "In review"}, sla_hours=120),
        "returned": State({"zh": "退回整改", "en": "Returned to the maker"}),
        "certified": State({"zh": "已发证", "en": "Certified"}, terminal=True),
        "rejected": State({"zh": "不予发证", "en": "Rejected"}, terminal=True),
    },
    initial="intake",
    transitions=[
        Transition(
            "start_testing",
            ("intake",),
            "testing",
            _LAB,
            {"zh": "开始检测", "en": "Start testing"},
        ),
        Transition(
            "submit_review",
            ("testing",),
            "review",
            _LAB,
            {"zh": "提交审核", "en": "Submit for review"},
        ),
        Transition(
            "retest",
            ("review",),
            "testing",
            _LAB,
            {"zh": "补充检测", "en": "Back to testing"},
        ),
        Transition(
            "approve",
            ("review",),
            "certified",
            _LAB,
            {"zh": "批准发证", "en": "Approve and certify"},
        ),
        Transition(
            "reject",
            ("review",),
            "rejected",
            _LAB,
            {"zh": "不予发证", "en": "Reject"},
            requires_comment=True,
        ),
        Transition(
            "return",
            ("intake", "testing", "review"),
            "returned",
            _LAB,
            {"zh": "退回整改", "en": "Return to the maker"},
            requires_comment=True,
        ),
        Transition(
            "resubmit",
            ("returned",),
            "intake",
            _MAKER,
            {"zh": "整改后重新送检", "en": "Resubmit after correction"},
        ),
    ],
    hooks={
        "submit_review": f"{_HOOKS}:on_submit_review",
        "approve": f"{_HOOKS}:on_approve",
        "reject": f"{_HOOKS}:on_reject",
        "return": f"{_HOOKS}:on_return",
        "resubmit": f"{_HOOKS}:on_resubmit",
    },
)
