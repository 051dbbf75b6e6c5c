"""Table-driven tests of the supervision decision engine (行政处罚法 Arts. 28, 32, 33, 54).

Every rule fires at least once, and all 144 combinations of the facts are enumerated against the
invariants the law and the exemption list impose.
"""

from __future__ import annotations

import re
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from mingyue.enablers.supervision.engine import (
    DeadlineError,
    Decision,
    Facts,
    FactsError,
    deadline,
    decide,
    load_rulebook,
    read_facts,
    rules_version,
    working_days_between,
)
from mingyue.enablers.supervision.engine.citations import RULES_DIR, zh_number
from mingyue.sdk.errors import InvalidInput

APL = "行政处罚法"
A33_1, A33_2, A33_3 = f"{APL} Art. 33(1)", f"{APL} Art. 33(2)", f"{APL} Art. 33(3)"
A28, A54, A32_1 = f"{APL} Art. 28(1)", f"{APL} Art. 54", f"{APL} Art. 32(1)"
OBER55 = "优化营商环境条例 Art. 55"
LIST2, LIST3, LIST4 = "合规免责清单 Art. 2", "合规免责清单 Art. 3", "合规免责清单 Art. 4"
PP, NP, DI, RO = "penalty_procedure", "no_penalty", "discretionary", "rectification_ordered"
CITE = re.compile(r"^\S+ Art\. \d+(\(\d+\))*$")
CITE_ZH = re.compile(r"^\S+第[一二三四五六七八九十百零]+条(第[一二三四五六七八九十]+[款项])*$")


def facts(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "prohibited": False,
        "first_offence": True,
        "harm": "minor",
        "corrected": "in_time",
        "no_fault_evidence": False,
        "on_exemption_list": False,
    }
    base.update(kw)
    return base


# (facts overrides, decision, rule id, exact basis)
TABLE: list[tuple[dict[str, Any], str, str, list[str]]] = [
    ({"no_fault_evidence": True}, NP, "no_fault", [A33_2]),
    # 33(2) holds even where a prohibitive provision is broken and with serious harm, not corrected
    (
        {"no_fault_evidence": True, "prohibited": True, "harm": "serious", "corrected": "not_yet"},
        NP,
        "no_fault",
        [A33_2],
    ),
    ({"prohibited": True}, PP, "prohibited", [A28, A54]),
    ({"prohibited": True, "on_exemption_list": True}, PP, "prohibited_listed", [A28, A54, LIST3]),
    ({"corrected": "not_yet"}, RO, "rectify", [A28, OBER55]),
    (
        {"corrected": "not_yet", "harm": "none", "first_offence": False},
        RO,
        "rectify",
        [A28, OBER55],
    ),
    (
        {"corrected": "not_yet", "on_exemption_list": True},
        RO,
        "rectify_listed",
        [A28, LIST4, OBER55],
    ),
    ({"harm": "none"}, NP, "harmless", [A33_1]),
    ({"harm": "none", "first_offence": False}, NP, "harmless", [A33_1]),
    ({"harm": "none", "on_exemption_list": True}, NP, "harmless_listed", [A33_1, LIST2]),
    ({"on_exemption_list": True}, NP, "first_minor_listed", [A33_1, LIST2]),
    ({}, DI, "first_minor", [A33_1, OBER55]),
    ({"harm": "serious"}, PP, "serious_harm", [A28, A54]),
    ({"harm": "serious", "corrected": "not_yet"}, PP, "serious_harm", [A28, A54]),
    ({"harm": "serious", "on_exemption_list": True}, PP, "serious_harm", [A28, A54]),
    ({"corrected": "late"}, PP, "corrected_late", [A28, A54]),
    ({"corrected": "late", "harm": "none"}, PP, "corrected_late", [A28, A54]),
    ({"first_offence": False}, PP, "repeat_minor", [A28, A54]),
    ({"first_offence": False, "on_exemption_list": True}, PP, "repeat_minor", [A28, A54]),
]


@pytest.mark.parametrize(("overrides", "expected", "rule", "basis"), TABLE)
def test_table(overrides: dict[str, Any], expected: str, rule: str, basis: list[str]) -> None:
    d = decide(facts(**overrides))
    assert (d.decision, d.reason.rule_id, list(d.basis)) == (expected, rule, basis)


def test_every_rule_fires_in_the_table() -> None:
    fired = {rule for _, _, rule, _ in TABLE}
    assert fired == {r.id for r in load_rulebook().rules}


def _all() -> list[tuple[Facts, Decision]]:
    return [(f, decide(f)) for f in Facts.every()]


def test_there_are_144_combinations() -> None:
    combos = [f.to_dict() for f in Facts.every()]
    assert len(combos) == 144
    assert len({tuple(c.items()) for c in combos}) == 144


