"""Precise push: campaigns notify every match once, opt-out is logged, 免申即享 lists and grants."""

from __future__ import annotations

from typing import Any

import pytest

from mingyue.enablers.policy.models_service import PolicyBenefit, PolicyPush
from mingyue.enablers.policy.schemas_service import CampaignIn
from mingyue.enablers.policy.service import benefits, profiles, push
from mingyue.sdk import SYSTEM, get_case, run_job_now, transition, unit_of_work
from mingyue.sdk.errors import InvalidInput
from tests.enablers.policy.policy_service_support import ai_sme, save_profile


@pytest.fixture
def world(settings: Any, tenants: Any, actor_of: Any) -> dict[str, Any]:
    """Enterprise a: an AI SME at Mingyue Lake; b: a large listed firm; the desk: a reviewer."""
    a, b = actor_of(tenants.a.admin), actor_of(tenants.b.admin)
    save_profile(settings, a, ai_sme())
    save_profile(settings, b, ai_sme(headcount=800, revenue=50000, listing="neeq"))
    return {"a": a, "b": b, "desk": actor_of(tenants.operator.member)}


def _campaign(settings: Any, desk: Any, key: str) -> Any:
    with unit_of_work(desk, settings) as uow:
        camp = push.start_campaign(uow=uow, actor=desk, body=CampaignIn(measure_key=key))
    assert camp.status == "queued" and camp.job_id is not None
    job = run_job_now(settings, camp.job_id)
    assert job.status == "succeeded", job.error
    with unit_of_work(desk, settings) as uow:
        return push.get_campaign(uow=uow, actor=desk, campaign_id=camp.id)


def test_a_campaign_tells_each_match_once_and_lists_no_application_benefits(
    settings: Any, world: dict[str, Any]
) -> None:
    done = _campaign(settings, world["desk"], "free-compute-pool")
    assert done.status == "done"
    # a (SME) is eligible; b (large) misses the SME condition and is not told
    assert done.counts == {"matched": 2, "eligible": 1, "missing": 1, "listed": 1, "sent": 1}
    with unit_of_work(world["a"], settings) as uow:
        mine = push.list_pushes(uow=uow, actor=world["a"])
        listed = benefits.list_benefits(uow=uow, actor=world["a"])
    assert [(p.measure_key, p.verdict, p.status) for p in mine] == [
        ("free-compute-pool", "eligible", "sent")
    ]
    assert mine[0].clause_id.endswith("#三.（十二）") and mine[0].benefit_id == listed[0].id
    assert [(b.measure_key, b.status) for b in listed] == [("free-compute-pool", "proposed")]
    with unit_of_work(world["b"], settings) as uow:
        assert push.list_pushes(uow=uow, actor=world["b"]) == []
        assert benefits.list_benefits(uow=uow, actor=world["b"]) == []
    # the same measure again: nobody is told twice, nobody listed twice
    again = _campaign(settings, world["desk"], "free-compute-pool")
    assert again.counts == {
        "matched": 2,
        "eligible": 1,
        "missing": 1,
        "already_listed": 1,
        "already_told": 1,
    }


def test_the_department_grants_on_the_case_and_the_enterprise_is_told(
    settings: Any, world: dict[str, Any]
) -> None:
    _campaign(settings, world["desk"], "listing-reward")
    with unit_of_work(world["b"], settings) as uow:
        (entry,) = benefits.list_benefits(uow=uow, actor=world["b"])
    assert entry.case_id is not None
    with unit_of_work(world["desk"], settings) as uow:
        case = get_case(uow=uow, case_id=entry.case_id, actor=world["desk"])
        assert case.kind == "policy.benefit" and case.state == "proposed"
        assert case.organization_id == world["b"].organization_id and case.due_at is not None
        # the enterprise cannot grant itself anything
        names = [
            t.name for t in get_case(uow=uow, case_id=entry.case_id, actor=world["b"]).transitions
        ]
        assert names == []
        transition(uow=uow, case_id=entry.case_id, name="grant", actor=world["desk"])
    with unit_of_work(world["b"], settings) as uow:
        (entry,) = benefits.list_benefits(uow=uow, actor=world["b"])
        told = push.list_pushes(uow=uow, actor=world["b"])
    assert entry.status == "granted" and entry.decided_by == f"user:{world['desk'].username}"
    assert [(p.kind, p.verdict) for p in told][:1] == [("benefit", "granted")]


