"""Public AI compute sharing and cross-cluster scheduling (公共算力共享与跨集群调度)."""

from mingyue.sdk import Enabler, FindingRule, MeterSpec, NavItem

_ALL = ("platform_admin", "org_admin", "member", "reviewer", "regulator", "auditor")

enabler = Enabler(
    key="compute",
    title={"zh": "公共算力调度", "en": "Public compute"},
    summary={
        "zh": "汇聚本地、Slurm、Ray 算力池，按成本或时效匹配作业，"
        "分时按秒计费，中小企业免费额度优先。",
        "en": "Pools local, Slurm and Ray compute; matches jobs by cost or start time; bills "
        "by the second at time-of-use prices, SME free quota first.",
    },
    state="experimental",
    extras=("ray",),
    quality=(
        "engine, adapters (local, Slurm, Ray) and service tested against real engines; "
        "console minimal"
    ),
    router="mingyue.enablers.compute.api:router",
    console="mingyue.enablers.compute.console:router",
    cli="mingyue.enablers.compute.cli:app",
    models="mingyue.enablers.compute.models",
    permissions={
        "compute.pool.manage": ("platform_admin",),
        "compute.pool.read": _ALL,
        "compute.job.submit": ("org_admin", "member"),
        "compute.job.read": _ALL,
        "compute.job.cancel": ("org_admin", "member", "platform_admin"),
        "compute.usage.read": ("org_admin", "member", "platform_admin", "auditor", "regulator"),
        "compute.settings.manage": ("org_admin",),
        "compute.simulate": _ALL,
        "compute.reconcile": ("platform_admin",),
    },
    audit_events={
        "compute.pool.added": "A compute pool was registered",
        "compute.pool.suspended": "A compute pool was suspended",
        "compute.pool.resumed": "A compute pool was resumed",
        "compute.pool.maintenance": "A maintenance window was declared for a compute pool",
        "compute.job.submitted": "A compute job was matched and dispatched",
        "compute.job.dispatched": "A waiting compute job was dispatched",
        "compute.job.cancelled": "A compute job was cancelled",
        "compute.job.adopted": (
            "A compute job whose dispatch was cut short was found on its "
            "engine and adopted (reconciler)"
        ),
        "compute.job.redispatch": (
            "A compute job whose dispatch was cut short never reached "
            "its engine and is dispatched again (reconciler)"
        ),
        "compute.job.state_changed": "A compute job changed state (reconciler)",
        "compute.settings.changed": "An organization changed its compute quota setting",
    },
    job_kinds={"compute.reconcile": "mingyue.enablers.compute.service:run_reconcile_job"},
    meters={
        "compute.cpu_seconds": MeterSpec(unit="cpu_second", description="CPU-seconds of jobs"),
        "compute.gpu_seconds": MeterSpec(unit="gpu_second", description="GPU-seconds of jobs"),
    },
    # Raised when a job breaks an enforced limit (breaches.py), see docs/compute.md.
    finding_rules={
        "compute.policy_violation": FindingRule(
            title={
                "zh": "算力作业违反资源池强制限额（运行时长、CPU 时间、内存）",
                "en": "Compute job broke an enforced pool limit (run time, CPU time, memory)",
            },
            citation={
                "zh": "《网络安全法》第二十一条；平台算力资源池使用限额",
                "en": "Cybersecurity Law of the PRC Art. 21; the platform's published compute "
                "pool limits",
            },
            severity="low",
            rectify_working_days=10,
        ),
    },
    finding_verifier="mingyue.enablers.compute.findings:reverify",
    nav=[NavItem("/compute", {"zh": "算力调度", "en": "Compute"}, "compute.job.read")],
)