def test_invariants_over_all_144_combinations() -> None:
    for f, d in _all():
        ctx = f.to_dict()
        if f.no_fault_evidence:
            # Art. 33(2): no fault, no penalty — whatever the harm, correction, list or prohibition.
            assert d.decision == NP and A33_2 in d.basis, ctx
            continue
        if f.prohibited:
            assert d.decision == PP and A28 in d.basis and A54 in d.basis, ctx
            assert (LIST3 in d.basis) == f.on_exemption_list, ctx
            continue
        if f.harm == "serious":
            assert d.decision == PP and A28 in d.basis, ctx
            continue
        if f.corrected == "not_yet":
            assert d.decision == RO and A28 in d.basis, ctx
            assert (LIST4 in d.basis) == f.on_exemption_list, ctx
            continue
        if f.corrected == "late":
            assert d.decision == PP, ctx
            assert A32_1 in {b for n in d.notes for b in n.basis}, ctx
            continue
        # corrected in time, harm none or minor, no prohibition, no no-fault evidence
        if f.harm == "none":
            assert d.decision == NP and d.basis[0] == A33_1, ctx  # first offence not required
            assert (LIST2 in d.basis) == f.on_exemption_list, ctx
        elif f.first_offence:
            if f.on_exemption_list:
                assert d.decision == NP and list(d.basis) == [A33_1, LIST2], ctx
            else:
                assert d.decision == DI and A33_1 in d.basis, ctx
        else:
            assert d.decision == PP, ctx


def test_decision_shapes_over_all_144() -> None:
    for f, d in _all():
        ctx = f.to_dict()
        assert d.basis and all(CITE.match(b) for b in d.basis), (ctx, d.basis)
        assert len(d.basis_zh) == len(d.basis), ctx
        assert all(CITE_ZH.match(b) for b in d.basis_zh), (ctx, d.basis_zh)
        assert d.reason.inputs == f and d.reason.zh and d.reason.en, ctx
        out = d.to_dict()
        assert out["reason"]["inputs"] == ctx and out["reason"]["rule"] == d.reason.rule_id
        assert {"decision", "basis", "reason"} <= set(out)
        # a person decides only in the one case Art. 33(1) second sentence leaves open
        assert (d.decision == DI) == (
            not f.no_fault_evidence
            and not f.prohibited
            and f.first_offence
            and f.harm == "minor"
            and f.corrected == "in_time"
            and not f.on_exemption_list
        ), ctx
        notes = {n.id for n in d.notes}
        assert ("education" in notes) == (d.decision == NP), ctx  # Art. 33(3)
        if d.decision == NP:
            assert A33_3 in next(n for n in d.notes if n.id == "education").basis


def _swap(f: Facts, **kw: Any) -> Facts:
    return Facts.from_dict({**f.to_dict(), **kw})


LENIENCY = {PP: 0, RO: 1, DI: 2, NP: 3}


def test_the_list_and_a_timely_correction_never_make_it_worse() -> None:
    for f, d in _all():
        if not f.on_exemption_list:
            listed = decide(_swap(f, on_exemption_list=True))
            assert LENIENCY[listed.decision] >= LENIENCY[d.decision], f.to_dict()
        if f.corrected == "late":
            timely = decide(_swap(f, corrected="in_time"))
            assert LENIENCY[timely.decision] >= LENIENCY[d.decision], f.to_dict()
        if not f.no_fault_evidence:
            assert decide(_swap(f, no_fault_evidence=True)).decision == NP


def test_notes_explain_a_closed_tolerance_path() -> None:
    d = decide(facts(prohibited=True, harm="none"))
    assert "statutory_review_remains" in {n.id for n in d.notes}
    d = decide(facts(corrected="late", on_exemption_list=True))
    ids = {n.id for n in d.notes}
    assert {"mitigation_correction", "first_offence_factor", "list_conditions_unmet"} <= ids
    d = decide(facts(no_fault_evidence=True, corrected="not_yet"))
    assert {"other_law_prevails", "unlawful_state_must_end", "education"} <= {n.id for n in d.notes}


def test_zh_citations_for_the_console() -> None:
    d = decide(facts(harm="none", on_exemption_list=True))
    assert list(d.basis_zh) == ["行政处罚法第三十三条第一款", "合规免责清单第二条"]
    d = decide(facts(corrected="late"))
    assert "行政处罚法第三十二条第一项" in {b for n in d.notes for b in n.basis_zh}
    assert [zh_number(n) for n in (1, 10, 12, 20, 33, 54, 100, 105, 120)] == [
        "一", "十", "十二", "二十", "三十三", "五十四", "一百", "一百零五", "一百二十",
    ]  # fmt: skip


def test_rules_version() -> None:
    assert rules_version() == "2026.1"
    assert decide(facts()).to_dict()["rules_version"] == "2026.1"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "(root)"),
        ("x", "(root)"),
        ({k: v for k, v in facts().items() if k != "harm"}, "harm"),
        ({}, "prohibited"),
        ({**facts(), "severity": "low"}, "severity"),
        ({**facts(), "prohibited": 1}, "prohibited"),
        ({**facts(), "first_offence": "yes"}, "first_offence"),
        ({**facts(), "no_fault_evidence": None}, "no_fault_evidence"),
        ({**facts(), "on_exemption_list": 0}, "on_exemption_list"),
        ({**facts(), "harm": "moderate"}, "harm"),
        ({**facts(), "harm": 1}, "harm"),
        ({**facts(), "corrected": True}, "corrected"),
        ({**facts(), "corrected": "never"}, "corrected"),
    ],
)
def test_invalid_facts_name_the_field(data: Any, field: str) -> None:
    with pytest.raises(FactsError) as info:
        decide(data)
    exc = info.value
    assert exc.field == field and field in str(exc)
    assert isinstance(exc, InvalidInput) and exc.exit_code == 2 and exc.status == 422
    assert exc.key == "supervision.facts_invalid"


