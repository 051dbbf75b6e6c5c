"""crossborder: which legal path a transfer takes, filings as cases, Chinese PII detection, flows."""

from mingyue.sdk import Enabler, MeterSpec, NavItem

_CASES = "mingyue.enablers.crossborder.cases"
_ALL = ("org_admin", "member", "reviewer", "regulator", "platform_admin", "auditor")

enabler = Enabler(
    key="crossborder",
    title={"zh": "数据跨境", "en": "Cross-border data"},
    summary={
        "zh": "出境路径判定（安全评估/标准合同/豁免）、申报与备案案件、中文个人信息识别、出境流量监测",
        "en": "Legal path of a transfer, filings as cases, Chinese PII detection, flow monitoring",
    },
    state="experimental",
    extras=("crossborder",),
    quality="engine tested; service/API/CLI tested",
    router="mingyue.enablers.crossborder.api:router",
    console="mingyue.enablers.crossborder.console:router",
    cli="mingyue.enablers.crossborder.cli:app",
    models="mingyue.enablers.crossborder.models",
    settings="mingyue.enablers.crossborder.settings:CrossborderSettings",
    permissions={
        "crossborder.read": _ALL,
        "crossborder.assess": ("org_admin", "member"),
        "crossborder.filing.submit": ("org_admin", "member"),
        "crossborder.transfer.declare": ("org_admin",),
        "crossborder.scan": ("org_admin", "member"),
        "crossborder.watch": ("org_admin",),
    },
    audit_events={
        "crossborder.assessment.created": "A transfer scenario was assessed",
        "crossborder.filing.submitted": "A filing was submitted",
        "crossborder.filing.approved": "A filing was approved and its record signed",
        "crossborder.filing.rejected": "A filing was rejected",
        "crossborder.filing.returned": "A filing was returned for correction",
        "crossborder.filing.submitted_again": "A filing was resubmitted",
        "crossborder.filing.withdrawn": "A filing was withdrawn",
        "crossborder.filing.expiry_warned": "An approval's coming expiry was announced on its case",
        "crossborder.transfer.declared": "A transfer was declared",
        "crossborder.scan.completed": "A file was scanned for personal information",
        "crossborder.flow.watched": "A traffic source was read by the flow monitor",
        "crossborder.flow.alerted": "The flow monitor raised an alert",
    },
    job_kinds={
        "crossborder.watch": "mingyue.enablers.crossborder.flows:run_watch_job",
        "crossborder.scan": "mingyue.enablers.crossborder.scan_jobs:run_scan_job",
    },
    meters={
        "crossborder.assessments": MeterSpec(unit="assessment", description="Transfer assessments"),
        "crossborder.filings": MeterSpec(unit="filing", description="Filings submitted"),
        "crossborder.scans": MeterSpec(unit="scan", description="Files scanned for PII"),
    },
    case_kinds={
        "crossborder.security_assessment": f"{_CASES}:SECURITY_ASSESSMENT_CASE",
        "crossborder.standard_contract": f"{_CASES}:STANDARD_CONTRACT_CASE",
        "crossborder.pipia": f"{_CASES}:PIPIA_CASE",
        "crossborder.flow_alert": f"{_CASES}:FLOW_ALERT_CASE",
    },
    nav=[NavItem("/crossborder", {"zh": "数据跨境", "en": "Cross-border"}, "crossborder.read")],
)
