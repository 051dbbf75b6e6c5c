"""supervision's demo seed: findings of two enablers, one rectification in progress, one decided."""

from __future__ import annotations

from typing import Any

from mingyue.enablers.supervision import demo, service


def test_seed_leaves_a_rectification_in_progress_and_a_signed_decision(
    settings: Any, make_org: Any, make_user: Any, uow_as: Any, actor_of: Any
) -> None:
    reg, ent2 = make_org(kind="regulator"), make_org()
    regulator = make_user(reg, roles=("regulator",), username="reg_member")
    make_user(ent2, roles=("org_admin",), username="ent2_admin")
    ids = {"reg": reg.id, "ent2": ent2.id}
    demo.seed(settings, ids)
    demo.seed(settings, ids)  # idempotent
    with uow_as(actor_of(regulator)) as uow:
        views = service.list_register(uow=uow, actor=uow.actor)
        rects = service.list_rectifications(uow=uow, actor=uow.actor)
    assert {v.finding.enabler for v in views} >= {"appcheck", "crossborder"}
    assert sorted(r.status for r in rects) == ["decided", "submitted"]
    decided = next(r for r in rects if r.status == "decided")
    assert decided.decision is not None and decided.decision.outcome == "no_penalty"
    assert decided.decision.credential_id
    running = next(r for r in rects if r.status == "submitted")
    assert running.reports[0].files[0].filename == "整改说明.txt"
