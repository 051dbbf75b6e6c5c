"""satcert: satellite-internet and GNSS terminal test bench, review and verifiable certificates."""

from mingyue.sdk import Enabler, FindingRule, MeterSpec, NavItem, Permission, Schedule

_SERVICE = "mingyue.enablers.satcert.service"
_ALL = ("platform_admin", "org_admin", "member", "reviewer", "regulator", "auditor")
# The lab is the operator organization; its staff hold the reviewer role (they run benches on
# every maker's samples and decide). Enterprises submit and read their own; regulators read
# every organization and may revoke (market surveillance).
_LAB = ("reviewer",)

enabler = Enabler(
    key="satcert",
    title={"zh": "卫星终端检测认证", "en": "Satellite terminal certification"},
    summary={
        "zh": "卫星互联网/北斗终端送检：AT/NMEA一致性、定位精度、首次定位时间、射频结果导入、可验证证书",
        "en": "Terminal test bench: AT/NMEA conformance, positioning accuracy, TTFF, RF result "
        "import, verifiable certificates",
    },
    state="experimental",
    extras=("satcert",),
    quality="engines tested on GEONET data and a pty-simulated module; service/API/CLI tested",
    router="mingyue.enablers.satcert.api:router",
    console="mingyue.enablers.satcert.console:router",
    cli="mingyue.enablers.satcert.cli:app",
    models="mingyue.enablers.satcert.models",
    settings="mingyue.enablers.satcert.settings:SatcertSettings",
    permissions={
        "satcert.read": _ALL,
        "satcert.registry.read": _ALL,
        # A maker submits its own sample; lab staff register one at the counter for any maker.
        "satcert.sample.submit": ("org_admin", "member", "reviewer"),
        "satcert.plan.manage": _LAB,
        "satcert.run.start": _LAB,
        "satcert.result.import": _LAB,
        "satcert.certificate.revoke": Permission(
            roles=("platform_admin", "reviewer", "regulator"), reach="supervised"
        ),
    },
    audit_events={
        "satcert.sample.received": "A terminal sample was registered for testing",
        "satcert.sample.identified": "A sample's identity was read from the terminal (IMEI, firmware)",
        "satcert.plan.published": "A test plan version was published (a plan change)",
        "satcert.run.queued": "A bench run was queued",
        "satcert.run.finished": "A bench run ended (passed, failed or error)",
        "satcert.result.imported": "RF or protocol conformance results were imported",
        "satcert.sample.in_review": "A sample's evidence went to review",
        "satcert.sample.returned": "A sample was returned to its maker",
        "satcert.sample.rejected": "A sample was refused certification",
        "satcert.certificate.issued": "A terminal certificate was issued",
        "satcert.certificate.revoked": "A terminal certificate was revoked",
        "satcert.certificate.expiry_warned": "A certificate's coming expiry was announced",
        "satcert.surveillance.failed": "A certified terminal failed a surveillance re-test",
    },
    job_kinds={
        "satcert.run": f"{_SERVICE}:run_bench_job",
        "satcert.expiry": f"{_SERVICE}:run_expiry_job",
    },
    meters={
        "satcert.bench_minutes": MeterSpec(unit="minute", description="Bench time on the DUT"),
        "satcert.certificates": MeterSpec(unit="certificate", description="Certificates issued"),
    },
    case_kinds={"satcert.certification": "mingyue.enablers.satcert.cases:CERTIFICATION_CASE"},
    finding_rules={
        "satcert.surveillance_failed": FindingRule(
            title={
                "zh": "获证终端监督抽检不合格",
                "en": "A certified terminal failed a surveillance re-test",
            },
            citation={
                "zh": "《中华人民共和国认证认可条例》第二十八条（跟踪调查）；ISO/IEC 17065:2012 7.9",
                "en": "Regulations on Certification and Accreditation of the PRC Art. 28 "
                "(follow-up surveillance); ISO/IEC 17065:2012 7.9",
            },
            severity="high",
            rectify_working_days=20,
        ),
        "satcert.certificate_revoked": FindingRule(
            title={
                "zh": "终端证书因不符合要求被撤销",
                "en": "A terminal certificate was revoked for non-conformity",
            },
            citation={
                "zh": "《中华人民共和国认证认可条例》第二十八条；ISO/IEC 17065:2012 7.11",
                "en": "Regulations on Certification and Accreditation of the PRC Art. 28; "
                "ISO/IEC 17065:2012 7.11",
            },
            severity="high",
            rectify_working_days=30,
        ),
    },
    schedules={
        "satcert.expiry_warnings": Schedule(
            job_kind="satcert.expiry",
            cron="30 8 * * *",
            misfire="run_once",
            description={
                "zh": "每日提醒即将到期的终端证书",
                "en": "Announce terminal certificates that expire soon, daily",
            },
        )
    },
    nav=[
        NavItem("/satcert", {"zh": "终端检测认证", "en": "Terminal certification"}, "satcert.read")
    ],
)
