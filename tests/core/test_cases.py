"""Cases: workflow, who may act, history, audit entries, hooks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from mingyue.core import cases, files
from mingyue.core.cases import CaseKind, State, Transition
from mingyue.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from mingyue.core.ledger.audit import AuditEntry, verify_chain
from mingyue.core.tenancy.access import SYSTEM, Actor
from mingyue.core.uow import UnitOfWork, unit_of_work

try:
    from .test_cases_helpers import World
except ImportError:
    from test_cases_helpers import World  # type: ignore[no-redef]


@pytest.fixture
def world(settings: Any, make_org: Any, make_user: Any, actor_of: Any, uow_as: Any) -> World:
    return World.build(settings, make_org, make_user, actor_of, uow_as)


def _open(world: World, uow_as: Any, who: str = "a_member", **kw: Any) -> cases.CaseOut:
    org = world.orgs["A"] if who.startswith("a_") else world.orgs[kw.pop("org", "A")]
    with uow_as(world.actors[who]) as uow:
        return cases.open_case(
            uow=uow,
            kind="core.general",
            title=kw.pop("title", "备案申请"),
            organization_id=org,
            **kw,
        )


def test_general_workflow_with_history_and_ledger(world: World) -> None:
    c = _open(world, world.uow_as, subject="demo:1", data={"k": "v"})
    assert c.state == "submitted" and c.due_at is not None
    assert (c.due_at - c.created_at).total_seconds() == 24 * 3600
    steps = [
        ("reviewer", "start_review", None),
        ("reviewer", "return", "缺少材料"),
        ("a_admin", "resubmit", None),
        ("reviewer", "start_review", None),
        ("reviewer", "accept", "ok"),
    ]
    for who, name, text in steps:
        with world.uow_as(world.actors[who]) as uow:
            out = cases.transition(uow=uow, case_id=c.id, name=name, comment=text)
    assert out.state == "accepted" and out.closed_at is not None and out.due_at is None
    # The reviewer took the unassigned case on first action (领办).
    assert out.assignee_user_id == world.users["reviewer"]
    assert out.assignee_org_id == world.orgs["OP"]
    with world.uow_as(world.actors["a_member"]) as uow:
        detail = cases.get_case(uow=uow, case_id=c.id)
    kinds = [e.kind for e in detail.events]
    assert kinds == [
        "open",
        "transition",
        "assign",
        "transition",
        "transition",
        "transition",
        "transition",
    ]
    assert [e.name for e in detail.events if e.kind == "transition"] == [
        "start_review",
        "return",
        "resubmit",
        "start_review",
        "accept",
    ]
    assert detail.events[3].comment == "缺少材料"
    assert detail.transitions == []
    with world.system() as s:
        actions = [
            e.action
            for e in s.scalars(
                select(AuditEntry)
                .where(AuditEntry.subject == f"core_case:{c.id}")
                .order_by(AuditEntry.seq)
            )
        ]
        assert actions == [
            "core.case.opened",
            "core.case.transitioned",
            "core.case.assigned",
            *["core.case.transitioned"] * 4,
        ]
        assert verify_chain(s).ok


def test_roles_and_sides(world: World) -> None:
    c = _open(world, world.uow_as)
    # A submitter cannot review its own case; a reviewer cannot resubmit or withdraw it.
    with pytest.raises(Forbidden), world.uow_as(world.actors["a_admin"]) as uow:
        cases.transition(uow=uow, case_id=c.id, name="start_review")
    with pytest.raises(Forbidden), world.uow_as(world.actors["reviewer"]) as uow:
        cases.transition(uow=uow, case_id=c.id, name="withdraw")
    # Another enterprise does not even see it.
    with pytest.raises(NotFound), world.uow_as(world.actors["b_admin"]) as uow:
        cases.transition(uow=uow, case_id=c.id, name="withdraw")
    with pytest.raises(NotFound), world.uow_as(world.actors["b_admin"]) as uow:
        cases.get_case(uow=uow, case_id=c.id)
    with world.uow_as(world.actors["b_admin"]) as uow:
        assert cases.list_cases(uow=uow) == []
    # An auditor reads but may take no transition.
    with world.uow_as(world.actors["auditor"]) as uow:
        d = cases.get_case(uow=uow, case_id=c.id)
        assert d.transitions == []
    with world.uow_as(world.actors["a_member"]) as uow:
        assert [t.name for t in cases.get_case(uow=uow, case_id=c.id).transitions] == ["withdraw"]
    with world.uow_as(world.actors["reviewer"]) as uow:
        assert [t.name for t in cases.get_case(uow=uow, case_id=c.id).transitions] == [
            "start_review"
        ]
    # Wrong state, unknown transition, missing comment.
    with pytest.raises(Conflict), world.uow_as(world.actors["reviewer"]) as uow:
        cases.transition(uow=uow, case_id=c.id, name="accept")
    with pytest.raises(InvalidInput), world.uow_as(world.actors["reviewer"]) as uow:
        cases.transition(uow=uow, case_id=c.id, name="teleport")
    with world.uow_as(world.actors["reviewer"]) as uow:
        cases.transition(uow=uow, case_id=c.id, name="start_review")
    with pytest.raises(InvalidInput) as err, world.uow_as(world.actors["reviewer"]) as uow:
        cases.transition(uow=uow, case_id=c.id, name="reject", comment="  ")
    assert err.value.field == "comment"
    # A refused step leaves no trace: the state is unchanged.
    with world.uow_as(world.actors["a_member"]) as uow:
        assert cases.get_case(uow=uow, case_id=c.id).state == "in_review"


def test_open_case_rules(world: World) -> None:
    # An enterprise opens cases only for itself; an operator reviewer may open for anyone.
    with pytest.raises(NotFound), world.uow_as(world.actors["a_admin"]) as uow:
        cases.open_case(uow=uow, kind="core.general", title="x", organization_id=world.orgs["B"])
    with world.uow_as(world.actors["reviewer"]) as uow:
        c = cases.open_case(
            uow=uow,
            kind="core.general",
            title="现场检查",
            organization_id=world.orgs["B"],
            assignee_org_id=world.orgs["REG"],
        )
    assert c.organization_id == world.orgs["B"] and c.assignee_org_id == world.orgs["REG"]
    with pytest.raises(InvalidInput) as err, world.uow_as(world.actors["a_admin"]) as uow:
        cases.open_case(uow=uow, kind="nope.kind", title="x", organization_id=world.orgs["A"])
    assert err.value.field == "kind"
    with pytest.raises(InvalidInput), world.uow_as(world.actors["a_admin"]) as uow:
        cases.open_case(uow=uow, kind="core.general", title=" ", organization_id=world.orgs["A"])


def test_comment_assign_attach(world: World) -> None:
    c = _open(world, world.uow_as)
    with world.uow_as(world.actors["a_member"]) as uow:
        ev = cases.comment(uow=uow, case_id=c.id, text="补充说明")
        assert ev.kind == "comment" and ev.actor == "user:a_member"
        f = files.store(uow=uow, data=b"%PDF-1.4 material", filename="材料.pdf")
        att = cases.attach(uow=uow, case_id=c.id, file_id=f.id)
        assert att.file_id == f.id and att.filename == "材料.pdf"
    with pytest.raises(Conflict), world.uow_as(world.actors["a_member"]) as uow:
        cases.attach(uow=uow, case_id=c.id, file_id=f.id)
    # A file of another enterprise cannot be attached: it is not visible.
    with world.uow_as(world.actors["b_admin"]) as uow:
        foreign = files.store(uow=uow, data=b"secret", filename="b.txt")
    with pytest.raises(NotFound), world.uow_as(world.actors["a_member"]) as uow:
        cases.attach(uow=uow, case_id=c.id, file_id=foreign.id)
    with pytest.raises(Forbidden), world.uow_as(world.actors["a_member"]) as uow:
        cases.assign(uow=uow, case_id=c.id, user_id=world.users["reviewer"])
    with world.uow_as(world.actors["reviewer"]) as uow:
        out = cases.assign(
            uow=uow, case_id=c.id, department="审核二处", user_id=world.users["reviewer"]
        )
    assert out.assignee_org_id == world.orgs["OP"] and out.assignee_department == "审核二处"
    with pytest.raises(InvalidInput), world.uow_as(world.actors["reviewer"]) as uow:
        cases.assign(uow=uow, case_id=c.id)
    with pytest.raises(InvalidInput), world.uow_as(world.actors["reviewer"]) as uow:
        cases.assign(
            uow=uow, case_id=c.id, organization_id=world.orgs["B"], user_id=world.users["reviewer"]
        )
    with world.uow_as(world.actors["a_member"]) as uow:
        d = cases.get_case(uow=uow, case_id=c.id)
    assert [e.kind for e in d.events] == ["open", "comment", "attach", "assign"]
    assert [a.filename for a in d.attachments] == ["材料.pdf"]
    with world.system() as s:
        actions = {e.action for e in s.scalars(select(AuditEntry))}
    assert {"core.case.commented", "core.case.attached", "core.case.assigned"} <= actions


def test_list_filters(world: World) -> None:
    c1 = _open(world, world.uow_as, title="one")
    _open(world, world.uow_as, who="b_admin", org="B", title="two")
    with world.uow_as(world.actors["reviewer"]) as uow:
        cases.transition(uow=uow, case_id=c1.id, name="start_review")
        assert {c.title for c in cases.list_cases(uow=uow)} == {"one", "two"}
        assert [c.title for c in cases.list_cases(uow=uow, state="in_review")] == ["one"]
        assert [c.title for c in cases.list_cases(uow=uow, organization_id=world.orgs["B"])] == [
            "two"
        ]
        assert cases.list_cases(uow=uow, kind="other.kind") == []
        with pytest.raises(InvalidInput):
            cases.list_cases(uow=uow, limit=0)
    with world.uow_as(world.actors["a_member"]) as uow:
        assert [c.title for c in cases.list_cases(uow=uow)] == ["one"]


HOOK_CALLS: list[tuple[int, str]] = []


def on_done(*, uow: UnitOfWork, case: cases.CaseOut) -> None:
    """Record the call and write to the case's data inside the same unit of work."""
    HOOK_CALLS.append((case.id, case.state))
    cases.update_data(uow=uow, case_id=case.id, data={"hooked": True})
    if case.data.get("fail"):
        raise Conflict("core.case.bad_state", "hook refused")


