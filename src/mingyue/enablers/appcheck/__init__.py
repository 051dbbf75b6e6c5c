"""App合规检测: compliance testing of Android APKs against China's personal-information rules."""

from mingyue.sdk import Enabler, FindingRule, MeterSpec, NavItem

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
        "appcheck.finding.reverify_inconclusive": (
            "A re-verification scan could not decide a finding (failed, incomplete or another "
            "package); the finding stays pending"
        ),
    },
    job_kinds={"appcheck.scan": "mingyue.enablers.appcheck.service:run_scan_job"},
    meters={"appcheck.scans": MeterSpec(unit="scan", description="APK compliance scans")},
    case_kinds={"appcheck.review": "mingyue.enablers.appcheck.cases:REVIEW_CASE"},
    # Raised when a reviewer accepts a report (one per rule per App); see docs/appcheck.md.
    finding_rules={
        "appcheck.over_collection": FindingRule(
            title={
                "zh": "收集超出App所声明功能必要范围的个人信息",
                "en": "Personal information collected beyond what the App's stated function needs",
            },
            citation={
                "zh": "《个人信息保护法》第六条；《常见类型移动互联网应用程序必要个人信息范围规定》第五条",
                "en": "PIPL Art. 6; Provisions on the Scope of Necessary Personal Information "
                "of Common Types of Mobile Apps (2021) Art. 5",
            },
            severity="high",
            rectify_working_days=10,
        ),
        "appcheck.sdk_undisclosed": FindingRule(
            title={
                "zh": "第三方SDK收集个人信息未在隐私政策中披露",
                "en": "Third-party SDK collecting personal information not disclosed in the "
                "privacy policy",
            },
            citation={
                "zh": "《个人信息保护法》第二十三条；《App违法违规收集使用个人信息行为认定方法》二、1，五、1",
                "en": "PIPL Art. 23; Methods for Identifying Illegal Collection and Use of "
                "Personal Information by Apps (国信办秘字〔2019〕191号) §2(1), §5(1)",
            },
            severity="high",
            rectify_working_days=10,
        ),
        "appcheck.permission_unnecessary": FindingRule(
            title={
                "zh": "申请基本功能非必要的危险权限",
                "en": "Dangerous permissions not necessary for the basic function",
            },
            citation={
                "zh": "《App违法违规收集使用个人信息行为认定方法》四、1；"
                "《常见类型移动互联网应用程序必要个人信息范围规定》第四条、第五条",
                "en": "Methods for Identifying Illegal Collection and Use of Personal "
                "Information by Apps (国信办秘字〔2019〕191号) §4(1); Provisions on the Scope of "
                "Necessary Personal Information of Common Types of Mobile Apps Arts. 4-5",
            },
            severity="medium",
            rectify_working_days=10,
        ),
    },
    finding_verifier="mingyue.enablers.appcheck.findings:reverify",
    nav=[NavItem("/appcheck", {"zh": "App检测", "en": "App testing"}, "appcheck.report.read")],
)
