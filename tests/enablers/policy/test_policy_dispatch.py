"""Request dispatch: the classifier's held-out figures, automatic and human routing, SLA cases."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mingyue.enablers.policy.engine.dispatch import (
    KINDS,
    Dispatcher,
    evaluate,
    load_duties,
    load_examples,
)
from mingyue.enablers.policy.schemas_service import DispatchIn, RequestIn
from mingyue.enablers.policy.service import dispatch
from mingyue.enablers.policy.service.common import departments
from mingyue.sdk import get_case, transition, unit_of_work
from mingyue.sdk.errors import Conflict, Forbidden, InvalidInput, NotFound

RULES = Path(__file__).resolve().parents[3] / "src" / "mingyue" / "enablers" / "policy" / "rules"
SURE = "我们公司想申请高新技术企业认定，研发费用占销售收入的比例有什么要求？"
VAGUE = "有个问题想反映一下，希望尽快处理。"
# Requests that name no matter a department handles: a person should route them.
VAGUE_SET = (
    "你好，想咨询一下相关情况。",
    "有个问题想反映一下，希望尽快处理。",
    "请问我们公司这种情况应该找哪个部门？",
    "我们是新注册的公司，有哪些支持可以享受？",
    "园区管理太差了",
    "事情拖了很久都没人管。",
    "麻烦帮忙看一下我们的问题。",
    "上次反映的事情有结果了吗？",
)


def test_the_examples_are_enough_and_well_formed() -> None:
    deps = list(departments())
    examples = load_examples(RULES / "dispatch_examples.jsonl", deps)
    assert len(examples) >= 200
    per = Counter(e.department for e in examples)
    assert set(per) == set(deps) and min(per.values()) >= 20
    assert set(Counter(e.kind for e in examples)) == set(KINDS)
    assert len({e.text for e in examples}) == len(examples)  # no duplicates
    blind = load_examples(RULES / "dispatch_blind.jsonl", deps)
    assert not {e.text for e in blind} & {e.text for e in examples}


def test_a_bad_example_names_its_line(tmp_path: Path) -> None:
    f = tmp_path / "x.jsonl"
    f.write_text(
        json.dumps({"text": "a", "department": "sci", "kind": "consult"})
        + "\n"
        + json.dumps({"text": "b", "department": "mars", "kind": "consult"})
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"x\.jsonl:2: unknown department"):
        load_examples(f, list(departments()))


@pytest.mark.slow
def test_held_out_figures() -> None:
    deps = list(departments())
    ev = evaluate(
        load_examples(RULES / "dispatch_examples.jsonl", deps),
        deps,
        duties=load_duties(RULES / "department_duties.yaml", deps),
        department_min=0.4,
        kind_min=0.4,
        blind=load_examples(RULES / "dispatch_blind.jsonl", deps),
    )
    h = ev.held_out
    print(  # the figures docs/policy.md reports
        f"held-out {h.size}: dept {h.department.accuracy} f1 {h.department.macro_f1} "
        f"kind {h.kind.accuracy} auto {h.auto_share} acc {h.auto_accuracy}; "
        f"cv {ev.cv_department_accuracy}; blind {ev.blind}"
    )
    assert h.size >= 60 and h.department.accuracy >= 0.85 and h.kind.accuracy >= 0.7
    assert h.auto_share >= 0.6 and h.auto_accuracy >= 0.9
    assert ev.cv_department_accuracy >= 0.85
    assert ev.blind is not None and ev.blind.department.accuracy >= 0.8
    rows = h.department.confusion
    assert sum(map(sum, rows)) == h.size and len(rows) == len(deps)


def test_a_prediction_ranks_departments() -> None:
    model = dispatch.classifier()
    p = model.predict(SURE)
    assert p.department == "sci" and p.kind == "consult"
    assert p.ranked[0][0] == "sci" and p.ranked[0][1] >= p.ranked[1][1]
    assert p.confident(0.4, 0.4)
    unsure = [t for t in VAGUE_SET if not model.predict(t).confident(0.4, 0.4)]
    assert len(unsure) >= len(VAGUE_SET) - 1, unsure
    with pytest.raises(InvalidInput):
        model.predict("   ")


def test_training_refuses_a_single_class() -> None:
    from mingyue.enablers.policy.engine.dispatch import Example

    with pytest.raises(ValueError):
        Dispatcher([Example("a", "sci", "consult"), Example("b", "sci", "help")])


def test_a_confident_request_opens_the_departments_case(
    settings: Any, tenants: Any, actor_of: Any
) -> None:
    ent, desk = actor_of(tenants.a.member), actor_of(tenants.operator.member)
    with unit_of_work(ent, settings) as uow:
        out = dispatch.submit_request(uow=uow, actor=ent, body=RequestIn(text=SURE))
    assert out.status == "dispatched" and out.department == "sci" and out.kind == "consult"
    assert out.dispatched_by == "auto" and out.case_id is not None
    with unit_of_work(desk, settings) as uow:
        case = get_case(uow=uow, case_id=out.case_id, actor=desk)
        assert case.kind == "policy.request_consult" and case.state == "assigned"
        assert case.organization_id == tenants.a.org.id
        assert case.due_at - case.created_at == timedelta(hours=24)
        transition(uow=uow, case_id=out.case_id, name="accept", actor=desk)
        case = get_case(uow=uow, case_id=out.case_id, actor=desk)
        assert case.due_at - case.state_entered_at == timedelta(hours=24)  # answer in a day
        transition(uow=uow, case_id=out.case_id, name="answer", comment="不低于4%", actor=desk)
    with unit_of_work(ent, settings) as uow:
        assert dispatch.get_request(uow=uow, actor=ent, request_id=out.id).status == "answered"


def test_an_unsure_request_waits_for_a_person(settings: Any, tenants: Any, actor_of: Any) -> None:
    ent, desk = actor_of(tenants.a.member), actor_of(tenants.operator.member)
    with unit_of_work(ent, settings) as uow:
        out = dispatch.submit_request(uow=uow, actor=ent, body=RequestIn(text=VAGUE))
    assert out.status == "review" and out.case_id is None
    assert out.reason_key == "policy.request.low_confidence"
    with unit_of_work(desk, settings) as uow:
        queue = dispatch.list_requests(uow=uow, actor=desk, status="review")
        assert [r.id for r in queue] == [out.id]
        with pytest.raises(InvalidInput):
            dispatch.dispatch_request(
                uow=uow,
                actor=desk,
                request_id=out.id,
                body=DispatchIn(department="mars", kind="suggestion"),
            )
    with unit_of_work(desk, settings) as uow:
        routed = dispatch.dispatch_request(
            uow=uow,
            actor=desk,
            request_id=out.id,
            body=DispatchIn(department="commerce", kind="suggestion"),
        )
        assert routed.status == "dispatched" and routed.dispatched_by.endswith(desk.username)
        case = get_case(uow=uow, case_id=routed.case_id, actor=desk)
        assert case.kind == "policy.request_suggestion"
    with pytest.raises(Conflict), unit_of_work(desk, settings) as uow:
        dispatch.dispatch_request(
            uow=uow, actor=desk, request_id=out.id, body=DispatchIn(department="sci", kind="help")
        )


def test_a_returned_request_goes_back_to_the_desk(
    settings: Any, tenants: Any, actor_of: Any
) -> None:
    ent, desk = actor_of(tenants.a.member), actor_of(tenants.operator.member)
    with unit_of_work(ent, settings) as uow:
        out = dispatch.submit_request(uow=uow, actor=ent, body=RequestIn(text=SURE))
    with unit_of_work(desk, settings) as uow:
        transition(uow=uow, case_id=out.case_id, name="return", comment="属税务局职责", actor=desk)
    with unit_of_work(desk, settings) as uow:
        back = dispatch.get_request(uow=uow, actor=desk, request_id=out.id)
        assert back.status == "review" and back.department is None
        assert back.reason_key == "policy.request.returned"
        again = dispatch.dispatch_request(
            uow=uow,
            actor=desk,
            request_id=out.id,
            body=DispatchIn(department="tax", kind="consult"),
        )
    assert again.case_id != out.case_id


def test_only_the_desk_dispatches_and_tenants_stay_apart(
    settings: Any, tenants: Any, actor_of: Any
) -> None:
    a, b = actor_of(tenants.a.member), actor_of(tenants.b.admin)
    with unit_of_work(a, settings) as uow:
        out = dispatch.submit_request(uow=uow, actor=a, body=RequestIn(text=VAGUE))
    with pytest.raises(Forbidden), unit_of_work(a, settings) as uow:
        dispatch.dispatch_request(
            uow=uow, actor=a, request_id=out.id, body=DispatchIn(department="sci", kind="help")
        )
    with pytest.raises(NotFound), unit_of_work(b, settings) as uow:
        dispatch.get_request(uow=uow, actor=b, request_id=out.id)
    reg = actor_of(tenants.regulator.member)
    with unit_of_work(reg, settings) as uow:  # oversight reads every request
        assert [r.id for r in dispatch.list_requests(uow=uow, actor=reg)] == [out.id]
    with pytest.raises(Forbidden), unit_of_work(reg, settings) as uow:
        dispatch.submit_request(uow=uow, actor=reg, body=RequestIn(text=SURE))