TINY = CaseKind(
    name="test.tiny",
    title={"zh": "小", "en": "Tiny"},
    states={
        "open": State({"zh": "开", "en": "Open"}, sla_hours=1),
        "done": State({"zh": "完", "en": "Done"}, terminal=True),
    },
    initial="open",
    transitions=[
        Transition(
            "finish", ("open",), "done", ("member", "org_admin"), {"zh": "完成", "en": "Finish"}
        )
    ],
    hooks={"finish": f"{__name__}:on_done"},
)


@pytest.fixture
def tiny() -> Iterator[CaseKind]:
    cases.register_case_kind(TINY)
    HOOK_CALLS.clear()
    yield TINY
    cases.unregister_case_kind(TINY.name)


def test_hook_runs_in_same_unit_of_work(world: World, tiny: CaseKind) -> None:
    with world.uow_as(world.actors["a_member"]) as uow:
        ok = cases.open_case(uow=uow, kind=tiny.name, title="ok", organization_id=world.orgs["A"])
        bad = cases.open_case(
            uow=uow,
            kind=tiny.name,
            title="bad",
            organization_id=world.orgs["A"],
            data={"fail": True},
        )
    # A kind that is not declared manual is opened by services only, not by people directly.
    with pytest.raises(InvalidInput) as err, world.uow_as(world.actors["a_member"]) as uow:
        cases.open_case(
            uow=uow, kind=tiny.name, title="by hand", organization_id=world.orgs["A"], manual=True
        )
    assert err.value.key == "core.case.not_manual"
    with world.uow_as(world.actors["a_member"]) as uow:
        out = cases.transition(uow=uow, case_id=ok.id, name="finish")
    assert out.data == {"hooked": True} and out.state == "done"
    with pytest.raises(Conflict), world.uow_as(world.actors["a_member"]) as uow:
        cases.transition(uow=uow, case_id=bad.id, name="finish")
    assert [(ok.id, "done"), (bad.id, "done")] == HOOK_CALLS
    # The failing hook rolled back the whole step: state, history and ledger.
    with world.uow_as(world.actors["a_member"]) as uow:
        d = cases.get_case(uow=uow, case_id=bad.id)
    assert d.state == "open" and [e.kind for e in d.events] == ["open"]
    with world.system() as s:
        assert (
            s.scalars(select(AuditEntry).where(AuditEntry.subject == f"core_case:{bad.id}"))
            .all()[-1]
            .action
            == "core.case.opened"
        )


