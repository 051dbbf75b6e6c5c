"""Data-fusion sandbox (数据融合训练场): data stays in, approved computations run inside."""

from mingyue.sdk import Enabler, FindingRule, MeterSpec, NavItem

_ALL = ("platform_admin", "org_admin", "member", "reviewer", "regulator", "auditor")

enabler = Enabler(
    key="datasandbox",
    title={"zh": "数据融合训练场", "en": "Data sandbox"},
    summary={
        "zh": "原始数据不出域、数据可用不可见：聚合 SQL、模型训练模板与核验产品在沙箱内运行，"
        "仅经最小分组、差分隐私与预算检查的结果离开。",
        "en": "Data stays in; approved aggregate SQL, model-training templates and verification "
        "products run inside; only results that pass group-size, differential-privacy and "
        "budget gates leave.",
    },
    state="experimental",
    extras=("datasandbox", "spark"),
    quality="engine tested; service, API, CLI tested on SQLite and PostgreSQL",
    router="mingyue.enablers.datasandbox.api:router",
    console="mingyue.enablers.datasandbox.console:router",
    cli="mingyue.enablers.datasandbox.cli:app",
    models="mingyue.enablers.datasandbox.models",
    settings="mingyue.enablers.datasandbox.settings:DatasandboxSettings",
    permissions={
        "datasandbox.dataset.register": ("org_admin", "member"),
        "datasandbox.dataset.read": _ALL,
        "datasandbox.query.submit": ("org_admin", "member", "regulator"),
        "datasandbox.request.read": _ALL,
        "datasandbox.request.decide": ("org_admin",),
        "datasandbox.budget.read": _ALL,
        "datasandbox.verify": ("org_admin", "member", "regulator"),
    },
    audit_events={
        "datasandbox.dataset.registered": "A dataset was registered in the sandbox",
        "datasandbox.request.submitted": "A computation was requested",
        "datasandbox.request.refused": "A computation was refused (rule in the payload)",
        "datasandbox.request.approved": "A computation was approved (owner or standing policy)",
        "datasandbox.request.rejected": "The data owner rejected a computation (in its case)",
        "datasandbox.request.executed": "A computation ran inside the sandbox",
        "datasandbox.request.review_requested": "A result waits for the owner's release review",
        "datasandbox.request.released": "A gated result left the sandbox",
        "datasandbox.request.withheld": "The data owner withheld a result (in its case)",
        "datasandbox.request.failed": "A computation failed (time or memory limit, engine error)",
        "datasandbox.budget.charged": "Privacy budget was charged",
        "datasandbox.source.snapshotted": "A PostgreSQL table was snapshotted as a new dataset",
        "datasandbox.dataset.refreshed": "A dataset was snapshotted again from its source",
    },
    job_kinds={"datasandbox.run": "mingyue.enablers.datasandbox.requests:run_request_job"},
    case_kinds={
        "datasandbox.approval": "mingyue.enablers.datasandbox.case_kinds:APPROVAL_CASE",
        "datasandbox.release": "mingyue.enablers.datasandbox.case_kinds:RELEASE_CASE",
    },
    meters={
        "datasandbox.rows_scanned": MeterSpec(
            unit="row", description="Rows scanned in the sandbox"
        ),
        "datasandbox.cpu_seconds": MeterSpec(
            unit="cpu_second", description="CPU-seconds of sandbox computations"
        ),
    },
    # Raised on repeated refusals by one rule (settings probing_*), see docs/datasandbox.md.
    finding_rules={
        "datasandbox.probing": FindingRule(
            title={
                "zh": "反复触发同一沙箱规则拒绝，疑似试探数据",
                "en": "Repeated refusals by the same sandbox rule that look like probing",
            },
            citation={
                "zh": "《数据安全法》第三十二条；《网络安全法》第二十七条",
                "en": "Data Security Law of the PRC Art. 32; Cybersecurity Law of the PRC Art. 27",
            },
            severity="medium",
            rectify_working_days=10,
        ),
    },
    finding_verifier="mingyue.enablers.datasandbox.findings:reverify",
    nav=[
        NavItem(
            "/datasandbox",
            {"zh": "数据融合训练场", "en": "Data sandbox"},
            "datasandbox.dataset.read",
        ),
        NavItem(
            "/datasandbox/register",
            {"zh": "登记数据集", "en": "Register a dataset"},
            "datasandbox.dataset.register",
        ),
    ],
)
