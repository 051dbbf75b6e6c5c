"""policy: Policy Q&A citing the clause, precise push and no-application benefits, request
dispatch, digital-economy indicators."""

from mingyue.sdk import Enabler, NavItem, Permission, Schedule

_SERVICE = "mingyue.enablers.policy.service"
_CASES = "mingyue.enablers.policy.cases"
# Enterprises keep their own profile and file their own requests; district staff (the reviewer
# role of the operator organization: the policy desk, the departments' handlers, the statistics
# office) run campaigns, dispatch requests and upload statistics.
_ENTERPRISE = ("org_admin", "member")

enabler = Enabler(
    key="policy",
    title={"zh": "政策服务", "en": "Policy services"},
    summary={
        "zh": "政策问答（引用条款）、精准推送与免申即享、诉求智能分拨、数字经济指标监测与调度",
        "en": "Policy Q&A citing the clause, precise push and no-application benefits, request "
        "dispatch, digital-economy indicators",
    },
    state="experimental",
    extras=("policy",),
    quality=(
        "retrieval on 84 labelled questions; eligibility, dispatch (held-out and later-written "
        "requests) and indicator engines table-tested; service/API/CLI/console tested on SQLite and "
        "PostgreSQL incl. the two-tenant walk and a zh-CN browser walk"
    ),
    models="mingyue.enablers.policy.models",
    router="mingyue.enablers.policy.api:router",
    cli="mingyue.enablers.policy.cli:app",
    console="mingyue.enablers.policy.console:router",
    settings="mingyue.enablers.policy.settings:PolicySettings",
    permissions={
        "policy.read": (
            "platform_admin",
            "org_admin",
            "member",
            "reviewer",
            "regulator",
            "auditor",
        ),
        # Policy documents are the district's public reference data: the platform operator and
        # the government offices (regulators) that issue measures ingest them.
        "policy.corpus.manage": Permission(
            roles=("platform_admin", "regulator"), reach="supervised"
        ),
        "policy.profile.manage": Permission(roles=_ENTERPRISE, reach="own"),
        "policy.campaign.run": ("reviewer",),
        "policy.request.submit": Permission(roles=_ENTERPRISE, reach="own"),
        "policy.request.dispatch": ("reviewer",),
        "policy.indicator.manage": ("platform_admin", "reviewer"),
    },
    audit_events={
        "policy.document.ingested": "A policy document version was ingested and split into clauses",
        "policy.profile.updated": "An enterprise updated its policy profile",
        "policy.push.opt_out_changed": "An enterprise turned policy pushes off or on",
        "policy.campaign.started": "An official started pushing a measure to matching enterprises",
        "policy.campaign.finished": "A push campaign finished (counts by verdict)",
        "policy.push.sent": "A measure was pushed to an enterprise (or logged as suppressed)",
        "policy.push.read": "An enterprise read a policy notification",
        "policy.benefit.proposed": "An eligible enterprise was put on a no-application approval list",
        "policy.benefit.granted": "A department granted a no-application benefit",
        "policy.benefit.rejected": "A department declined a no-application benefit",
        "policy.request.submitted": "An enterprise filed a request (classified)",
        "policy.request.dispatched": "A request was dispatched to a department (automatically or by a dispatcher)",
        "policy.request.answered": "A department answered a request",
        "policy.request.returned": "A department returned a request for re-dispatch",
        "policy.indicator.uploaded": "Statistics were uploaded (rows accepted and refused)",
        "policy.indicator.lagging": "An indicator fell behind its target path; a supervision case opened",
    },
    job_kinds={
        "policy.campaign": f"{_SERVICE}.push:run_campaign_job",
        "policy.benefits": f"{_SERVICE}.push:run_benefits_job",
        "policy.indicator_check": f"{_SERVICE}.indicators:run_check_job",
    },
    schedules={
        # Each morning: enterprises that became eligible for a 免申即享 measure join its list.
        "policy.benefits_daily": Schedule(
            job_kind="policy.benefits",
            cron="30 7 * * *",
            description={
                "zh": "每日将新符合条件的企业列入免申即享兑现名单",
                "en": "Put newly eligible enterprises on the no-application approval lists, daily",
            },
        ),
        # Each morning: indicators behind their target path open a supervision case (once).
        "policy.indicator_check": Schedule(
            job_kind="policy.indicator_check",
            cron="15 8 * * *",
            description={
                "zh": "每日检查数字经济指标是否落后目标路径并督办",
                "en": "Check digital-economy indicators against their target paths, daily",
            },
        ),
    },
    case_kinds={
        "policy.benefit": f"{_CASES}:BENEFIT_CASE",
        "policy.request_consult": f"{_CASES}:CONSULT_CASE",
        "policy.request_help": f"{_CASES}:HELP_CASE",
        "policy.request_complaint": f"{_CASES}:COMPLAINT_CASE",
        "policy.request_suggestion": f"{_CASES}:SUGGESTION_CASE",
        "policy.indicator_lag": f"{_CASES}:INDICATOR_CASE",
    },
    nav=[NavItem("/policy", {"zh": "政策服务", "en": "Policy services"}, "policy.read")],
)
