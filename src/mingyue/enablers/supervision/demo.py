"""Demo data for `mingyue demo`: the findings register with one rectification in progress and one decided.

The other enablers' demos run first and raise their own findings through the real paths; where an
enabler's demo left none, a finding of its real rule is raised here on a demo organization (made
up, no real App or address). Then the regulator (reg_member) orders two rectifications: the
enterprise reports on the first (in progress, its deadline running); the second is decided (the
enterprise showed it bore no subjective fault, APL Art. 33(2)) and issued as a signed credential.
"""

from __future__ import annotations

from sqlalchemy import select

from mingyue.enablers.supervision import service
from mingyue.enablers.supervision.models import SupervisionRectification
from mingyue.enablers.supervision.schemas import DecisionIn, OrderIn
from mingyue.sdk import (
    SYSTEM,
    EvidenceRef,
    FindingOut,
    Settings,
    actor_of_user,
    list_findings,
    raise_finding,
    unit_of_work,
)

FALLBACK = {
    "appcheck": (
        "appcheck.over_collection",
        "app:com.example.demoshop",
        EvidenceRef(kind="appcheck.report", ref="demo", label="演示检测报告 / demo report"),
    ),
    "crossborder": (
        "crossborder.undeclared_endpoint",
        "endpoint:52.6.18.40",
        EvidenceRef(kind="crossborder.alert", ref="demo", label="演示流量告警 / demo alert"),
    ),
}
REPORT = "已停止超范围收集，删除历史数据，并更新隐私政策第3节。".encode()


def _open_findings(settings: Settings) -> list[FindingOut]:
    with unit_of_work(SYSTEM, settings) as uow:
        return list_findings(uow=uow, actor=SYSTEM, status=["open"], limit=200)


def seed(settings: Settings, org_ids: dict[str, int]) -> None:
    """Create the demo once (idempotent)."""
    with unit_of_work(SYSTEM, settings) as uow:
        if uow.session.scalars(select(SupervisionRectification.id).limit(1)).first() is not None:
            return
        service.ensure_seeded(uow)
        regulator = actor_of_user(uow=uow, username="reg_member")
    if regulator is None or "ent2" not in org_ids:
        return
    present = {f.enabler for f in _open_findings(settings)}
    with unit_of_work(SYSTEM, settings) as uow:
        for enabler, (rule, subject, evidence) in FALLBACK.items():
            if enabler not in present:
                raise_finding(
                    uow=uow,
                    organization_id=org_ids["ent2"],
                    rule=rule,
                    subject=subject,
                    evidence=[evidence],
                )
    found = _open_findings(settings)
    first = next((f for f in found if f.enabler == "appcheck"), None)
    second = next((f for f in found if f is not first and f.enabler != "appcheck"), None)
    if first is None or second is None:
        return
    keys = {v: k for k, v in org_ids.items()}
    with unit_of_work(regulator, settings) as uow:
        rect = service.order_rectification(
            uow=uow,
            actor=regulator,
            body=OrderIn(finding_id=first.id, instructions="停止超范围收集并删除已收集的信息"),
        )
        other = service.order_rectification(
            uow=uow, actor=regulator, body=OrderIn(finding_id=second.id)
        )
    with unit_of_work(SYSTEM, settings) as uow:
        enterprise = actor_of_user(uow=uow, username=f"{keys.get(first.organization_id)}_admin")
    if enterprise is not None:
        with unit_of_work(enterprise, settings) as uow:
            service.submit_report(
                uow=uow,
                actor=enterprise,
                rectification_id=rect.id,
                text="已删除定位权限申请并清除历史定位数据；整改说明见附件。",
                files=[("整改说明.txt", REPORT)],
            )
    with unit_of_work(regulator, settings) as uow:
        service.decide_rectification(
            uow=uow,
            actor=regulator,
            rectification_id=other.id,
            body=DecisionIn(prohibited=False, harm="minor", no_fault_evidence=True),
        )
