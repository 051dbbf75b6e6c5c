"""crossborder: which legal path a transfer takes, filings as cases, Chinese PII detection, flows."""

from mingyue.sdk import Enabler, FindingRule, MeterSpec, NavItem

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
    # Raised from the flow monitor's alerts, observed after every watch run (docs/crossborder.md).
    finding_rules={
        "crossborder.undeclared_endpoint": FindingRule(
            title={
                "zh": "向未申报出境传输覆盖的境外端点传输数据",
                "en": "Traffic to a foreign endpoint not covered by a declared transfer",
            },
            citation={
                "zh": "《个人信息保护法》第三十八条、第三十九条；《促进和规范数据跨境流动规定》",
                "en": "PIPL Arts. 38-39; Provisions on Promoting and Regulating Cross-Border "
                "Data Flows (CAC 2024)",
            },
            severity="high",
            rectify_working_days=15,
        ),
        "crossborder.threshold_exceeded": FindingRule(
            title={
                "zh": "出境数据量达到法定门槛而申报的出境路径未覆盖",
                "en": "Outbound volume crossed a legal threshold the declared transfer path "
                "does not cover",
            },
            citation={
                "zh": "《促进和规范数据跨境流动规定》第七条、第八条；《数据出境安全评估办法》第四条",
                "en": "Provisions on Promoting and Regulating Cross-Border Data Flows Arts. 7-8; "
                "Measures for the Security Assessment of Outbound Data Transfers Art. 4",
            },
            severity="high",
            rectify_working_days=15,
        ),
    },
    finding_verifier="mingyue.enablers.crossborder.findings:reverify",
    nav=[NavItem("/crossborder", {"zh": "数据跨境", "en": "Cross-border"}, "crossborder.read")],
)
