"""Demo data for `mingyue demo`: the seed measures, two enterprise profiles, pushes, a 免申即享
list, requests on the dispatch desk, and a statistics upload with laggards under supervision.

The operator's platform admin (op_admin) ingests the bundled seed document (渝两江管发〔2023〕23号);
ent1 (an AI software SME at Mingyue Lake) and ent2 (a large data-services firm listed on the NEEQ)
keep their profiles; the policy desk (op_member, a reviewer) pushes three measures — two of them
免申即享, so ent1 and ent2 join their approval lists and ent2's listing reward is granted; ent1
files three requests (two routed at once, one left to the desk) and one is answered; the
statistics office (op_member) uploads made-up statistics (``data/demo_statistics.csv``) whose
laggards open supervision cases. Idempotent.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from mingyue.sdk import SYSTEM, Settings, actor_of_user, run_job_now, transition, unit_of_work

from .models_service import PolicyBenefit, PolicyProfile
from .schemas_service import CampaignIn, ProfileIn, RequestIn
from .service import corpus, dispatch, indicators, profiles, push

DATA = Path(__file__).resolve().parent / "data"

PROFILES = {
    "ent1_admin": ProfileIn(
        industry_code="I6513",
        district="两江新区",
        park="明月湖",
        qualifications=["hnte", "tsme"],
        sectors=["ai"],
        listing="none",
        headcount=85,
        revenue=Decimal("4200"),
        total_assets=Decimal("6800"),
        rd_spend=Decimal("900"),
        established=date(2021, 3, 15),
    ),
    "ent2_admin": ProfileIn(
        industry_code="I6450",
        district="两江新区",
        park="明月湖",
        qualifications=["hnte"],
        sectors=["satellite", "ai"],
        listing="neeq",
        headcount=2300,
        revenue=Decimal("120000"),
        total_assets=Decimal("210000"),
        rd_spend=Decimal("9600"),
        established=date(2016, 9, 1),
    ),
}
CAMPAIGNS = ("free-compute-pool", "listing-reward", "staff-rent-transport")
REQUESTS = (
    "我们公司想申请高新技术企业认定，研发费用占销售收入的比例有什么要求？",
    "公司新招了12名应届毕业生，想申请就业见习补贴，需要准备哪些材料？",
    "我们是新注册的公司，有哪些支持可以享受？",
)


def seed(settings: Settings, org_ids: dict[str, int]) -> None:
    """Create the demo once (idempotent)."""
    with unit_of_work(SYSTEM, settings) as uow:
        if uow.session.scalars(select(PolicyProfile.id).limit(1)).first() is not None:
            return
        admin = actor_of_user(uow=uow, username="op_admin")
        desk = actor_of_user(uow=uow, username="op_member")
        owners = {u: actor_of_user(uow=uow, username=u) for u in PROFILES}
        member = actor_of_user(uow=uow, username="ent1_member")
    if admin is None or desk is None or member is None or None in owners.values():
        return
    with unit_of_work(admin, settings) as uow:
        corpus.seed_corpus(uow=uow, actor=admin)
    for username, body in PROFILES.items():
        owner = owners[username]
        assert owner is not None  # noqa: S101 - checked above
        with unit_of_work(owner, settings) as uow:
            profiles.update_profile(uow=uow, actor=owner, body=body)
    for key in CAMPAIGNS:
        with unit_of_work(desk, settings) as uow:
            camp = push.start_campaign(uow=uow, actor=desk, body=CampaignIn(measure_key=key))
        if camp.job_id is not None:
            run_job_now(settings, camp.job_id)
    with unit_of_work(desk, settings) as uow:
        listed = uow.session.scalars(
            select(PolicyBenefit).where(PolicyBenefit.measure_key == "listing-reward")
        ).all()
        for b in listed:
            if b.case_id is not None:
                transition(uow=uow, case_id=b.case_id, name="grant", actor=desk)
    filed = []
    for text in REQUESTS:
        with unit_of_work(member, settings) as uow:
            filed.append(dispatch.submit_request(uow=uow, actor=member, body=RequestIn(text=text)))
    first = filed[0]
    if first.case_id is not None:
        with unit_of_work(desk, settings) as uow:
            transition(uow=uow, case_id=first.case_id, name="accept", actor=desk)
            transition(
                uow=uow,
                case_id=first.case_id,
                name="answer",
                actor=desk,
                comment="研发费用占同期销售收入比例：最近一年销售收入5000万元至2亿元（含）的企业不低于4%"
                "（《高新技术企业认定管理办法》第十一条）。可在科技创新局窗口预约辅导。",
            )
    with unit_of_work(desk, settings) as uow:
        indicators.upload_statistics(
            uow=uow,
            actor=desk,
            upload=(DATA / "demo_statistics.csv").read_bytes(),
            filename="演示统计数据（非官方）.csv",
        )
