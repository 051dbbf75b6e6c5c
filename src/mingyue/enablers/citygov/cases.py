"""The city case (数字城管): the seven stages of the closed loop, with rework.

信息采集 → 案卷建立 → 任务派遣 → 任务处理 → 处理反馈 → 核查结案 → 综合评价; a failed verification
sends the task back to 任务处理 (返工). Light on purpose (only :mod:`mingyue.sdk`): ``mingyue dev
check`` loads it on its own. Time limits are per category (``rules/categories.yaml``) on working
hours, kept on the citygov rows, so no state carries a fixed ``sla_hours`` here. Every transition
runs one hook (:mod:`.service.hooks`) that keeps the citygov rows, reports, rewards and shared
events in step, whether the step came from the dispatch desk, the API or the core's case page.
"""

from __future__ import annotations

from mingyue.sdk import CaseKind, State, Transition

_HOOKS = "mingyue.enablers.citygov.service.hooks"
# The command centre (指挥中心坐席) are reviewers of the operator organization.
_CENTRE = ("reviewer", "platform_admin")

STAGES = (
    "collected",
    "registered",
    "dispatched",
    "handling",
    "fed_back",
    "closed",
    "evaluated",
)

CITY_CASE = CaseKind(
    name="citygov.case",
    title={"zh": "城市管理案件", "en": "City management case"},
    states={
        "collected": State({"zh": "信息采集", "en": "Collected"}),
        "registered": State({"zh": "案卷建立", "en": "Registered"}),
        "dispatched": State({"zh": "任务派遣", "en": "Dispatched"}),
        "handling": State({"zh": "任务处理", "en": "Handling"}),
        "fed_back": State({"zh": "处理反馈", "en": "Handled, awaiting verification"}),
        "closed": State({"zh": "核查结案", "en": "Verified and closed"}),
        "evaluated": State({"zh": "综合评价", "en": "Evaluated"}, terminal=True),
        "invalid": State({"zh": "不予立案", "en": "Not registered"}, terminal=True),
    },
    initial="collected",
    transitions=[
        Transition(
            "register", ("collected",), "registered", _CENTRE, {"zh": "立案", "en": "Register"}
        ),
        Transition(
            "reject",
            ("collected",),
            "invalid",
            _CENTRE,
            {"zh": "不予立案", "en": "Do not register"},
            requires_comment=True,
        ),
        Transition(
            "dispatch", ("registered",), "dispatched", _CENTRE, {"zh": "派遣", "en": "Dispatch"}
        ),
        Transition(
            "accept", ("dispatched",), "handling", _CENTRE, {"zh": "接单处置", "en": "Accept"}
        ),
        Transition(
            "send_back",
            ("dispatched", "handling"),
            "registered",
            _CENTRE,
            {"zh": "申请回退", "en": "Send back (not ours)"},
            requires_comment=True,
        ),
        Transition(
            "feedback",
            ("handling",),
            "fed_back",
            _CENTRE,
            {"zh": "处理反馈", "en": "Report handled"},
        ),
        Transition(
            "verify_pass",
            ("fed_back",),
            "closed",
            _CENTRE,
            {"zh": "核查通过并结案", "en": "Verify and close"},
        ),
        Transition(
            "rework",
            ("fed_back",),
            "handling",
            _CENTRE,
            {"zh": "核查不通过（返工）", "en": "Verification failed (rework)"},
            requires_comment=True,
        ),
        Transition(
            "evaluate", ("closed",), "evaluated", _CENTRE, {"zh": "综合评价", "en": "Evaluate"}
        ),
    ],
    hooks={
        name: f"{_HOOKS}:on_{name}"
        for name in (
            "register",
            "reject",
            "dispatch",
            "accept",
            "send_back",
            "feedback",
            "verify_pass",
            "rework",
            "evaluate",
        )
    },
    subject_view="mingyue.enablers.citygov.service.hooks:subject_view",
)
