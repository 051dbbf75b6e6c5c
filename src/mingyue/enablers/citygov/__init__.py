"""citygov: sensors and alarms, the digital city-management closed loop, citizen services and
Open311, an NGSI-LD context broker.

Organizations (docs/citygov.md): the command centre (指挥中心) is the operator organization — its
reviewers (坐席) register, dispatch, supervise and verify, its members are inspectors (监督员);
units (环卫、市政、交警 …) are organizations registered as units, whose org_admin dispatches inside
the unit and whose members handle tasks in the field; citizens report as users of any
organization (a "public" one in the demo), their reports and rewards stay theirs.
"""

from mingyue.sdk import Enabler, FindingRule, MeterSpec, NavItem, Permission, Schedule

_SERVICE = "mingyue.enablers.citygov.service"
_ALL = ("platform_admin", "org_admin", "member", "reviewer", "regulator", "auditor")
_CENTRE = ("platform_admin", "reviewer")
_OVERSIGHT = ("platform_admin", "reviewer", "regulator", "auditor")

enabler = Enabler(
    key="citygov",
    title={"zh": "城市运行管理", "en": "City operations"},
    summary={
        "zh": "物联感知与告警（一屏通览）、数字城管闭环（一网统管）、市民服务与Open311（一端服务）、"
        "NGSI-LD上下文代理",
        "en": "Sensors and alarms, the digital city-management closed loop, citizen services "
        "and Open311, an NGSI-LD context broker",
    },
    state="experimental",
    extras=("citygov",),
    quality="closed loop, KPIs, reports and Open311 tested on SQLite and PostgreSQL; "
    "browser-tested dispatch desk",
    router="mingyue.enablers.citygov.api:router",
    console="mingyue.enablers.citygov.console:router",
    cli="mingyue.enablers.citygov.cli:app",
    models="mingyue.enablers.citygov.models",
    settings="mingyue.enablers.citygov.settings:CitygovSettings",
    mounts={
        "/open311/v2": "mingyue.enablers.citygov.open311:router",
        "/ngsi-ld/v1": "mingyue.enablers.citygov.ngsi_api:router",
        # devices post readings with their own token (X-Device-Token), not a platform login
        "/telemetry/v1": "mingyue.enablers.citygov.api_telemetry:device_router",
    },
    services={
        "citygov.mqtt": "mingyue.enablers.citygov.mqtt_service:run",
        "citygov.ngsi_periodic": "mingyue.enablers.citygov.service.ngsi_periodic:run",
    },
    permissions={
        "citygov.read": _ALL,
        # The centre's file of cases: scoping keeps it to the centre and oversight roles.
        "citygov.case.read": _ALL,
        # Inspectors (监督员, members of the centre) and the centre's seats collect problems.
        "citygov.case.collect": Permission(
            roles=("platform_admin", "org_admin", "member", "reviewer"), reach="own"
        ),
        # 立案、派遣、核查、结案、督办: the command centre's seats.
        "citygov.case.manage": _CENTRE,
        # A unit's people accept, handle, report back or send back its own tasks.
        "citygov.task.handle": Permission(roles=("org_admin", "member"), reach="own"),
        "citygov.task.read": _ALL,
        "citygov.registry.manage": _CENTRE,
        "citygov.report.submit": Permission(roles=("org_admin", "member"), reach="own"),
        "citygov.report.read": _ALL,
        "citygov.share.manage": Permission(roles=("org_admin",), reach="own"),
        "citygov.share.read": _ALL,
        "citygov.kpi.read": (*_OVERSIGHT, "org_admin"),
        # telemetry (C3): an organization registers its own devices and posts their readings;
        # its people and the centre's seats acknowledge and clear alarms.
        "citygov.device.manage": Permission(roles=("platform_admin", "org_admin"), reach="own"),
        "citygov.telemetry.ingest": Permission(roles=("org_admin", "member"), reach="own"),
        "citygov.alarm.handle": Permission(
            roles=("platform_admin", "org_admin", "member", "reviewer"), reach="supervised"
        ),
        # NGSI-LD broker (C2): the tenant is the caller's organization; only a platform admin
        # names another one with NGSILD-Tenant.
        "citygov.ngsi.read": Permission(roles=_ALL, reach="own"),
        "citygov.ngsi.write": Permission(
            roles=("platform_admin", "org_admin", "member"), reach="own"
        ),
    },
    audit_events={
        "citygov.case.collected": "A city problem was collected (信息采集) and its case opened",
        "citygov.case.registered": "A city case was registered (立案)",
        "citygov.case.rejected": "A collected problem was not registered (不予立案)",
        "citygov.case.dispatched": "A city case was dispatched to a unit (派遣)",
        "citygov.case.accepted": "A unit accepted a dispatched task (接单)",
        "citygov.case.sent_back": "A unit sent a task back as not its own (回退)",
        "citygov.case.fed_back": "A unit reported a task handled (处理反馈)",
        "citygov.case.closed": "A handled case was verified on site and closed (核查结案)",
        "citygov.case.reworked": "Verification failed and the task went back to the unit (返工)",
        "citygov.case.evaluated": "A closed case entered the month's evaluation (综合评价)",
        "citygov.case.supervised": "An overdue task was supervised (督办)",
        "citygov.case.escalated": "An overdue task was escalated to the supervising organization",
        "citygov.unit.saved": "A unit (责任单位) was registered or changed",
        "citygov.video_point.saved": "A video point's metadata was registered or changed",
        "citygov.report.submitted": "A citizen reported a problem (市民上报)",
        "citygov.report.linked": "A report joined an open case of the same problem (no reward)",
        "citygov.reward.credited": "A reward was credited for a verified report (你发现、我奖励)",
        "citygov.reward.withheld": "A verified report earned no reward (daily cap reached)",
        "citygov.share.subscribed": "A unit subscribed to cases of some categories",
        "citygov.share.unsubscribed": "A unit ended a subscription",
        "citygov.share.delivered": "A shared case event was delivered to a subscriber",
        "citygov.share.dead": "A shared case event could not be delivered after every retry",
        "citygov.kpi.evaluated": "The month's unit ranking was computed and kept (综合评价)",
        "citygov.device.registered": "A telemetry device was registered",
        "citygov.device.token_rotated": "A device's HTTP ingest token was replaced",
        "citygov.alarm.raised": "A device alarm was raised",
        "citygov.alarm.reopened": "A device alarm was raised again after it had cleared",
        "citygov.alarm.escalated": "An open device alarm rose in severity",
        "citygov.alarm.acknowledged": "A device alarm was acknowledged",
        "citygov.alarm.cleared": "A device alarm cleared (by its readings or by hand)",
        "citygov.ngsi.entity_deleted": "An NGSI-LD entity was deleted",
        "citygov.ngsi.subscription_created": "An NGSI-LD subscription was created",
        "citygov.ngsi.subscription_updated": "An NGSI-LD subscription was changed",
        "citygov.ngsi.subscription_deleted": "An NGSI-LD subscription was deleted",
    },
    job_kinds={
        "citygov.supervise": f"{_SERVICE}.supervise:run_supervise_job",
        "citygov.share.deliver": f"{_SERVICE}.sharing:run_delivery_job",
        "citygov.evaluate": f"{_SERVICE}.kpi:run_evaluation_job",
        "citygov.silent_check": f"{_SERVICE}.alarms:run_silent_check_job",
    },
    meters={
        "citygov.reports": MeterSpec(unit="report", description="Citizen reports received"),
    },
    case_kinds={"citygov.case": "mingyue.enablers.citygov.cases:CITY_CASE"},
    finding_rules={
        "citygov.case_escalated": FindingRule(
            title={
                "zh": "责任单位案件超期经督办仍未处置，已升级",
                "en": "A unit left a dispatched case unhandled past its time limit and "
                "repeated supervision; it was escalated",
            },
            citation={
                "zh": "CJ/T 315-2009《城市市政综合监管信息系统 监管案件立案、处置与结案》"
                "（处置时限）",
                "en": "CJ/T 315-2009 Urban municipal supervision information system — "
                "registration, handling and closing of cases (handling time limits)",
            },
            severity="medium",
            rectify_working_days=5,
        ),
    },
    schedules={
        "citygov.overdue_check": Schedule(
            job_kind="citygov.supervise",
            every_s=600,
            misfire="run_once",
            description={
                "zh": "每10分钟检查超期任务：督办，屡次督办仍超期则升级",
                "en": "Every 10 minutes: supervise overdue tasks, escalate after repeated "
                "supervision",
            },
        ),
        "citygov.share_retries": Schedule(
            job_kind="citygov.share.deliver",
            every_s=60,
            misfire="skip",
            description={
                "zh": "每分钟重试待投递的跨部门共享事件",
                "en": "Every minute: retry shared case events waiting for delivery",
            },
        ),
        "citygov.silent_devices": Schedule(
            job_kind="citygov.silent_check",
            every_s=60,
            misfire="skip",
            description={
                "zh": "每分钟检查长时间无数据的设备并告警",
                "en": "Every minute: raise the alarm of devices that went silent",
            },
        ),
        "citygov.monthly_evaluation": Schedule(
            job_kind="citygov.evaluate",
            cron="30 1 1 * *",
            misfire="run_once",
            description={
                "zh": "每月1日计算上月各单位考核排名（综合评价）",
                "en": "On the 1st of each month: rank last month's units (综合评价)",
            },
        ),
    },
    nav=[NavItem("/citygov", {"zh": "城市运行管理", "en": "City operations"}, "citygov.read")],
)
