"""The core's own pages, routes and commands, declared like enablers (CONVENTIONS rule 3)."""

from __future__ import annotations

from mingyue.core.declaration import Enabler, MeterSpec, NavItem, Permission, Schedule

ALL = ("platform_admin", "org_admin", "member", "reviewer", "regulator", "auditor")
ADMINS = ("platform_admin", "org_admin")
PLATFORM = ("platform_admin",)
# Reaches are explained in docs/security.md ("Permissions"); a bare roles tuple is "supervised".


def _own(*roles: str) -> Permission:
    return Permission(roles=roles, reach="own")


def _platform() -> Permission:
    return Permission(roles=PLATFORM, reach="platform")


admin = Enabler(
    key="admin",
    core=True,
    title={"zh": "组织与用户", "en": "Organizations & users"},
    router="mingyue.coreapps.admin.api:router",
    console="mingyue.coreapps.admin.console:router",
    permissions={
        "core.org.read": ALL,
        "core.org.manage": _platform(),
        "core.user.read": ALL,
        "core.user.manage": _own(*ADMINS),
        "core.token.manage": _own(*ALL),
        "core.schedule.read": _platform(),  # periodic work: next run, last result
    },
    audit_events={
        "core.org.created": "An organization was created",
        "core.org.updated": "An organization was changed (kind, SME flag, enabled enablers)",
        "core.user.created": "A user was created",
        "core.user.updated": "A user's roles or status changed",
        "core.user.password_changed": "A user's password was changed",
        "core.token.created": "An API token was issued",
        "core.token.revoked": "An API token was revoked",
        "core.login.succeeded": "A console login succeeded",
        "core.login.failed": "A console login failed",
        "core.scope.unscoped": "A cross-tenant operation lifted the tenant filter",
    },
    nav=[NavItem("/admin", {"zh": "组织与用户", "en": "Organizations & users"})],
)

audit = Enabler(
    key="audit",
    core=True,
    title={"zh": "存证审计", "en": "Audit ledger"},
    router="mingyue.coreapps.audit.api:router",
    console="mingyue.coreapps.audit.console:router",
    cli="mingyue.coreapps.audit.cli:app",
    permissions={
        "core.audit.read": ("platform_admin", "org_admin", "regulator", "auditor"),
        "core.audit.verify": ("platform_admin", "regulator", "auditor"),
    },
    audit_events={"core.audit.checkpoint": "A signed ledger checkpoint was made"},
    nav=[NavItem("/audit", {"zh": "存证审计", "en": "Audit ledger"}, "core.audit.read")],
)

cases = Enabler(
    key="cases",
    core=True,
    title={"zh": "案件办理", "en": "Cases"},
    router="mingyue.coreapps.cases.api:router",
    console="mingyue.coreapps.cases.console:router",
    cli="mingyue.coreapps.cases.cli:app",
    permissions={
        "core.case.read": ALL,
        "core.case.create": ALL,
        "core.case.act": ALL,  # which transition a role may take is decided by the case kind
        "core.case.comment": ALL,
        "core.case.assign": ("platform_admin", "org_admin", "reviewer", "regulator"),
        "core.case.supervise": ("platform_admin", "regulator"),
    },
    audit_events={
        "core.case.opened": "A case was opened",
        "core.case.transitioned": "A case moved to another state",
        "core.case.commented": "A comment was added to a case",
        "core.case.assigned": "A case was assigned",
        "core.case.attached": "A file was attached to a case",
        "core.case.escalated": "An overdue case was escalated (督查)",
        "core.case.updated": "A case's data was changed by a service or hook",
    },
    case_kinds={"core.general": "mingyue.core.cases:GENERAL"},
    job_kinds={"core.case.escalate": "mingyue.core.cases.sla:escalate_job"},
    schedules={
        # escalate_overdue is idempotent: after downtime one pass catches every level reached.
        "core.case.sla_escalation": Schedule(
            job_kind="core.case.escalate",
            cron="*/15 * * * *",
            misfire="run_once",
            description={
                "zh": "每15分钟督查超期案件",
                "en": "Escalate overdue cases every 15 minutes",
            },
        )
    },
    nav=[NavItem("/cases", {"zh": "案件办理", "en": "Cases"}, "core.case.read")],
)

