"""modeleval: large-model verification and evaluation (generality, efficiency, robustness, safety)."""

from mingyue.sdk import Enabler, MeterSpec, NavItem, Permission

_ALL = ("platform_admin", "org_admin", "member", "reviewer", "regulator", "auditor")

enabler = Enabler(
    key="modeleval",
    title={"zh": "大模型评测", "en": "Model evaluation"},
    summary={
        "zh": "大模型上线前评测：通用能力、效率、鲁棒性、安全（TC260-003），签名评测报告",
        "en": "Pre-launch model evaluation: generality, efficiency, robustness, safety "
        "(TC260-003); signed evaluation reports",
    },
    state="experimental",
    extras=("modeleval",),
    quality="runner tested against a real local llama.cpp server and a misbehaving fake "
    "OpenAI-compatible server; CLI tested",
    router="mingyue.enablers.modeleval.api:router",
    console="mingyue.enablers.modeleval.console:router",
    cli="mingyue.enablers.modeleval.cli:app",
    models="mingyue.enablers.modeleval.models",
    settings="mingyue.enablers.modeleval.settings:ModelevalSettings",
    permissions={
        "modeleval.run.read": _ALL,
        "modeleval.run.submit": Permission(roles=("org_admin", "member"), reach="own"),
        "modeleval.run.start": Permission(
            roles=("platform_admin", "org_admin", "member"), reach="own"
        ),
        "modeleval.run.start_endpoint": Permission(roles=("platform_admin",), reach="platform"),
        "modeleval.model.read": _ALL,
        "modeleval.model.register": Permission(roles=("org_admin", "member"), reach="own"),
        "modeleval.trial.chat": Permission(roles=("org_admin", "member"), reach="own"),
        "modeleval.feedback.read": _ALL,
        "modeleval.probe.manage": ("org_admin", "reviewer", "platform_admin"),
        "modeleval.quota.manage": Permission(roles=("platform_admin",), reach="platform"),
    },
    audit_events={
        "modeleval.run.recorded": "A model evaluation run was recorded and its report signed",
        "modeleval.run.started": "A model evaluation was queued as a job",
        "modeleval.run.failed": "A queued model evaluation failed, with the reason",
        "modeleval.model.registered": "A model was registered with its card",
        "modeleval.model.updated": "A model card was changed",
        "modeleval.model.deleted": "A registered model was withdrawn",
        "modeleval.trial.message": "A trial-chat exchange (personal information redacted)",
        "modeleval.quota.set": "An organization's trial-token quota was set",
        "modeleval.feedback.given": "A trial reply was rated",
        "modeleval.probe.created": "A feedback became a probe of an organization's safety set",
    },
    job_kinds={"modeleval.run": "mingyue.enablers.modeleval.service.run_jobs:run_evaluation_job"},
    meters={
        "modeleval.runs": MeterSpec(unit="run", description="Model evaluation runs"),
        "modeleval.tokens": MeterSpec(
            unit="token", description="Tokens used by evaluation runs and trial chats"
        ),
    },
    nav=[
        NavItem("/modeleval", {"zh": "大模型评测", "en": "Model evaluation"}, "modeleval.run.read"),
        NavItem(
            "/modeleval/models", {"zh": "模型广场", "en": "Model hosting"}, "modeleval.model.read"
        ),
    ],
)