def test_read_facts(tmp_path: Path) -> None:
    good = tmp_path / "f.json"
    good.write_text('{"prohibited": false, "first_offence": true, "harm": "none", '
                    '"corrected": "in_time", "no_fault_evidence": false, '
                    '"on_exemption_list": false}', encoding="utf-8")  # fmt: skip
    assert decide(read_facts(good)).decision == NP
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    binary = tmp_path / "b.json"
    binary.write_bytes(b"\xff\xfe\x00")
    for path in (bad, binary, tmp_path / "missing.json", tmp_path):
        with pytest.raises(FactsError) as info:
            read_facts(path)
        assert info.value.field == "(file)"


def _copy_rules(tmp_path: Path) -> Path:
    out = tmp_path / "rules"
    shutil.copytree(RULES_DIR, out)
    return out


def test_loader_refuses_a_rule_that_can_never_fire(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    path = rules / "decision_rules.yaml"
    text = path.read_text(encoding="utf-8")
    shadow = (
        "  - id: shadowed\n    decision: no_penalty\n    when: {field: no_fault_evidence, eq: true}\n"
        "    basis:\n      - {instrument: apl, article: 33, paragraph: 2}\n"
        "    reason: {zh: 重复, en: duplicate}\n\n  - id: prohibited_listed\n"
    )
    path.write_text(text.replace("  - id: prohibited_listed\n", shadow, 1), encoding="utf-8")
    with pytest.raises(ValueError, match="never fire: shadowed"):
        load_rulebook(rules)


def test_loader_refuses_an_incomplete_table(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    path = rules / "decision_rules.yaml"
    text = path.read_text(encoding="utf-8")
    start, end = text.index("  - id: repeat_minor"), text.index("# Notes that accompany")
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    with pytest.raises(ValueError, match="no rule matches"):
        load_rulebook(rules)


def test_loader_refuses_unknown_fields_values_and_instruments(tmp_path: Path) -> None:
    for old, new, msg in [
        ("{field: harm, eq: serious}", "{field: harm, eq: grave}", "harm cannot be 'grave'"),
        ("{field: harm, eq: serious}", "{field: severity, eq: serious}", "unknown field"),
        ("decision: discretionary\n", "decision: warning\n", "unknown decision"),
        ("{instrument: apl, article: 33, paragraph: 2}", "{instrument: nope, article: 1}", "nope"),
    ]:
        rules = _copy_rules(tmp_path / msg.replace(" ", "_").replace("'", ""))
        path = rules / "decision_rules.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
        with pytest.raises(ValueError, match=msg):
            load_rulebook(rules)


# --- working-day deadlines ------------------------------------------------------------------


def weekdays(d: date) -> bool:
    return d.weekday() < 5


def test_deadline_skips_the_start_day_and_weekends() -> None:
    thu = date(2026, 1, 1)
    assert deadline(thu, 0, weekdays) == thu
    assert deadline(thu, 1, weekdays) == date(2026, 1, 2)
    assert deadline(thu, 2, weekdays) == date(2026, 1, 5)
    assert deadline(thu, 10, weekdays) == date(2026, 1, 15)
    assert working_days_between(thu, date(2026, 1, 15), weekdays) == 10
    assert working_days_between(thu, thu - timedelta(days=3), weekdays) == 0


def test_deadline_follows_the_calendar_it_is_given() -> None:
    holidays = {date(2026, 1, 2)}
    makeup = {date(2026, 1, 3)}  # a Saturday worked in exchange (调休)

    def cal(d: date) -> bool:
        return d in makeup or (weekdays(d) and d not in holidays)

    assert deadline(date(2026, 1, 1), 1, cal) == date(2026, 1, 3)
    assert deadline(date(2026, 1, 1), 2, cal) == date(2026, 1, 5)


def test_deadline_over_the_2026_spring_festival() -> None:
    cc = pytest.importorskip("chinese_calendar")
    # 2026-02-14 (Sat) is a make-up working day; 2026-02-15..23 are the holiday.
    assert deadline(date(2026, 2, 12), 3, cc.is_workday) == date(2026, 2, 24)


@pytest.mark.parametrize(("days", "field"), [(-1, "working_days"), (True, "working_days")])
def test_deadline_refuses_bad_counts(days: Any, field: str) -> None:
    with pytest.raises(DeadlineError) as info:
        deadline(date(2026, 1, 1), days, weekdays)
    assert info.value.field == field


def test_deadline_refuses_a_calendar_without_working_days() -> None:
    with pytest.raises(DeadlineError) as info:
        deadline(date(2026, 1, 1), 1, lambda d: False)
    assert info.value.field == "is_working_day"