def test_kind_declaration_is_validated() -> None:
    st = {"a": State({"zh": "a", "en": "a"}), "z": State({"zh": "z", "en": "z"}, terminal=True)}
    with pytest.raises(ValueError, match="initial"):
        CaseKind(name="t.x", title={}, states=st, initial="q", transitions=[])
    with pytest.raises(ValueError, match="unknown state"):
        CaseKind(
            name="t.x",
            title={},
            states=st,
            initial="a",
            transitions=[Transition("go", ("a",), "nowhere", ("member",), {})],
        )
    with pytest.raises(ValueError, match="roles"):
        CaseKind(
            name="t.x",
            title={},
            states=st,
            initial="a",
            transitions=[Transition("go", ("a",), "z", ("wizard",), {})],
        )
    with pytest.raises(ValueError, match="duplicate"):
        CaseKind(
            name="t.x",
            title={},
            states=st,
            initial="a",
            transitions=[Transition("go", ("a",), "z", ("member",), {})] * 2,
        )
    with pytest.raises(ValueError, match="hook"):
        CaseKind(name="t.x", title={}, states=st, initial="a", transitions=[], hooks={"go": "m:f"})
    assert cases.kind_of("core.general") is cases.GENERAL
    assert "core.general" in cases.kind_names()


def test_effective_roles_ignore_submitter_roles_abroad() -> None:
    a = Actor(
        user_id=1,
        username="x",
        organization_id=5,
        org_kind="operator",
        roles=frozenset({"member", "reviewer"}),
    )
    assert cases.effective_roles(a, 5) == {"member", "reviewer"}
    assert cases.effective_roles(a, 6) == {"reviewer"}


