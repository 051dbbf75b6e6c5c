"""The policy demo: seeded once through the real services, with something on every page."""

from __future__ import annotations

from typing import Any

from mingyue.enablers.policy import demo
from mingyue.enablers.policy.models_service import (
    PolicyBenefit,
    PolicyCampaign,
    PolicyIndicatorAlert,
    PolicyProfile,
    PolicyPush,
    PolicyRequest,
)
from mingyue.sdk import SYSTEM, unit_of_work


def test_the_demo_seeds_every_part_once(settings: Any, make_org: Any, make_user: Any) -> None:
    op = make_org(kind="operator", name="明月湖π运营中心")
    ent1 = make_org(sme=True, name="重庆两江智算科技有限公司")
    ent2 = make_org(name="重庆明月湖数据服务有限公司")
    make_user(op, roles=("platform_admin", "org_admin"), username="op_admin")
    make_user(op, roles=("member", "reviewer"), username="op_member")
    make_user(ent1, roles=("org_admin",), username="ent1_admin")
    make_user(ent1, roles=("member",), username="ent1_member")
    make_user(ent2, roles=("org_admin",), username="ent2_admin")
    ids = {"op": op.id, "ent1": ent1.id, "ent2": ent2.id}
    demo.seed(settings, ids)
    demo.seed(settings, ids)  # idempotent
    with unit_of_work(SYSTEM, settings) as uow:
        s = uow.session
        assert s.query(PolicyProfile).count() == 2
        assert s.query(PolicyCampaign).filter_by(status="done").count() == 3
        assert s.query(PolicyPush).count() >= 4
        benefits = {(b.organization_id, b.measure_key): b.status for b in s.query(PolicyBenefit)}
        assert benefits == {
            (ent1.id, "free-compute-pool"): "proposed",
            (ent2.id, "listing-reward"): "granted",
        }
        requests = [
            (r.status, r.dispatched_by) for r in s.query(PolicyRequest).order_by(PolicyRequest.id)
        ]
        assert requests == [("answered", "auto"), ("dispatched", "auto"), ("review", None)]
        assert s.query(PolicyIndicatorAlert).count() == 4
