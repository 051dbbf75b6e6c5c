"""Findings (issue 15 §1): dedup, recurrence, observation, scoping, status, re-verification."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, select

from mingyue.core import clock, config, migrate, registries
from mingyue.core.db import dispose_engines, get_engine, system_session
from mingyue.core.declaration import Enabler, FindingRule
from mingyue.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from mingyue.core.files.store import store
from mingyue.core.findings import (
    EvidenceRef,
    FindingOut,
    finding_rules,
    get_finding,
    list_findings,
    observe_subject,
    prior_findings,
    raise_finding,
    request_reverification,
    set_finding_status,
)
from mingyue.core.findings import count_findings as count
from mingyue.core.ledger.audit import AuditEntry
from mingyue.core.plugins import Registry
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.tenancy.identity import Organization
from mingyue.core.uow import UnitOfWork, unit_of_work
from mingyue.devcheck.refs import check_findings

KEY = "tfind"
OVER = f"{KEY}.over_collection"
NOTICE = f"{KEY}.no_privacy_notice"
OTHER = "tother.thing"
T0 = datetime(2025, 9, 1, 2, 0, tzinfo=UTC)

RULE = FindingRule(
    title={"zh": "超范围收集个人信息", "en": "Collects more personal information than needed"},
    citation={"zh": "个人信息保护法 第六条", "en": "PIPL Art. 6"},
    severity="high",
    rectify_working_days=10,
)

calls: list[dict[str, Any]] = []


def reverify(*, uow: UnitOfWork, finding: FindingOut, evidence: list[EvidenceRef]) -> None:
    """A test verifier: records the call; for subject "app:fixed" the re-check finds nothing."""
    calls.append({"finding": finding, "evidence": evidence, "actor": uow.actor.label()})
    if finding.subject == "app:fixed":
        observe_subject(
            uow=uow,
            organization_id=finding.organization_id,
            enabler=finding.enabler,
            subject=finding.subject,
            present_rules=[],
            evidence=[EvidenceRef(kind=f"{KEY}.report", ref="99")],
        )


@pytest.fixture(autouse=True)
def declared() -> Iterator[None]:
    registries.register_finding_rule(OVER, KEY, RULE)
    registries.register_finding_rule(
        NOTICE,
        KEY,
        FindingRule(
            title={"zh": "未公示隐私政策", "en": "No privacy notice"},
            citation={"zh": "个人信息保护法 第十七条", "en": "PIPL Art. 17"},
        ),
    )
    registries.register_finding_rule(
        OTHER,
        "tother",
        FindingRule(title={"zh": "其他", "en": "Other"}, citation={"zh": "某法", "en": "Some law"}),
    )
    registries.register_finding_verifier(KEY, reverify)
    calls.clear()
    yield
    for name in (OVER, NOTICE, OTHER):
        registries.unregister_finding_rule(name)
    registries.unregister_finding_verifier(KEY)


@pytest.fixture
def sys_uow(settings: Any) -> Any:
    return lambda: unit_of_work(SYSTEM, settings)


def _raise(sys_uow: Any, org: int, rule: str = OVER, subject: str = "app:shop", **kw: Any) -> Any:
    with sys_uow() as uow:
        return raise_finding(uow=uow, organization_id=org, rule=rule, subject=subject, **kw)


def _actions(settings: Any, subject: str) -> list[str]:
    with system_session(settings, "test") as s:
        rows = s.scalars(
            select(AuditEntry.action).where(AuditEntry.subject == subject).order_by(AuditEntry.seq)
        ).all()
    return list(rows)


def _ev(ref: str) -> dict[str, Any]:
    return {"kind": f"{KEY}.report", "ref": ref, "path": f"/{KEY}/reports/{ref}"}


def test_raise_takes_the_declaration_and_dedups_repeat_sightings(
    settings: Any, tenants: Any, sys_uow: Any
) -> None:
    a = tenants.a.org.id
    with clock.frozen(T0):
        first = _raise(sys_uow, a, evidence=[_ev("1")], detail={"permissions": ["READ_CONTACTS"]})
    assert first.status == "open" and first.occurrences == 1 and first.previous_id is None
    assert first.enabler == KEY and first.severity == "high" and first.rectify_working_days == 10
    assert first.citation == {"zh": "个人信息保护法 第六条", "en": "PIPL Art. 6"}
    assert first.evidence[0].at == T0 and first.evidence[0].path == "/tfind/reports/1"
    with clock.frozen(T0 + timedelta(days=3)):
        again = _raise(sys_uow, a, evidence=[EvidenceRef(kind=f"{KEY}.report", ref="2")])
    assert again.id == first.id
    assert again.occurrences == 2 and again.last_seen == T0 + timedelta(days=3)
    assert again.first_seen == T0
    assert [e.ref for e in again.evidence] == ["1", "2"]
    assert again.detail == {"permissions": ["READ_CONTACTS"]}  # kept when not given again
    # A plain repeat sighting is counted, not audited.
    assert _actions(settings, f"core_finding:{first.id}") == ["core.finding.raised"]
    # Another subject or organization is another finding.
    assert _raise(sys_uow, a, subject="app:other").id != first.id
    assert _raise(sys_uow, tenants.b.org.id).id != first.id


def test_a_lost_race_to_raise_becomes_a_repeat_sighting(
    tenants: Any, sys_uow: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mingyue.core.findings import service

    first = _raise(sys_uow, tenants.a.org.id)
    real = service._active
    seen: list[str] = []

    def late(uow: UnitOfWork, key: str) -> Any:
        # The first look misses the row, as when another unit of work commits it meanwhile.
        seen.append(key)
        return None if len(seen) == 1 else real(uow, key)

    monkeypatch.setattr(service, "_active", late)
    again = _raise(sys_uow, tenants.a.org.id, evidence=[_ev("9")])
    assert len(seen) == 2
    assert again.id == first.id and again.occurrences == 2 and again.evidence[-1].ref == "9"


def test_evidence_is_bounded_newest_last(tenants: Any, sys_uow: Any) -> None:
    out = _raise(sys_uow, tenants.a.org.id, evidence=[_ev(str(i)) for i in range(15)])
    out = _raise(sys_uow, tenants.a.org.id, evidence=[_ev(str(i)) for i in range(15, 30)])
    assert [e.ref for e in out.evidence] == [str(i) for i in range(10, 30)]


def test_a_fixed_finding_reopens_when_seen_again(settings: Any, tenants: Any, sys_uow: Any) -> None:
    a = tenants.a.org.id
    f = _raise(sys_uow, a)
    with sys_uow() as uow:
        changed = observe_subject(
            uow=uow,
            organization_id=a,
            enabler=KEY,
            subject="app:shop",
            present_rules=[],
            evidence=[_ev("5")],
        )
    assert [c.id for c in changed] == [f.id]
    assert changed[0].status == "fixed" and changed[0].verification is not None
    assert changed[0].verification["state"] == "fixed"
    again = _raise(sys_uow, a)
    assert again.id == f.id and again.status == "open" and again.status_reason == "recurred"
    assert again.occurrences == 2
    assert _actions(settings, f"core_finding:{f.id}") == [
        "core.finding.raised",
        "core.finding.verified_fixed",
        "core.finding.recurred",
    ]


def test_a_closed_finding_is_history_and_a_new_sighting_links_to_it(
    tenants: Any, sys_uow: Any, uow_as: Any, actor_of: Any
) -> None:
    a = tenants.a.org.id
    f = _raise(sys_uow, a)
    regulator = actor_of(tenants.regulator.member)
    with uow_as(regulator) as uow:
        closed = set_finding_status(
            uow=uow, actor=regulator, finding_id=f.id, status="closed", reason="整改完成"
        )
    assert closed.status == "closed" and closed.status_reason == "整改完成"
    new = _raise(sys_uow, a)
    assert new.id != f.id and new.previous_id == f.id and new.occurrences == 1
    assert new.status == "open"
    # Dismissed is history too; the next sighting links to the latest terminal finding.
    with uow_as(regulator) as uow:
        set_finding_status(
            uow=uow, actor=regulator, finding_id=new.id, status="dismissed", reason="误报"
        )
    third = _raise(sys_uow, a)
    assert third.id not in (f.id, new.id) and third.previous_id == new.id


def test_observe_subject_marks_fixed_and_still_present(
    settings: Any, tenants: Any, sys_uow: Any
) -> None:
    a = tenants.a.org.id
    over = _raise(sys_uow, a)
    notice = _raise(sys_uow, a, rule=NOTICE)
    elsewhere = _raise(sys_uow, a, subject="app:other")
    foreign = _raise(sys_uow, a, rule=OTHER)  # another enabler's finding on the same subject

    def observe(present: list[str]) -> list[FindingOut]:
        with sys_uow() as uow:
            return observe_subject(
                uow=uow,
                organization_id=a,
                enabler=KEY,
                subject="app:shop",
                present_rules=present,
                evidence=[_ev("7")],
            )

    changed = {c.id: c for c in observe([OVER])}
    assert set(changed) == {over.id, notice.id}
    assert changed[over.id].status == "open"
    assert changed[over.id].verification["state"] == "still_present"  # type: ignore[index]
    assert changed[notice.id].status == "fixed"
    assert changed[notice.id].verification["evidence"][0]["ref"] == "7"  # type: ignore[index]
    assert observe([OVER]) == []  # nothing changed: nothing returned, nothing audited
    assert _actions(settings, f"core_finding:{over.id}") == [
        "core.finding.raised",
        "core.finding.still_present",
    ]
    with sys_uow() as uow:
        assert get_finding(uow=uow, actor=SYSTEM, finding_id=elsewhere.id).status == "open"
        assert get_finding(uow=uow, actor=SYSTEM, finding_id=foreign.id).status == "open"
    # A rule of another enabler cannot be reported present by this one.
    with pytest.raises(InvalidInput) as exc:
        observe([OTHER])
    assert exc.value.key == "core.finding.foreign_rule"


def test_a_partial_check_judges_only_the_rules_it_covers(
    settings: Any, tenants: Any, sys_uow: Any
) -> None:
    a = tenants.a.org.id
    over = _raise(sys_uow, a)
    notice = _raise(sys_uow, a, rule=NOTICE)  # raised by another kind of check of the subject
    with sys_uow() as uow:
        changed = observe_subject(
            uow=uow,
            organization_id=a,
            enabler=KEY,
            subject="app:shop",
            present_rules=[],
            evidence=[_ev("8")],
            checked_rules=[OVER],
        )
    assert [c.id for c in changed] == [over.id] and changed[0].status == "fixed"
    with sys_uow() as uow:
        assert get_finding(uow=uow, actor=SYSTEM, finding_id=notice.id).status == "open"


def test_scoping_enterprise_own_regulator_supervised(
    tenants: Any, sys_uow: Any, uow_as: Any, actor_of: Any
) -> None:
    fa = _raise(sys_uow, tenants.a.org.id)
    fb = _raise(sys_uow, tenants.b.org.id, rule=NOTICE)
    a_member = actor_of(tenants.a.member)
    b_member = actor_of(tenants.b.member)
    regulator = actor_of(tenants.regulator.member)
    with uow_as(a_member) as uow:
        assert [f.id for f in list_findings(uow=uow, actor=a_member)] == [fa.id]
        assert count(uow=uow, actor=a_member) == 1
        assert get_finding(uow=uow, actor=a_member, finding_id=fa.id).id == fa.id
        with pytest.raises(NotFound):
            get_finding(uow=uow, actor=a_member, finding_id=fb.id)
    with uow_as(b_member) as uow:
        assert list_findings(uow=uow, actor=b_member, organization_id=tenants.a.org.id) == []
        assert count(uow=uow, actor=b_member, organization_id=tenants.a.org.id) == 0
        with pytest.raises(NotFound) as exc:
            get_finding(uow=uow, actor=b_member, finding_id=fa.id)
        assert exc.value.key == "core.finding.not_found"
    # An enterprise actor inside a wider unit of work is still held to its own organization.
    with sys_uow() as uow:
        assert [f.id for f in list_findings(uow=uow, actor=b_member)] == [fb.id]
        with pytest.raises(NotFound):
            get_finding(uow=uow, actor=b_member, finding_id=fa.id)
    with uow_as(regulator) as uow:
        ids = {f.id for f in list_findings(uow=uow, actor=regulator)}
        assert ids == {fa.id, fb.id}
        assert count(uow=uow, actor=regulator, rule=NOTICE) == 1
        assert [f.id for f in list_findings(uow=uow, actor=regulator, severity="high")] == [fa.id]
        assert list_findings(uow=uow, actor=regulator, status=["closed", "dismissed"]) == []
        assert get_finding(uow=uow, actor=regulator, finding_id=fb.id).rule == NOTICE
        with pytest.raises(InvalidInput):
            list_findings(uow=uow, actor=regulator, status="solved")
        with pytest.raises(InvalidInput):
            list_findings(uow=uow, actor=regulator, limit=0)


def test_list_is_newest_first_and_paged(
    tenants: Any, sys_uow: Any, uow_as: Any, actor_of: Any
) -> None:
    a = tenants.a.org.id
    ids = []
    for i in range(3):
        with clock.frozen(T0 + timedelta(hours=i)):
            ids.append(_raise(sys_uow, a, subject=f"app:{i}").id)
    reg = actor_of(tenants.regulator.member)
    with uow_as(reg) as uow:
        assert [f.id for f in list_findings(uow=uow, actor=reg)] == ids[::-1]
        assert [f.id for f in list_findings(uow=uow, actor=reg, limit=1, offset=1)] == [ids[1]]


def test_set_status_needs_manage_and_a_terminal_finding_stays(
    settings: Any, tenants: Any, sys_uow: Any, uow_as: Any, actor_of: Any
) -> None:
    f = _raise(sys_uow, tenants.a.org.id)
    a_admin = actor_of(tenants.a.admin)
    b_admin = actor_of(tenants.b.admin)
    reviewer = actor_of(tenants.operator.member)
    regulator = actor_of(tenants.regulator.member)
    platform = actor_of(tenants.operator.admin)
    with uow_as(a_admin) as uow, pytest.raises(Forbidden):
        set_finding_status(uow=uow, actor=a_admin, finding_id=f.id, status="fixed", reason="ok")
    with uow_as(reviewer) as uow, pytest.raises(Forbidden):
        set_finding_status(uow=uow, actor=reviewer, finding_id=f.id, status="fixed", reason="ok")
    with uow_as(b_admin) as uow, pytest.raises(NotFound):
        set_finding_status(uow=uow, actor=b_admin, finding_id=f.id, status="fixed", reason="ok")
    with uow_as(regulator) as uow:
        out = set_finding_status(
            uow=uow, actor=regulator, finding_id=f.id, status="rectifying", reason="限期整改"
        )
    assert out.status == "rectifying"
    with uow_as(regulator) as uow, pytest.raises(InvalidInput) as exc:
        set_finding_status(uow=uow, actor=regulator, finding_id=f.id, status="dismissed", reason="")
    assert exc.value.key == "core.finding.reason_required"
    with uow_as(regulator) as uow, pytest.raises(InvalidInput):
        set_finding_status(uow=uow, actor=regulator, finding_id=f.id, status="gone", reason="x")
    with uow_as(platform) as uow:
        set_finding_status(uow=uow, actor=platform, finding_id=f.id, status="closed", reason="ok")
    for status in ("open", "closed", "dismissed"):
        with uow_as(regulator) as uow, pytest.raises(Conflict) as conflict:
            set_finding_status(uow=uow, actor=regulator, finding_id=f.id, status=status, reason="x")
        assert conflict.value.key == "core.finding.closed"
    assert _actions(settings, f"core_finding:{f.id}") == [
        "core.finding.raised",
        "core.finding.status_changed",
        "core.finding.status_changed",
    ]


def test_request_reverification_calls_the_verifier(
    settings: Any, tenants: Any, sys_uow: Any, uow_as: Any, actor_of: Any
) -> None:
    f = _raise(sys_uow, tenants.a.org.id)
    a_member = actor_of(tenants.a.member)
    with uow_as(a_member) as uow:
        stored = store(uow=uow, data=b"rectification report", filename="report.txt")
    proof = {
        "kind": "core.file",
        "ref": str(stored.id),
        "label": "整改报告",
        "sha256": stored.sha256,
    }
    with uow_as(a_member) as uow:
        out = request_reverification(uow=uow, actor=a_member, finding_id=f.id, evidence=[proof])
    assert out.verification is not None and out.verification["state"] == "pending"
    assert out.verification["evidence"][0]["ref"] == str(stored.id)
    assert out.status == "open"
    assert len(calls) == 1 and calls[0]["finding"].id == f.id
    assert calls[0]["evidence"][0].kind == "core.file" and calls[0]["evidence"][0].at is not None
    assert calls[0]["actor"] == f"user:{tenants.a.member.username}"
    assert "core.finding.reverify_requested" in _actions(settings, f"core_finding:{f.id}")
    # A verifier that re-checks at once (here: nothing found any more) marks it fixed.
    fixed = _raise(sys_uow, tenants.a.org.id, subject="app:fixed")
    with uow_as(a_member) as uow:
        done = request_reverification(uow=uow, actor=a_member, finding_id=fixed.id, evidence=[])
    assert done.status == "fixed" and done.verification["state"] == "fixed"  # type: ignore[index]
    # Another enterprise does not see it; a reviewer reads it but is neither its organization
    # nor a manager; the regulator manages it.
    b_member = actor_of(tenants.b.member)
    with uow_as(b_member) as uow, pytest.raises(NotFound):
        request_reverification(uow=uow, actor=b_member, finding_id=f.id, evidence=[])
    reviewer = actor_of(tenants.operator.member)
    with uow_as(reviewer) as uow, pytest.raises(Forbidden):
        request_reverification(uow=uow, actor=reviewer, finding_id=f.id, evidence=[])
    regulator = actor_of(tenants.regulator.member)
    with uow_as(regulator) as uow:
        request_reverification(uow=uow, actor=regulator, finding_id=f.id, evidence=[])
    assert len(calls) == 3


def test_request_reverification_refusals(
    tenants: Any, sys_uow: Any, uow_as: Any, actor_of: Any
) -> None:
    a_member = actor_of(tenants.a.member)
    regulator = actor_of(tenants.regulator.member)
    # Evidence must be the finding organization's own stored file: never another's upload, never
    # an id that does not exist (a verifier acts as the platform on what it is given).
    b_member = actor_of(tenants.b.member)
    with uow_as(b_member) as uow:
        foreign = store(uow=uow, data=b"b's private apk", filename="b.apk")
    mine = _raise(sys_uow, tenants.a.org.id, subject="app:evidence")
    for ref in (str(foreign.id), "999999", "not-a-number"):
        with uow_as(a_member) as uow, pytest.raises(InvalidInput) as bad:
            request_reverification(
                uow=uow,
                actor=a_member,
                finding_id=mine.id,
                evidence=[{"kind": "core.file", "ref": ref}],
            )
        assert bad.value.key == "core.finding.bad_evidence"
    other = _raise(sys_uow, tenants.a.org.id, rule=OTHER)  # "tother" declares no verifier
    with uow_as(a_member) as uow, pytest.raises(Conflict) as exc:
        request_reverification(uow=uow, actor=a_member, finding_id=other.id, evidence=[])
    assert exc.value.key == "core.finding.no_verifier"
    f = _raise(sys_uow, tenants.a.org.id)
    with uow_as(regulator) as uow:
        set_finding_status(uow=uow, actor=regulator, finding_id=f.id, status="closed", reason="ok")
    with uow_as(a_member) as uow, pytest.raises(Conflict) as exc:
        request_reverification(uow=uow, actor=a_member, finding_id=f.id, evidence=[])
    assert exc.value.key == "core.finding.closed"
    with uow_as(a_member) as uow:
        get = get_finding(uow=uow, actor=a_member, finding_id=f.id)
    assert get.verification is None
    assert calls == []


def test_prior_findings_counts_closed_and_active_not_dismissed(
    tenants: Any, sys_uow: Any, uow_as: Any, actor_of: Any
) -> None:
    a = tenants.a.org.id
    regulator = actor_of(tenants.regulator.member)
    with clock.frozen(T0):
        closed = _raise(sys_uow, a, subject="app:1")
        dismissed = _raise(sys_uow, a, subject="app:2")
        _raise(sys_uow, tenants.b.org.id, subject="app:1")  # another organization
        _raise(sys_uow, a, rule=NOTICE, subject="app:1")  # another rule
    with uow_as(regulator) as uow:
        set_finding_status(
            uow=uow, actor=regulator, finding_id=closed.id, status="closed", reason="ok"
        )
        set_finding_status(
            uow=uow, actor=regulator, finding_id=dismissed.id, status="dismissed", reason="误报"
        )
    with clock.frozen(T0 + timedelta(days=30)):
        active = _raise(sys_uow, a, subject="app:3")
    with clock.frozen(T0 + timedelta(days=60)):
        current = _raise(sys_uow, a, subject="app:4")
    with sys_uow() as uow:
        assert prior_findings(uow=uow, organization_id=a, rule=OVER, before=current.first_seen) == 2
        assert prior_findings(uow=uow, organization_id=a, rule=OVER, before=active.first_seen) == 1
        assert prior_findings(uow=uow, organization_id=a, rule=OVER, before=T0) == 0
        assert (
            prior_findings(uow=uow, organization_id=a, rule=NOTICE, before=current.last_seen) == 1
        )
        with pytest.raises(InvalidInput):
            prior_findings(uow=uow, organization_id=a, rule=OVER, before=datetime(2025, 1, 1))  # noqa: DTZ001


def test_bad_input_is_refused(tenants: Any, sys_uow: Any) -> None:
    a = tenants.a.org.id
    with pytest.raises(InvalidInput) as exc:
        _raise(sys_uow, a, rule="tfind.nonexistent")
    assert exc.value.key == "core.finding.unknown_rule"
    bad: list[tuple[dict[str, Any], str | None]] = [
        ({"subject": "  "}, "core.finding.bad_subject"),
        ({"subject": "x" * 301}, "core.finding.bad_subject"),
        ({"severity": "urgent"}, "core.finding.bad_severity"),
        ({"detail": {"x": float("nan")}}, "core.finding.bad_detail"),
        ({"evidence": [{"kind": "Report", "ref": "1"}]}, "core.finding.bad_evidence"),
        ({"evidence": [{"kind": "x.y", "ref": "1", "path": "//evil.example"}]}, None),
        ({"evidence": [{"kind": "x.y", "ref": "1", "path": "https://evil.example"}]}, None),
        ({"evidence": [{"kind": "x.y", "ref": "1", "extra": 1}]}, None),
        ({"evidence": [{"kind": "x.y", "ref": "1", "sha256": "nothex"}]}, None),
    ]
    for kw, key in bad:
        with pytest.raises(InvalidInput) as exc:
            _raise(sys_uow, a, **kw)
        assert exc.value.key == (key or "core.finding.bad_evidence"), kw
    with pytest.raises(NotFound):
        _raise(sys_uow, 999_999)
    # Nothing was written by the refused calls.
    with sys_uow() as uow:
        assert count(uow=uow, actor=SYSTEM) == 0


def test_an_enterprise_job_writes_only_for_its_organization(
    tenants: Any, uow_as: Any, actor_of: Any
) -> None:
    a_member = actor_of(tenants.a.member)
    with uow_as(a_member) as uow:
        mine = raise_finding(uow=uow, organization_id=tenants.a.org.id, rule=OVER, subject="s")
    assert mine.organization_id == tenants.a.org.id
    with uow_as(a_member) as uow, pytest.raises(Forbidden):
        raise_finding(uow=uow, organization_id=tenants.b.org.id, rule=OVER, subject="s")


def test_severity_override_and_rule_catalogue(tenants: Any, sys_uow: Any) -> None:
    out = _raise(sys_uow, tenants.a.org.id, rule=NOTICE, severity="critical")
    assert out.severity == "critical" and out.rectify_working_days == 15
    rules = finding_rules()
    assert rules[OVER] is RULE and NOTICE in rules


# -- declaration, discovery, dev check ----------------------------------------------------------


def test_a_declared_enabler_registers_its_rules_and_verifier() -> None:
    en = Enabler(
        key="tdecl",
        title={"zh": "测试", "en": "Test"},
        finding_rules={"tdecl.rule": RULE},
        finding_verifier=f"{__name__}:reverify",
    )
    try:
        Registry().add(en)
        assert registries.finding_rule("tdecl.rule") == ("tdecl", RULE)
        assert registries.finding_verifier("tdecl") == f"{__name__}:reverify"
        with pytest.raises(ValueError, match="duplicate finding rule"):
            Registry().add(en)
    finally:
        registries.unregister_finding_rule("tdecl.rule")
        registries.unregister_finding_verifier("tdecl")
    bad = Enabler(key="tdecl", title={"zh": "测试", "en": "Test"}, finding_rules={"x.rule": RULE})
    with pytest.raises(ValueError, match="must start with 'tdecl'"):
        Registry().add(bad)


def _wrong_verifier(uow: UnitOfWork, finding: FindingOut) -> None:
    """Positional and missing ``evidence``: not a FindingVerifier."""


def test_dev_check_reads_finding_rules_and_the_verifier() -> None:
    good = Enabler(
        key="tdecl",
        title={"zh": "测试", "en": "Test"},
        finding_rules={"tdecl.rule": RULE},
        finding_verifier=f"{__name__}:reverify",
    )
    assert check_findings(good) == []
    bad = Enabler(
        key="tdecl",
        title={"zh": "测试", "en": "Test"},
        finding_rules={
            "other.rule": RULE,
            "tdecl.no_en": FindingRule(title={"zh": "无"}, citation={"zh": "法", "en": "Law"}),
            "tdecl.no_cite": FindingRule(title={"zh": "无", "en": "None"}, citation={}),
            "tdecl.days": FindingRule(
                title={"zh": "无", "en": "None"},
                citation={"zh": "法", "en": "Law"},
                rectify_working_days=0,
            ),
        },
        finding_verifier=f"{__name__}:_wrong_verifier",
    )
    problems = check_findings(bad)
    assert "tdecl: finding rule other.rule: name must start with 'tdecl'." in problems
    assert "tdecl: finding rule tdecl.no_en: title lacks zh or en" in problems
    assert "tdecl: finding rule tdecl.no_cite: citation lacks zh or en" in problems
    assert any("tdecl.days: rectify_working_days" in p for p in problems)
    assert any("must take keyword-only uow=" in p for p in problems)
    assert any("must take keyword-only evidence=" in p for p in problems)
    missing = Enabler(
        key="tdecl",
        title={"zh": "测试", "en": "Test"},
        finding_verifier=f"{__name__}:nowhere",
    )
    assert any("does not resolve" in p for p in check_findings(missing))


# -- migration ----------------------------------------------------------------------------------


def test_the_migration_creates_the_table_and_its_active_key(tmp_path: Any) -> None:
    config.reset()
    s = config.configure(data_dir=tmp_path / "d", env="test")
    try:
        migrate.upgrade(s)
        assert migrate.up_to_date(s)
        insp = inspect(get_engine(s))
        assert "core_finding" in insp.get_table_names()
        uniques = insp.get_unique_constraints("core_finding")
        assert [u["column_names"] for u in uniques] == [["active_key"]]
        with system_session(s, "test") as session:
            org = Organization(name="e", kind="enterprise", is_sme=False, settings={})
            session.add(org)
            session.flush()
            org_id = org.id
        with unit_of_work(SYSTEM, s) as uow:
            first = raise_finding(uow=uow, organization_id=org_id, rule=OVER, subject="app:x")
        with unit_of_work(SYSTEM, s) as uow:
            again = raise_finding(uow=uow, organization_id=org_id, rule=OVER, subject="app:x")
            set_finding_status(
                uow=uow, actor=SYSTEM, finding_id=again.id, status="closed", reason="ok"
            )
        with unit_of_work(SYSTEM, s) as uow:
            new = raise_finding(uow=uow, organization_id=org_id, rule=OVER, subject="app:x")
        assert again.id == first.id and again.occurrences == 2
        assert new.previous_id == first.id
    finally:
        dispose_engines()
        config.reset()