def test_system_actor_may_act(world: World) -> None:
    c = _open(world, world.uow_as)
    with unit_of_work(SYSTEM, world.settings) as uow:
        out = cases.transition(uow=uow, case_id=c.id, name="withdraw")
    assert out.state == "withdrawn"


def test_claim_on_first_action(world: World) -> None:
    with world.uow_as(world.actors["regulator"]) as uow:
        c = cases.open_case(
            uow=uow,
            kind="core.general",
            title="督办件",
            organization_id=world.orgs["A"],
            assignee_org_id=world.orgs["REG"],
        )
        cases.assign(uow=uow, case_id=c.id, department="执法支队")
    # A regulator of the assignee organization takes it: the department stays.
    with world.uow_as(world.actors["regulator"]) as uow:
        out = cases.transition(uow=uow, case_id=c.id, name="start_review")
    assert (out.assignee_org_id, out.assignee_department, out.assignee_user_id) == (
        world.orgs["REG"],
        "执法支队",
        world.users["regulator"],
    )
    # Later actions by others do not steal the case.
    with world.uow_as(world.actors["reviewer"]) as uow:
        out = cases.transition(uow=uow, case_id=c.id, name="accept")
    assert out.assignee_user_id == world.users["regulator"]
    # A handler of another organization taking an unclaimed case brings it to that organization.
    with world.uow_as(world.actors["regulator"]) as uow:
        c2 = cases.open_case(
            uow=uow,
            kind="core.general",
            title="二",
            organization_id=world.orgs["A"],
            assignee_org_id=world.orgs["REG"],
        )
        cases.assign(uow=uow, case_id=c2.id, department="执法支队")
    with world.uow_as(world.actors["reviewer"]) as uow:
        out = cases.transition(uow=uow, case_id=c2.id, name="start_review")
    assert (out.assignee_org_id, out.assignee_department, out.assignee_user_id) == (
        world.orgs["OP"],
        None,
        world.users["reviewer"],
    )
    # The submitting organization acting does not claim anything.
    with world.uow_as(world.actors["a_member"]) as uow:
        c3 = cases.open_case(
            uow=uow, kind="core.general", title="三", organization_id=world.orgs["A"]
        )
        out = cases.transition(uow=uow, case_id=c3.id, name="withdraw")
    assert out.assignee_user_id is None


def test_check_declared_lists_problems() -> None:
    from mingyue.core.plugins import Enabler, registry

    core_apps = [e for e in registry().ordered() if e.core]
    assert cases.check_declared(core_apps) == []
    bad = Enabler(
        key="demo",
        title={"zh": "d", "en": "d"},
        case_kinds={
            "other.kind": "mingyue.core.cases:GENERAL",  # wrong namespace and name
            "demo.missing": "mingyue.core.nowhere:KIND",  # does not import
            "demo.notkind": "mingyue.core.cases:percentile",  # not a CaseKind
        },
    )
    problems = cases.check_declared([bad])
    assert len(problems) == 4, problems
    assert any("must start with 'demo'" in p for p in problems)
    assert any("declared as 'core.general'" in p for p in problems)
    assert any("does not load" in p for p in problems)
    assert any("is not a CaseKind" in p for p in problems)


def test_update_data_merges_and_records(world: World) -> None:
    c = _open(world, world.uow_as, data={"a": 1, "b": 2})
    with world.uow_as(world.actors["reviewer"]) as uow:
        out = cases.update_data(uow=uow, case_id=c.id, data={"b": None, "report_id": 9})
    assert out.data == {"a": 1, "report_id": 9}
    with pytest.raises(NotFound), world.uow_as(world.actors["b_admin"]) as uow:
        cases.update_data(uow=uow, case_id=c.id, data={"x": 1})
    with pytest.raises(InvalidInput), world.uow_as(world.actors["reviewer"]) as uow:
        cases.update_data(uow=uow, case_id=c.id, data={"x": "y" * 70000})
    with world.uow_as(world.actors["a_member"]) as uow:
        d = cases.get_case(uow=uow, case_id=c.id)
    assert d.events[-1].kind == "data" and d.events[-1].data == {"keys": ["b", "report_id"]}
    with world.system() as s:
        last = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.subject == f"core_case:{c.id}")
            .order_by(AuditEntry.seq.desc())
        ).first()
        assert last is not None and last.action == "core.case.updated"
        assert last.payload == {"set": {"b": None, "report_id": 9}}
