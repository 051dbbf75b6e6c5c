"""Case kinds of crossborder: the three filings and the flow alert, with their validity rules.

Light on purpose (only :mod:`mingyue.sdk`): ``mingyue dev check`` loads it without the crossborder
extra; the hooks it names live in :mod:`.filings`.
"""

from __future__ import annotations

from mingyue.sdk import CaseKind, State, Transition

# 促进和规范数据跨境流动规定 Art. 9: an assessment result is valid for 3 years.
VALIDITY_DAYS = 3 * 365 + 1
EXPIRY_WARNING_DAYS = 90

_HOOKS = "mingyue.enablers.crossborder.filings"
_REVIEWERS = ("reviewer", "regulator")


def _filing_kind(kind: str, zh: str, en: str, approve_zh: str, approve_en: str) -> CaseKind:
    return CaseKind(
        name=f"crossborder.{kind}",
        title={"zh": zh, "en": en},
        states={
            "submitted": State({"zh": "已提交", "en": "Submitted"}, sla_hours=72),
            "in_review": State({"zh": "审查中", "en": "In review"}, sla_hours=240),
            "returned": State({"zh": "退回补正", "en": "Returned for correction"}),
            "approved": State({"zh": approve_zh, "en": approve_en}, terminal=True),
            "rejected": State({"zh": "不予通过", "en": "Rejected"}, terminal=True),
            "withdrawn": State({"zh": "已撤回", "en": "Withdrawn"}, terminal=True),
        },
        initial="submitted",
        transitions=[
            Transition(
                "start_review",
                ("submitted",),
                "in_review",
                _REVIEWERS,
                {"zh": "开始审查", "en": "Start review"},
            ),
            Transition(
                "approve",
                ("in_review",),
                "approved",
                _REVIEWERS,
                {"zh": approve_zh, "en": approve_en},
            ),
            Transition(
                "reject",
                ("in_review",),
                "rejected",
                _REVIEWERS,
                {"zh": "不予通过", "en": "Reject"},
                requires_comment=True,
            ),
            Transition(
                "return",
                ("in_review",),
                "returned",
                _REVIEWERS,
                {"zh": "退回补正", "en": "Return for correction"},
                requires_comment=True,
            ),
            Transition(
                "resubmit",
                ("returned",),
                "submitted",
                ("org_admin", "member"),
                {"zh": "补正后重新提交", "en": "Resubmit"},
            ),
            Transition(
                "withdraw",
                ("submitted", "returned"),
                "withdrawn",
                ("org_admin",),
                {"zh": "撤回", "en": "Withdraw"},
            ),
        ],
        hooks={
            "approve": f"{_HOOKS}:on_approve",
            "reject": f"{_HOOKS}:on_reject",
            "return": f"{_HOOKS}:on_return",
            "resubmit": f"{_HOOKS}:on_resubmit",
            "withdraw": f"{_HOOKS}:on_withdraw",
        },
        subject_view="mingyue.enablers.crossborder.case_view:subject_view",
    )


SECURITY_ASSESSMENT_CASE = _filing_kind(
    "security_assessment",
    "数据出境安全评估申报",
    "Security assessment declaration",
    "评估通过",
    "Approved",
)
STANDARD_CONTRACT_CASE = _filing_kind(
    "standard_contract", "个人信息出境标准合同备案", "Standard-contract filing", "备案通过", "Filed"
)
PIPIA_CASE = _filing_kind(
    "pipia", "个人信息保护影响评估（自评估）", "Self-assessment / PIPIA", "评估确认", "Confirmed"
)
FLOW_ALERT_CASE = CaseKind(
    name="crossborder.flow_alert",
    title={"zh": "数据出境流量告警", "en": "Cross-border flow alert"},
    states={
        "open": State({"zh": "待处理", "en": "Open"}, sla_hours=72),
        "acknowledged": State({"zh": "已确认", "en": "Acknowledged"}, sla_hours=240),
        "closed": State({"zh": "已关闭", "en": "Closed"}, terminal=True),
    },
    initial="open",
    transitions=[
        Transition(
            "acknowledge",
            ("open",),
            "acknowledged",
            ("org_admin", "reviewer", "regulator"),
            {"zh": "确认", "en": "Acknowledge"},
        ),
        Transition(
            "close",
            ("open", "acknowledged"),
            "closed",
            ("org_admin", "reviewer", "regulator"),
            {"zh": "关闭", "en": "Close"},
            requires_comment=True,
        ),
    ],
)
FILING_KINDS = {
    "security_assessment": SECURITY_ASSESSMENT_CASE,
    "standard_contract": STANDARD_CONTRACT_CASE,
    "pipia": PIPIA_CASE,
}
