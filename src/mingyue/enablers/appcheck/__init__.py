"""App合规检测: compliance testing of Android APKs against China's personal-information rules."""

from mingyue.sdk import Enabler, MeterSpec, NavItem

_READ = ("platform_admin", "org_admin", "member", "reviewer", "regulator", "auditor")

enabler = Enabler(
    key="appcheck",
    title={"zh": "App合规检测", "en": "App compliance testing"},
    summary={
        "zh": "上传 APK：沙箱解析、SDK/追踪器清单、权限与App类型必要性、六类问题报告、审核签发。",
        "en": "Upload an APK: sandboxed parsing, SDK/tracker inventory, permissions vs App type, "
        "six-category report, reviewer sign-off with a signed report.",
    },
    state="experimental",
    extras=("appcheck",),
    quality="engine: tested against exodus-core on a real APK corpus; service/API/CLI tested",
    router="mingyue.enablers.appcheck.api:router",
    console="mingyue.enablers.appcheck.console:router",
    cli="mingyue.enablers.appcheck.cli:app",
    models="mingyue.enablers.appcheck.models",
    permissions={
        "appcheck.scan.submit": ("org_admin", "member"),
        "appcheck.report.read": _READ,
    },
    audit_events={
        "appcheck.scan.submitted": "An APK was submitted for a compliance scan",
        "appcheck.scan.completed": "A compliance scan finished with a report",
        "appcheck.scan.failed": "A compliance scan refused or failed on the file",
        "appcheck.report.signed": "A reviewer accepted a report; it was signed as a credential",
        "appcheck.report.returned": "A reviewer returned a report",
    },
    job_kinds={"appcheck.scan": "mingyue.enablers.appcheck.service:run_scan_job"},
    meters={"appcheck.scans": MeterSpec(unit="scan", description="APK compliance scans")},
    case_kinds={"appcheck.review": "mingyue.enablers.appcheck.cases:REVIEW_CASE"},
    nav=[NavItem("/appcheck", {"zh": "App检测", "en": "App testing"}, "appcheck.report.read")],
)
