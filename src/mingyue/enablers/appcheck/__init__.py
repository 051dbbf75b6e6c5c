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
        "appcheck.review.submit": ("org_admin", "member"),
        "appcheck.review.decide": ("reviewer",),
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
        "appcheck.review.opened": "A store-listing or algorithm-ethics review was opened on a scan",
        "appcheck.review.answered": "The operator saved declarations or questionnaire answers",
        "appcheck.review.evidence_added": "The operator attached evidence to a review item",
        "appcheck.review.signed": "A reviewer accepted a listing/ethics review; it was signed",
        "appcheck.review.returned": "A reviewer returned a listing/ethics review",
        "appcheck.release.compared": (
            "A finished scan was compared with the previous release of the same package"
        ),
    },
    job_kinds={"appcheck.scan": "mingyue.enablers.appcheck.service:run_scan_job"},
    meters={"appcheck.scans": MeterSpec(unit="scan", description="APK compliance scans")},
    case_kinds={
        "appcheck.review": "mingyue.enablers.appcheck.cases:REVIEW_CASE",
        "appcheck.listing": "mingyue.enablers.appcheck.cases:LISTING_CASE",
        "appcheck.ethics": "mingyue.enablers.appcheck.cases:ETHICS_CASE",
    },
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
        # Raised by the release history when a scan is compared with the package's previous one.
        "appcheck.release_sdk_undisclosed": FindingRule(
            title={
                "zh": "新版本新增第三方SDK且未在隐私政策/SDK清单中披露",
                "en": "A new release adds a third-party SDK its privacy policy / SDK list does "
                "not disclose",
            },
            citation={
                "zh": "《个人信息保护法》第十四条、第二十三条；《App违法违规收集使用个人信息行为认定方法》五、1",
                "en": "PIPL Arts. 14, 23; Methods for Identifying Illegal Collection and Use of "
                "Personal Information by Apps (国信办秘字〔2019〕191号) §5(1)",
            },
            severity="high",
            rectify_working_days=10,
        ),
        "appcheck.release_permission_added": FindingRule(
            title={
                "zh": "新版本新增权限申请",
                "en": "A new release requests an additional permission",
            },
            citation={
                "zh": "《个人信息保护法》第十四条（目的、方式变更应重新取得同意）；"
                "《App违法违规收集使用个人信息行为认定方法》二、3",
                "en": "PIPL Art. 14 (renewed consent when purposes or means change); 国信办秘字"
                "〔2019〕191号 §2(3)",
            },
            severity="medium",
            rectify_working_days=10,
        ),
        "appcheck.sdk_watchlisted": FindingRule(
            title={
                "zh": "集成了监测名单中的SDK版本",
                "en": "Carries an SDK version on the watch list",
            },
            citation={
                "zh": "《个人信息保护法》第五十一条；工信部信管函〔2020〕164号（SDK违规收集使用个人信息）",
                "en": "PIPL Art. 51; MIIT 工信部信管函〔2020〕164号 (SDKs collecting personal "
                "information unlawfully)",
            },
            severity="high",
            rectify_working_days=10,
        ),
    },
    finding_verifier="mingyue.enablers.appcheck.findings:reverify",
    nav=[
        NavItem("/appcheck", {"zh": "App检测", "en": "App testing"}, "appcheck.report.read"),
        NavItem(
            "/appcheck/reviews",
            {"zh": "上架与算法审查", "en": "Listing & algorithm reviews"},
            "appcheck.report.read",
        ),
    ],
)
