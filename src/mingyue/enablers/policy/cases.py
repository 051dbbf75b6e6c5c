"""The case kinds of policy: a 免申即享 approval, a dispatched request (one kind per request
kind, each with its own time limits), and the supervision task of a lagging indicator.

Light on purpose (only :mod:`mingyue.sdk`): ``mingyue dev check`` loads it without the policy
extra; the hooks live in :mod:`.service.casehooks`, which imports no heavy module either.

Request time limits follow the usual practice of government service hotlines (12345): a
consultation answered within one working day, a request for help within three, a complaint
within five, a suggestion within ten; the department signs for every request within a day.
The clocks here are calendar hours (the core's SLA clocks).
"""

from __future__ import annotations

from mingyue.sdk import CaseKind, State, Transition

_HOOKS = "mingyue.enablers.policy.service.casehooks"
_STAFF = ("reviewer",)  # district staff: the departments' handlers and the policy desk
_SUPERVISE = ("reviewer", "regulator")

BENEFIT_CASE = CaseKind(
    name="policy.benefit",
    title={"zh": "免申即享确认", "en": "No-application benefit confirmation"},
    states={
        "proposed": State({"zh": "待部门确认", "en": "Awaiting the department"}, sla_hours=120),
        "granted": State({"zh": "已兑现", "en": "Granted"}, terminal=True),
        "rejected": State({"zh": "不予兑现", "en": "Not granted"}, terminal=True),
    },
    initial="proposed",
    transitions=[
        Transition("grant", ("proposed",), "granted", _STAFF, {"zh": "确认兑现", "en": "Grant"}),
        Transition(
            "reject",
            ("proposed",),
            "rejected",
            _STAFF,
            {"zh": "不予兑现", "en": "Do not grant"},
            requires_comment=True,
        ),
    ],
    hooks={"grant": f"{_HOOKS}:on_benefit_grant", "reject": f"{_HOOKS}:on_benefit_reject"},
    subject_view=f"{_HOOKS}:benefit_view",
)

# kind -> (title, hours to sign for it, hours to answer it)
REQUEST_KINDS: dict[str, tuple[dict[str, str], float, float]] = {
    "consult": ({"zh": "政策咨询", "en": "Consultation"}, 24, 24),
    "help": ({"zh": "办事求助", "en": "Request for help"}, 24, 72),
    "complaint": ({"zh": "投诉举报", "en": "Complaint"}, 24, 120),
    "suggestion": ({"zh": "意见建议", "en": "Suggestion"}, 24, 240),
}


def _request_case(kind: str) -> CaseKind:
    title, sign_h, answer_h = REQUEST_KINDS[kind]
    return CaseKind(
        name=f"policy.request_{kind}",
        title={"zh": f"企业诉求·{title['zh']}", "en": f"Enterprise request: {title['en']}"},
        states={
            "assigned": State({"zh": "待签收", "en": "To sign for"}, sla_hours=sign_h),
            "handling": State({"zh": "办理中", "en": "Handling"}, sla_hours=answer_h),
            "answered": State({"zh": "已答复", "en": "Answered"}, terminal=True),
            "returned": State({"zh": "退回重派", "en": "Returned for re-dispatch"}, terminal=True),
        },
        initial="assigned",
        transitions=[
            Transition(
                "accept", ("assigned",), "handling", _STAFF, {"zh": "签收", "en": "Sign for it"}
            ),
            Transition(
                "answer",
                ("assigned", "handling"),
                "answered",
                _STAFF,
                {"zh": "答复办结", "en": "Answer and close"},
                requires_comment=True,
            ),
            Transition(
                "return",
                ("assigned", "handling"),
                "returned",
                _STAFF,
                {"zh": "非本部门职责，退回重派", "en": "Not ours: return for re-dispatch"},
                requires_comment=True,
            ),
        ],
        hooks={"answer": f"{_HOOKS}:on_request_answer", "return": f"{_HOOKS}:on_request_return"},
        subject_view=f"{_HOOKS}:request_view",
    )


CONSULT_CASE = _request_case("consult")
HELP_CASE = _request_case("help")
COMPLAINT_CASE = _request_case("complaint")
SUGGESTION_CASE = _request_case("suggestion")

INDICATOR_CASE = CaseKind(
    name="policy.indicator_lag",
    title={"zh": "数字经济指标督办", "en": "Lagging indicator supervision"},
    states={
        "open": State(
            {"zh": "待牵头单位报告", "en": "Awaiting the lead unit's report"}, sla_hours=240
        ),
        "reported": State({"zh": "已报告措施", "en": "Measures reported"}, sla_hours=120),
        "closed": State({"zh": "已办结", "en": "Closed"}, terminal=True),
    },
    initial="open",
    transitions=[
        Transition(
            "report",
            ("open",),
            "reported",
            _SUPERVISE,
            {"zh": "报告追赶措施", "en": "Report catch-up measures"},
            requires_comment=True,
        ),
        Transition(
            "send_back",
            ("reported",),
            "open",
            _SUPERVISE,
            {"zh": "措施不足，退回", "en": "Send back: not enough"},
            requires_comment=True,
        ),
        Transition("close", ("reported",), "closed", _SUPERVISE, {"zh": "办结", "en": "Close"}),
    ],
    subject_view=f"{_HOOKS}:indicator_view",
)
