"""The owner's approval and release-review case kinds of the sandbox (declarations only).

Kept apart from the hooks (approvals.py) and the engine so that ``mingyue dev check`` and the
case registry load them without the datasandbox extra (sqlglot, DuckDB): this module imports only
``mingyue.sdk``. The hooks are named by reference and loaded when a case moves.
"""

from __future__ import annotations

from mingyue.sdk import CaseKind, State, Transition

APPROVAL = "datasandbox.approval"
RELEASE = "datasandbox.release"
_OWNER = ("org_admin",)  # the data owner's administrator, as datasandbox.request.decide
_CLOSERS = ("platform_admin",)  # the system closes cases of a request another owner refused
_HOOKS = "mingyue.enablers.datasandbox.approvals"

APPROVAL_CASE = CaseKind(
    name=APPROVAL,
    title={"zh": "数据使用审批", "en": "Data-use approval"},
    states={
        "pending": State({"zh": "待数据方审批", "en": "Waiting for the owner"}, sla_hours=72),
        "approved": State({"zh": "已批准", "en": "Approved"}, terminal=True),
        "rejected": State({"zh": "已拒绝", "en": "Rejected"}, terminal=True),
        "closed": State({"zh": "已关闭", "en": "Closed"}, terminal=True),
    },
    initial="pending",
    transitions=[
        Transition(
            "approve", ("pending",), "approved", _OWNER, {"zh": "批准运行", "en": "Approve"}
        ),
        Transition(
            "reject",
            ("pending",),
            "rejected",
            _OWNER,
            {"zh": "拒绝", "en": "Reject"},
            requires_comment=True,
        ),
        Transition(
            "close",
            ("pending",),
            "closed",
            _CLOSERS,
            {"zh": "关闭", "en": "Close"},
            requires_comment=True,
        ),
    ],
    hooks={
        "approve": f"{_HOOKS}:on_approve",
        "reject": f"{_HOOKS}:on_reject",
        "close": f"{_HOOKS}:on_close",
    },
)

RELEASE_CASE = CaseKind(
    name=RELEASE,
    title={"zh": "结果出域审查", "en": "Result release review"},
    states={
        "in_review": State({"zh": "待放行审查", "en": "In release review"}, sla_hours=72),
        "released": State({"zh": "已放行", "en": "Released"}, terminal=True),
        "withheld": State({"zh": "已扣留", "en": "Withheld"}, terminal=True),
        "closed": State({"zh": "已关闭", "en": "Closed"}, terminal=True),
    },
    initial="in_review",
    transitions=[
        Transition(
            "release", ("in_review",), "released", _OWNER, {"zh": "放行结果", "en": "Release"}
        ),
        Transition(
            "withhold",
            ("in_review",),
            "withheld",
            _OWNER,
            {"zh": "扣留结果", "en": "Withhold"},
            requires_comment=True,
        ),
        Transition(
            "close",
            ("in_review",),
            "closed",
            _CLOSERS,
            {"zh": "关闭", "en": "Close"},
            requires_comment=True,
        ),
    ],
    hooks={
        "release": f"{_HOOKS}:on_release",
        "withhold": f"{_HOOKS}:on_withhold",
        "close": f"{_HOOKS}:on_close",
    },
)
