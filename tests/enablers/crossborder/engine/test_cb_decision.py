"""Table-driven tests of the cross-border decision engine (CAC 2024 Arts. 3-8, boundaries)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mingyue.enablers.crossborder.engine.decision import (
    Decision,
    Scenario,
    ScenarioError,
    assess,
    assess_file,
    load_rulebook,
)

P24 = "促进和规范数据跨境流动规定"
A22 = "数据出境安全评估办法"
C23 = "个人信息出境标准合同办法"
PIPL = "个人信息保护法"
SA, SC, EX = "security_assessment", "standard_contract_or_certification", "exempt"


def sc(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "ciio": False,
        "important_data": False,
        "pi_individuals": 0,
        "sensitive_pi_individuals": 0,
        "purpose": "other",
        "ftz_negative_list": None,
    }
    base.update(kw)
    return base


# (scenario overrides, expected path, a citation that must lead the basis)
TABLE = [
    # Art. 6: FTZ data outside the negative list
    (
        {
            "ftz_negative_list": False,
            "ciio": True,
            "important_data": True,
            "pi_individuals": 5_000_000,
        },
        EX,
        f"{P24} Art. 6",
    ),
    ({"ftz_negative_list": True, "pi_individuals": 50}, EX, f"{P24} Art. 5(4)"),
    # Art. 3: no PI, no important data
    ({"purpose": "no_personal_information"}, EX, f"{P24} Art. 3"),
    ({"purpose": "no_personal_information", "ciio": True}, EX, f"{P24} Art. 3"),
    ({"purpose": "no_personal_information", "important_data": True}, SA, f"{P24} Art. 7(2)"),
    # Art. 4: collected abroad, processed here, returned
    (
        {
            "purpose": "foreign_collected_returned",
            "pi_individuals": 2_000_000,
            "sensitive_pi_individuals": 50_000,
        },
        EX,
        f"{P24} Art. 4",
    ),
    ({"purpose": "foreign_collected_returned", "important_data": True}, SA, f"{P24} Art. 7(2)"),
    # Art. 7: important data
    ({"important_data": True}, SA, f"{P24} Art. 7(2)"),
    ({"important_data": True, "ciio": True}, SA, f"{P24} Art. 7(1)"),
    (
        {"important_data": True, "purpose": "contract_with_individual", "pi_individuals": 10},
        SA,
        f"{P24} Art. 7(2)",
    ),
    # Art. 5(1)-(3): necessity exemptions, also for CIIOs and sensitive PI, any volume
    (
        {
            "purpose": "contract_with_individual",
            "pi_individuals": 3_000_000,
            "sensitive_pi_individuals": 20_000,
        },
        EX,
        f"{P24} Art. 5(1)",
    ),
    (
        {"purpose": "contract_with_individual", "ciio": True, "pi_individuals": 10},
        EX,
        f"{P24} Art. 5(1)",
    ),
    (
        {"purpose": "hr_management", "pi_individuals": 200_000, "sensitive_pi_individuals": 15_000},
        EX,
        f"{P24} Art. 5(2)",
    ),
    ({"purpose": "emergency", "ciio": True, "sensitive_pi_individuals": 1}, EX, f"{P24} Art. 5(3)"),
    # Art. 7(1): CIIO, any PI
    ({"ciio": True, "pi_individuals": 1}, SA, f"{P24} Art. 7(1)"),
    ({"ciio": True, "sensitive_pi_individuals": 1}, SA, f"{P24} Art. 7(1)"),
    ({"ciio": True}, EX, f"{P24} Art. 7"),
    # non-sensitive volume boundaries
    ({"pi_individuals": 0}, EX, f"{P24} Art. 7"),
    ({"pi_individuals": 1}, EX, f"{P24} Art. 5(4)"),
    ({"pi_individuals": 99_999}, EX, f"{P24} Art. 5(4)"),
    ({"pi_individuals": 100_000}, SC, f"{P24} Art. 8"),
    ({"pi_individuals": 999_999}, SC, f"{P24} Art. 8"),
    ({"pi_individuals": 1_000_000}, SA, f"{P24} Art. 7(2)"),
    # sensitive boundaries
    ({"sensitive_pi_individuals": 1}, SC, f"{P24} Art. 8"),
    ({"pi_individuals": 50, "sensitive_pi_individuals": 9_999}, SC, f"{P24} Art. 8"),
    ({"sensitive_pi_individuals": 10_000}, SA, f"{P24} Art. 7(2)"),
    ({"pi_individuals": 99_999, "sensitive_pi_individuals": 9_999}, SC, f"{P24} Art. 8"),
    ({"pi_individuals": 999_999, "sensitive_pi_individuals": 10_000}, SA, f"{P24} Art. 7(2)"),
]


@pytest.mark.parametrize(("overrides", "path", "lead"), TABLE)
def test_decision_table(overrides: dict[str, object], path: str, lead: str) -> None:
    decision = assess(sc(**overrides))
    assert decision.path == path
    assert decision.basis[0] == lead
    out = decision.to_dict()
    assert set(out) >= {"path", "basis", "obligations"}
    json.dumps(out, ensure_ascii=False)


def test_later_instrument_governs_and_says_so() -> None:
    # 2022 Art. 4(3): 100,000 individuals -> assessment; 2024 Art. 8 -> standard contract.
    d = assess(sc(pi_individuals=150_000))
    assert d.path == SC
    assert f"{P24} Art. 13" in d.basis
    assert any(f"{A22} Art. 4(3)" in n["en"] and "governs" in n["en"] for n in d.notes)
    # 2023 Art. 4 small volume -> standard contract; 2024 Art. 5(4) -> exempt.
    d = assess(sc(pi_individuals=10))
    assert d.path == EX and f"{P24} Art. 13" in d.basis
    assert any(C23 in n["zh"] for n in d.notes)
    # Where both agree, nothing is said.
    d = assess(sc(sensitive_pi_individuals=20_000))
    assert d.path == SA and not d.notes and f"{P24} Art. 13" not in d.basis


def test_obligations_follow_the_path() -> None:
    def ids(d: Decision) -> set[str]:
        return {o.id for o in d.obligations}

    sa = assess(sc(pi_individuals=1_000_000))
    assert {
        "inform_and_separate_consent",
        "pipia",
        "self_assessment_and_declaration",
        "assessment_validity",
    } <= ids(sa)
    assert "standard_contract_filing" not in ids(sa)
    pipia = next(o for o in sa.obligations if o.id == "pipia")
    assert f"{PIPL} Art. 56" in pipia.basis
    scf = assess(sc(sensitive_pi_individuals=5))
    assert {"standard_contract_filing", "sensitive_pi_rules", "pipia"} <= ids(scf)
    ex = assess(sc(purpose="contract_with_individual", pi_individuals=5))
    assert "inform_and_separate_consent" in ids(ex)  # exemption from filing is not from consent
    nopi = assess(sc(purpose="no_personal_information"))
    assert ids(nopi) == {"data_security_duty"}
    assert "ciio_local_storage" in ids(assess(sc(ciio=True, pi_individuals=3)))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({k: v for k, v in sc().items() if k != "ciio"}, "ciio"),
        ({k: v for k, v in sc().items() if k != "purpose"}, "purpose"),
        (sc(pi_individuals=-1), "pi_individuals"),
        (sc(sensitive_pi_individuals=-5), "sensitive_pi_individuals"),
        (sc(pi_individuals=1.5), "pi_individuals"),
        (sc(pi_individuals=True), "pi_individuals"),
        (sc(purpose="marketing"), "purpose"),
        (sc(ciio="yes"), "ciio"),
        (sc(ftz_negative_list="no"), "ftz_negative_list"),
        (sc(extra=1), "extra"),
        (sc(purpose="no_personal_information", pi_individuals=3), "purpose"),
        ([], "(root)"),
    ],
)
def test_invalid_input_names_the_field(data: object, field: str) -> None:
    with pytest.raises(ScenarioError) as info:
        Scenario.from_dict(data)
    assert info.value.field == field
    assert str(info.value).startswith(field)


def test_ftz_is_optional() -> None:
    data = sc(pi_individuals=200_000)
    del data["ftz_negative_list"]
    assert assess(data).path == SC


def test_assess_file(tmp_path: Path) -> None:
    f = tmp_path / "s.json"
    f.write_text(json.dumps(sc(sensitive_pi_individuals=10_000)), encoding="utf-8")
    assert assess_file(f).path == SA
    f.write_bytes(b"\xff\xfe{")
    with pytest.raises(ScenarioError):
        assess_file(f)


def test_every_rule_is_reachable_and_cited() -> None:
    book = load_rulebook()
    hit = {assess(sc(**o)).rule_id for o, _, _ in TABLE}
    assert hit == {r["id"] for r in book.rules}
    for inst in book.instruments.values():
        assert inst["effective"]