def test_declining_needs_a_reason(settings: Any, world: dict[str, Any]) -> None:
    _campaign(settings, world["desk"], "listing-reward")
    with unit_of_work(SYSTEM, settings) as uow:
        case_id = uow.session.query(PolicyBenefit).one().case_id
    with pytest.raises(InvalidInput), unit_of_work(world["desk"], settings) as uow:
        transition(uow=uow, case_id=case_id, name="reject", actor=world["desk"])
    with unit_of_work(world["desk"], settings) as uow:
        transition(
            uow=uow, case_id=case_id, name="reject", comment="挂牌已终止", actor=world["desk"]
        )
    with unit_of_work(SYSTEM, settings) as uow:
        assert uow.session.query(PolicyBenefit).one().status == "rejected"


def test_opting_out_is_logged_not_shown(settings: Any, world: dict[str, Any]) -> None:
    with unit_of_work(world["a"], settings) as uow:
        out = profiles.set_opt_out(uow=uow, actor=world["a"], opt_out=True)
    assert out.push_opt_out is True
    done = _campaign(settings, world["desk"], "staff-rent-transport")
    assert done.counts["suppressed"] == 1 and done.counts["sent"] == 1  # b is told
    with unit_of_work(world["a"], settings) as uow:
        assert push.list_pushes(uow=uow, actor=world["a"]) == []
        assert push.unread_count(uow=uow, actor=world["a"]) == 0
    with unit_of_work(world["desk"], settings) as uow:
        log = push.list_pushes(uow=uow, actor=world["desk"])
    assert sorted((p.organization_id, p.status) for p in log) == [
        (world["a"].organization_id, "suppressed"),
        (world["b"].organization_id, "sent"),
    ]


def test_reading_a_notification(settings: Any, world: dict[str, Any]) -> None:
    _campaign(settings, world["desk"], "staff-rent-transport")
    with unit_of_work(world["a"], settings) as uow:
        (note,) = push.list_pushes(uow=uow, actor=world["a"])  # b's is not among them
        assert push.unread_count(uow=uow, actor=world["a"]) == 1
        read = push.mark_read(uow=uow, actor=world["a"], push_id=note.id)
        assert read.status == "read" and read.read_at is not None
        assert push.mark_read(uow=uow, actor=world["a"], push_id=note.id).status == "read"
        assert push.unread_count(uow=uow, actor=world["a"]) == 0
    # an official reads the log but does not mark an enterprise's notification read
    with unit_of_work(world["desk"], settings) as uow:
        from mingyue.sdk.errors import NotFound

        with pytest.raises(NotFound):
            push.mark_read(uow=uow, actor=world["desk"], push_id=note.id)


def test_the_daily_job_lists_newly_eligible_enterprises(
    settings: Any, world: dict[str, Any], run_jobs: Any
) -> None:
    from mingyue.sdk import enqueue

    with unit_of_work(world["desk"], settings) as uow:
        job = enqueue(uow=uow, kind="policy.benefits", params={})
    out = run_job_now(settings, job.id)
    assert out.status == "succeeded", out.error
    assert out.result["free-compute-pool"]["listed"] == 1
    assert out.result["listing-reward"]["listed"] == 1
    with unit_of_work(SYSTEM, settings) as uow:
        assert uow.session.query(PolicyBenefit).count() == 2
        assert uow.session.query(PolicyPush).count() == 2


def test_campaign_input_is_checked(settings: Any, world: dict[str, Any]) -> None:
    from mingyue.sdk.errors import Forbidden, NotFound

    with pytest.raises(NotFound), unit_of_work(world["desk"], settings) as uow:
        push.start_campaign(uow=uow, actor=world["desk"], body=CampaignIn(measure_key="nope"))
    with pytest.raises(Forbidden), unit_of_work(world["a"], settings) as uow:
        push.start_campaign(
            uow=uow, actor=world["a"], body=CampaignIn(measure_key="listing-reward")
        )