jobs = Enabler(
    key="jobs",
    core=True,
    title={"zh": "后台任务", "en": "Jobs"},
    router="mingyue.coreapps.jobs.api:router",
    console="mingyue.coreapps.jobs.console:router",
    cli="mingyue.coreapps.jobs.cli:app",
    permissions={
        "core.job.read": ALL,
        "core.job.cancel": _own(*ALL),
        "core.job.submit": _own(*ALL),  # only kinds open to direct submission (core.selftest)
    },
    audit_events={
        "core.job.enqueued": "A background job was queued",
        "core.job.cancel_requested": "Cancellation of a job was requested",
        "core.job.finished": "A background job ended (succeeded, failed or cancelled)",
        "core.job.retried": "A job was retried after its worker was lost",
    },
    job_kinds={"core.selftest": "mingyue.core.jobs.service:selftest"},
    nav=[NavItem("/jobs", {"zh": "后台任务", "en": "Jobs"}, "core.job.read")],
)

billing = Enabler(
    key="billing",
    core=True,
    title={"zh": "计量计费", "en": "Metering & billing"},
    router="mingyue.coreapps.billing.api:router",
    console="mingyue.coreapps.billing.console:router",
    cli="mingyue.coreapps.billing.cli:app",
    permissions={
        "core.usage.read": ALL,
        "core.usage.record": _platform(),
        "core.statement.read": ("platform_admin", "org_admin", "regulator", "auditor"),
        "core.statement.generate": _platform(),
        "core.tariff.read": ALL,
        "core.tariff.manage": _platform(),
        "core.quota.manage": _platform(),
    },
    audit_events={
        "core.usage.recorded": "A usage record was written",
        "core.tariff.created": "A tariff was created",
        "core.quota.set": "A free pool or quota was set",
        "core.quota.consumed": "A free pool was drawn outside a usage record",
        "core.statement.issued": "A monthly statement was issued",
    },
    meters={"core.api_calls": MeterSpec(unit="call", description="API calls (demo meter)")},
    job_kinds={"core.billing.run": "mingyue.core.metering.statements:run_billing_job"},
    schedules={
        # A missed close must still happen: statements of a month are issued once each.
        "core.billing.month_close": Schedule(
            job_kind="core.billing.run",
            cron="0 2 1 * *",
            misfire="run_once",
            params={"month": "previous"},
            description={
                "zh": "每月1日02:00出具上月账单",
                "en": "Issue last month's statements on the 1st at 02:00",
            },
        )
    },
    nav=[NavItem("/billing", {"zh": "计量计费", "en": "Billing"}, "core.usage.read")],
)

credentials = Enabler(
    key="credentials",
    core=True,
    title={"zh": "可验证凭证", "en": "Verifiable credentials"},
    router="mingyue.coreapps.credentials.api:router",
    console="mingyue.coreapps.credentials.console:router",
    cli="mingyue.coreapps.credentials.cli:app",
    permissions={
        "core.credential.read": ALL,
        "core.credential.issue": ("platform_admin", "reviewer", "regulator"),
        "core.credential.revoke": ("platform_admin", "reviewer", "regulator"),
        "core.file.upload": _own(*ALL),
        "core.file.read": ALL,
    },
    audit_events={
        "core.credential.issued": "A verifiable credential was issued",
        "core.credential.revoked": "A verifiable credential was revoked",
        "core.file.stored": "A file was uploaded and stored",
    },
    nav=[
        NavItem("/credentials", {"zh": "可验证凭证", "en": "Credentials"}, "core.credential.read")
    ],
)

findings = Enabler(
    key="findings",
    core=True,
    title={"zh": "问题发现", "en": "Findings"},
    permissions={
        "core.finding.read": ALL,
        "core.finding.manage": ("platform_admin", "regulator"),
    },
    audit_events={
        "core.finding.raised": "A finding was raised (first sighting of a rule on a subject)",
        "core.finding.recurred": "A finding marked fixed was seen again and reopened",
        "core.finding.verified_fixed": "A fresh check no longer found a finding: marked fixed",
        "core.finding.still_present": "A fresh check found a finding still present",
        "core.finding.status_changed": "A finding's status was set (rectifying, closed, dismissed)",
        "core.finding.reverify_requested": "Re-verification of a finding was requested",
    },
)

CORE_APPS: list[Enabler] = [admin, audit, cases, jobs, billing, credentials, findings]
