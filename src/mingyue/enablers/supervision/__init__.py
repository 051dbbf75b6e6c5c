"""包容审慎监管: one findings register, rectification with deadlines, decisions under APL Art. 33."""

from mingyue.sdk import Enabler, MeterSpec, NavItem, Permission, Schedule

_ALL = ("platform_admin", "org_admin", "member", "reviewer", "regulator", "auditor")
_ENTERPRISE = ("org_admin", "member")
_SERVICE = "mingyue.enablers.supervision.service"

enabler = Enabler(
    key="supervision",
    title={"zh": "包容审慎监管", "en": "Inclusive-prudent supervision"},
    summary={
        "zh": "各赋能模块发现的问题统一登记；限期整改与复核；依免责清单与行政处罚法第三十三条"
        "作出不罚、可不罚或处罚决定并签发；合规指引与企业自查。",
        "en": "One register of the findings every enabler raises; rectification with deadlines "
        "and re-verification; decisions under the exemption list and APL Art. 33, signed; "
        "sector guidelines and self-checks.",
    },
    state="experimental",
    extras=(),
    quality="decision rules table-tested; service/API/CLI tested incl. the two-tenant walk",
    router="mingyue.enablers.supervision.api:router",
    console="mingyue.enablers.supervision.console:router",
    cli="mingyue.enablers.supervision.cli:app",
    models="mingyue.enablers.supervision.models",
    permissions={
        "supervision.read": _ALL,
        "supervision.rectification.order": ("regulator",),
        "supervision.decide": ("regulator",),
        "supervision.finding.dismiss": ("regulator",),
        "supervision.rectification.report": Permission(roles=_ENTERPRISE, reach="own"),
        "supervision.documents.manage": ("platform_admin", "regulator"),
        "supervision.selfcheck.run": Permission(roles=_ENTERPRISE, reach="own"),
    },
    audit_events={
        "supervision.rectification.ordered": "Rectification of a finding was ordered with a deadline",
        "supervision.rectification.reported": "An enterprise reported its rectification with evidence",
        "supervision.rectification.reverify_requested": "Re-verification of a rectification was requested",
        "supervision.rectification.verified": "The raising enabler's re-verification result was recorded",
        "supervision.rectification.returned": "A rectification was returned for further correction",
        "supervision.rectification.reminded": "A rectification's coming deadline was announced",
        "supervision.rectification.overdue": "A rectification passed its deadline without a report",
        "supervision.rectification.withdrawn": "A rectification was withdrawn (finding dismissed)",
        "supervision.decision.issued": "A decision was taken and issued as a signed credential",
        "supervision.finding.dismissed": "A finding was dismissed as not a breach",
        "supervision.document.published": "A new version of the exemption list or a guideline was published",
        "supervision.document.seeded": "A shipped document was loaded as its first version",
        "supervision.selfcheck.completed": "An enterprise ran a self-check against a guideline",
    },
    job_kinds={"supervision.reminders": f"{_SERVICE}:run_reminders_job"},
    # Each morning: announce deadlines within 3 working days, mark passed ones overdue, and take
    # over re-verification results the raising enablers have reported.
    schedules={
        "supervision.reminders": Schedule(
            job_kind="supervision.reminders",
            cron="0 9 * * *",
            params={"remind_days": 3},
            description={
                "zh": "整改期限提醒、逾期标记与复核结果同步",
                "en": "Rectification reminders, overdue marking and re-verification results",
            },
        )
    },
    meters={
        "supervision.decisions": MeterSpec(unit="decision", description="Supervisory decisions"),
        "supervision.selfchecks": MeterSpec(unit="selfcheck", description="Self-checks run"),
    },
    case_kinds={
        "supervision.rectification": "mingyue.enablers.supervision.cases:RECTIFICATION_CASE"
    },
    nav=[NavItem("/supervision", {"zh": "包容审慎监管", "en": "Supervision"}, "supervision.read")],
)
