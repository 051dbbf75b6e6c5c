"""The rectification case (整改): ordered → reported → re-verified → decided.

Light on purpose (only :mod:`mingyue.sdk`): ``mingyue dev check`` loads it on its own. The
rectification's own deadline (working days, per rule) lives on its row and is watched by the
``supervision.reminders`` job; the SLA hours below are the regulator's clocks between steps.
Administrative Penalty Law (2021) Art. 28: the order to correct, within a time limit.
"""

from __future__ import annotations

from mingyue.sdk import CaseKind, State, Transition

_ENTERPRISE = ("org_admin", "member")
_REGULATOR = ("regulator",)
_HOOKS = "mingyue.enablers.supervision.service"
_OPEN = ("ordered", "overdue", "submitted", "reverifying", "verified", "returned")

RECTIFICATION_CASE = CaseKind(
    name="supervision.rectification",
    title={"zh": "限期整改", "en": "Rectification"},
    states={
        "ordered": State({"zh": "整改中", "en": "Rectifying"}),
        "overdue": State({"zh": "逾期未整改", "en": "Overdue"}, sla_hours=72),
        "submitted": State({"zh": "整改报告已提交", "en": "Report submitted"}, sla_hours=120),
        "reverifying": State({"zh": "复核中", "en": "Re-verifying"}, sla_hours=120),
        "verified": State({"zh": "复核完成", "en": "Re-verified"}, sla_hours=240),
        "returned": State({"zh": "退回继续整改", "en": "Returned for correction"}),
        "decided": State({"zh": "已作出决定", "en": "Decided"}, terminal=True),
        "withdrawn": State({"zh": "已撤销", "en": "Withdrawn"}, terminal=True),
    },
    initial="ordered",
    transitions=[
        Transition(
            "report",
            ("ordered", "overdue", "returned"),
            "submitted",
            _ENTERPRISE,
            {"zh": "提交整改报告", "en": "Submit the rectification report"},
        ),
        Transition(
            "reverify",
            ("submitted", "verified"),
            "reverifying",
            (*_ENTERPRISE, *_REGULATOR),
            {"zh": "申请复核", "en": "Request re-verification"},
        ),
        Transition(
            "verified",
            ("reverifying",),
            "verified",
            _REGULATOR,
            {"zh": "记录复核结果", "en": "Record the re-verification"},
        ),
        Transition(
            "return",
            ("submitted", "reverifying", "verified"),
            "returned",
            _REGULATOR,
            {"zh": "退回继续整改", "en": "Return for correction"},
            requires_comment=True,
        ),
        Transition(
            "overdue",
            ("ordered", "returned"),
            "overdue",
            _REGULATOR,
            {"zh": "标记逾期", "en": "Mark overdue"},
        ),
        Transition(
            "decide",
            _OPEN,
            "decided",
            _REGULATOR,
            {"zh": "作出决定", "en": "Decide"},
        ),
        Transition(
            "withdraw",
            _OPEN,
            "withdrawn",
            _REGULATOR,
            {"zh": "撤销整改", "en": "Withdraw"},
            requires_comment=True,
        ),
    ],
    hooks={
        name: f"{_HOOKS}:on_{name}"
        for name in ("report", "reverify", "verified", "return", "overdue", "decide", "withdraw")
    },
)
