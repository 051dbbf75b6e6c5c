"""Published documents: the exemption list's versions and the sector guidelines' self-checks."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from mingyue.enablers.supervision.engine import (
    DocumentError,
    ExemptionList,
    Guideline,
    SelfCheckError,
    applicable_item,
    covers,
    decide,
    list_in_force,
    lists_from_documents,
    load_exemption_lists,
    load_guidelines,
    run_self_check,
)
from mingyue.sdk.errors import InvalidInput

ENABLER_RULES = (
    "appcheck.over_collection",
    "appcheck.sdk_undisclosed",
    "appcheck.permission_unnecessary",
    "crossborder.undeclared_endpoint",
    "crossborder.threshold_exceeded",
    "datasandbox.probing",
    "compute.policy_violation",
)


# --- the exemption list ---------------------------------------------------------------------


def test_two_versions_ship_oldest_first() -> None:
    lists = load_exemption_lists()
    assert [(x.version, x.effective) for x in lists] == [
        ("2026-01-01", date(2026, 1, 1)),
        ("2026-07-01", date(2026, 7, 1)),
    ]
    assert lists[1].supersedes == "2026-01-01" and lists[1].changes[0]["item"] == "4"
    for lst in lists:
        assert lst.title_zh and lst.title_en and lst.articles[1].number == 2
        for item in lst.items:
            assert item.condition_zh and item.condition_en and item.matter_zh and item.matter_en
            assert 1 <= item.max_correction_working_days <= 90


@pytest.mark.parametrize("rule_id", ENABLER_RULES)
def test_every_enabler_rule_is_covered(rule_id: str) -> None:
    for lst in load_exemption_lists():
        item = covers(lst, rule_id)
        assert item is not None and rule_id in item.rule_ids


def test_covers_unknown_rule_and_no_list() -> None:
    lst = load_exemption_lists()[0]
    assert covers(lst, "appcheck.something_else") is None
    assert covers(None, "appcheck.over_collection") is None


def test_list_in_force_by_date() -> None:
    lists = load_exemption_lists()
    assert list_in_force(lists, date(2025, 12, 31)) is None
    old = list_in_force(lists, date(2026, 6, 30))
    new = list_in_force(lists, date(2026, 7, 1))
    assert old is not None and old.version == "2026-01-01"
    assert new is not None and new.version == "2026-07-01"
    assert list_in_force(reversed(lists), date(2030, 1, 1)) is new


def test_the_changed_item_differs_and_old_findings_keep_the_old_list() -> None:
    old, new = load_exemption_lists()
    rid = "crossborder.undeclared_endpoint"
    old_item, new_item = covers(old, rid), covers(new, rid)
    assert old_item is not None and new_item is not None
    assert (old_item.max_correction_working_days, new_item.max_correction_working_days) == (10, 5)
    changed = [
        a.id for a, b in zip(old.items, new.items, strict=True) if a.to_dict() != b.to_dict()
    ]
    assert changed == ["4"]
    # found in June, decided in August: the stricter new version does not reach back
    got = applicable_item([old, new], rid, date(2026, 6, 10), date(2026, 8, 3))
    assert got is not None and got.list is old and got.item.max_correction_working_days == 10
    assert got.why == "in_force_when_occurred"
    got = applicable_item([old, new], rid, date(2026, 7, 2), date(2026, 8, 3))
    assert got is not None and got.list is new
    assert applicable_item([old, new], rid, date(2025, 6, 1), date(2025, 7, 1)) is None


def test_a_more_favourable_later_version_applies() -> None:
    old, new = (x.to_dict() for x in load_exemption_lists())
    new["items"][3]["max_correction_working_days"] = 15  # lighter than the old 10
    new["items"].append(
        {
            "id": "8",
            "rule_ids": ["appcheck.brand_new"],
            "matter": {"zh": "新增事项", "en": "A new matter"},
            "basis": ["个人信息保护法 Art. 6(2)"],
            "condition": {"zh": "首次", "en": "First"},
            "max_correction_working_days": 5,
        }
    )
    lists = lists_from_documents([new, old])
    got = applicable_item(
        lists, "crossborder.undeclared_endpoint", date(2026, 6, 1), date(2026, 8, 3)
    )
    assert got is not None and got.why == "more_favourable_at_decision"
    assert got.item.max_correction_working_days == 15
    got = applicable_item(lists, "appcheck.brand_new", date(2026, 6, 1), date(2026, 8, 3))
    assert got is not None and got.list.version == "2026-07-01"


def test_list_round_trips_and_drives_the_decision() -> None:
    for lst in load_exemption_lists():
        assert ExemptionList.from_dict(lst.to_dict()) == lst
    in_force = list_in_force(load_exemption_lists(), date(2026, 3, 1))
    on_list = covers(in_force, "appcheck.sdk_undisclosed") is not None
    d = decide(
        {
            "prohibited": False,
            "first_offence": True,
            "harm": "minor",
            "corrected": "in_time",
            "no_fault_evidence": False,
            "on_exemption_list": on_list,
        }
    )
    assert d.decision == "no_penalty" and "合规免责清单 Art. 2" in d.basis


def _broken(path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(load_exemption_lists()[0].to_dict())
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["kind"], "guideline", "kind"),
        (["effective"], "July", "effective"),
        (["items", 0, "max_correction_working_days"], 0, "items[0].max_correction_working_days"),
        (["items", 0, "max_correction_working_days"], "10", "items[0].max_correction_working_days"),
        (["items", 1, "rule_ids", 0], "Not A Rule", "items[1].rule_ids[0]"),
        (["items", 1, "rule_ids", 0], "appcheck.over_collection", "items[1].rule_ids"),
        (["items", 2, "condition"], {"zh": "首次"}, "items[2].condition.en"),
        (["items", 2, "matter"], KeyError, "items[2].matter"),
        (["articles", 1, "number"], 7, "articles"),
        (["title"], "清单", "title"),
    ],
)
def test_malformed_list_names_the_field(path: list[Any], value: Any, field: str) -> None:
    with pytest.raises(DocumentError) as info:
        ExemptionList.from_dict(_broken(path, value))
    assert info.value.field == field
    assert isinstance(info.value, InvalidInput)


def test_two_versions_on_one_day_are_refused() -> None:
    doc = load_exemption_lists()[0].to_dict()
    with pytest.raises(DocumentError, match="same day"):
        lists_from_documents([doc, {**doc, "version": "2026-01-01b"}])


# --- sector guidelines and self-checks ------------------------------------------------------


def guidelines() -> dict[str, Guideline]:
    return load_guidelines()


def answers(g: Guideline, verdict: str) -> dict[str, Any]:
    """Answer every question with the first option giving ``verdict`` (else the first option)."""
    out = {}
    for q in g.questions:
        opt = next((o for o in q.options if o.verdict == verdict), q.options[0])
        out[q.id] = opt.value
    return out


def test_two_guidelines_ship() -> None:
    gs = guidelines()
    assert set(gs) == {"app_personal_information", "cross_border_data"}
    for g in gs.values():
        assert g.title_zh and g.title_en and g.sections and len(g.questions) >= 5
        for q in g.questions:
            assert q.zh and q.en and g.clause(q.clause).basis
        assert Guideline.from_dict(g.to_dict()) == g


def test_guidelines_map_to_the_enabler_rules() -> None:
    rule_ids = {q.rule_id for g in guidelines().values() for q in g.questions}
    assert {
        "appcheck.over_collection",
        "appcheck.sdk_undisclosed",
        "appcheck.permission_unnecessary",
        "crossborder.undeclared_endpoint",
        "crossborder.threshold_exceeded",
    } <= rule_ids


@pytest.mark.parametrize("key", ["app_personal_information", "cross_border_data"])
def test_all_good_answers_score_100(key: str) -> None:
    g = guidelines()[key]
    r = run_self_check(g, answers(g, "pass"))
    assert r.score == 100 and r.risks == 0 and r.passed == len({q.rule_id for q in g.questions})
    assert all(x.verdict == "pass" for x in r.rules)


@pytest.mark.parametrize("key", ["app_personal_information", "cross_border_data"])
def test_all_bad_answers_score_0_and_cite_clauses(key: str) -> None:
    g = guidelines()[key]
    r = run_self_check(g, answers(g, "risk"))
    assert r.score == 0 and r.passed == 0
    for x in r.rules:
        assert x.verdict == "risk" and x.basis and x.clauses
        assert all(" Art. " in b or "〔" in b for b in x.basis)
    out = r.to_dict()
    assert out["rules"][0]["basis_zh"] and out["guideline"] == key


def test_one_risk_marks_its_rule_and_weights_the_score() -> None:
    g = guidelines()["cross_border_data"]
    a = answers(g, "pass")
    a["cb.flows_monitored"] = False  # weight 1, rule shared with cb.endpoints_known (weight 2)
    r = run_self_check(g, a)
    rule = next(x for x in r.rules if x.rule_id == "crossborder.undeclared_endpoint")
    assert rule.verdict == "risk" and rule.questions == ("cb.flows_monitored",)
    assert rule.basis == ("个人信息保护法 Art. 39", "个人信息保护法 Art. 51")
    total = sum(q.weight for q in g.questions)
    assert r.score == round(100 * (total - 1) / total)
    assert r.risks == 1


def test_not_applicable_answers_leave_the_score() -> None:
    g = guidelines()["app_personal_information"]
    a = answers(g, "pass")
    a["app.sdk_disclosure"] = "no_sdk"
    a["app.privacy_policy"] = False
    r = run_self_check(g, a)
    sdk = next(x for x in r.rules if x.rule_id == "appcheck.sdk_undisclosed")
    assert sdk.verdict == "not_applicable" and r.not_applicable == 1
    applicable = sum(q.weight for q in g.questions if q.id != "app.sdk_disclosure")
    assert r.score == round(100 * (applicable - 1) / applicable)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"app.unknown": True}, "app.unknown"),
        ({"app.privacy_policy": "yes"}, "app.privacy_policy"),
        ({"app.privacy_policy": 1}, "app.privacy_policy"),
        ({"app.permissions": "all"}, "app.permissions"),
        ({"app.permissions": True}, "app.permissions"),
        ({"app.rights": None}, "app.rights"),
    ],
)
def test_bad_answers_name_the_question(change: dict[str, Any], field: str) -> None:
    g = guidelines()["app_personal_information"]
    with pytest.raises(SelfCheckError) as info:
        run_self_check(g, {**answers(g, "pass"), **change})
    assert info.value.field == field and isinstance(info.value, InvalidInput)


def test_missing_answer_and_wrong_shape() -> None:
    g = guidelines()["app_personal_information"]
    a = answers(g, "pass")
    del a["app.consent_first"]
    with pytest.raises(SelfCheckError) as info:
        run_self_check(g, a)
    assert info.value.field == "app.consent_first" and "missing" in info.value.message
    with pytest.raises(SelfCheckError) as info:
        run_self_check(g, [True])  # type: ignore[arg-type]
    assert info.value.field == "answers"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["questions"][0].update(clause="9.9"), "questions[0].clause"),
        (lambda d: d["questions"][0].update(rule_id="bad"), "questions[0].rule_id"),
        (lambda d: d["questions"][0].update(kind="scale"), "questions[0].kind"),
        (
            lambda d: d["questions"][0]["options"][0].update(verdict="ok"),
            "questions[0].options[0].verdict",
        ),
        (
            lambda d: d["questions"][0]["options"][0].update(value="yes"),
            "questions[0].options[0].value",
        ),
        (lambda d: d["questions"][1].update(id="app.privacy_policy"), "questions"),
        (
            lambda d: d["sections"][0]["clauses"][0].update(basis_zh=[]),
            "sections[0].clauses[0].basis_zh",
        ),
    ],
)
def test_malformed_guideline_names_the_field(mutate: Any, field: str) -> None:
    doc = copy.deepcopy(guidelines()["app_personal_information"].to_dict())
    mutate(doc)
    with pytest.raises(DocumentError) as info:
        Guideline.from_dict(doc)
    assert info.value.field == field
