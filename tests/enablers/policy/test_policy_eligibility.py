"""Eligibility engine: GB/T 4754-2017 codes, the 2017 size classes, rules as data, verdicts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from mingyue.enablers.policy.engine.eligibility import (
    Profile,
    load_rulebook,
    match,
    match_all,
)
from mingyue.enablers.policy.engine.industry import parse_industry, size_class
from mingyue.enablers.policy.engine.ingest import parse_document
from mingyue.enablers.policy.schemas_service import (
    ENGINE_LISTS,
    Listing,
    Qualification,
    Sector,
    SizeClass,
)

PKG = Path(__file__).resolve().parents[3] / "src" / "mingyue" / "enablers" / "policy"
RULES = PKG / "rules" / "measures.yaml"
TODAY = date(2024, 6, 1)


def _p(**kw: object) -> Profile:
    base: dict[str, object] = {
        "organization_id": 1,
        "name": "t",
        "industry_code": "I6513",
        "park": "明月湖",
        "district": "两江新区",
        "headcount": 45,
        "revenue": Decimal(3000),
        "rd_spend": Decimal(400),
        "qualifications": frozenset({"hnte"}),
        "listing": "none",
    }
    base.update(kw)
    return Profile(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "canonical"),
    [("I6513", "I6513"), ("6513", "I6513"), (" i65 ", "I65"), ("C", "C"), ("0511", "A0511")],
)
def test_industry_codes_are_read_as_people_write_them(code: str, canonical: str) -> None:
    assert parse_industry(code).code == canonical


@pytest.mark.parametrize("code", ["I13", "Z1", "", "65139", "X", "99"])
def test_bad_industry_codes_are_refused(code: str) -> None:
    with pytest.raises(ValueError):
        parse_industry(code)


@pytest.mark.parametrize(
    ("code", "x", "y", "z", "want"),
    [
        # 软件和信息技术服务业: X≥300 & Y≥10000 large; X≥100 & Y≥1000 medium; X≥10 & Y≥50 small
        ("I6513", 300, 10000, None, "large"),
        ("I6513", 299, 50000, None, "medium"),
        ("I6513", 45, 3000, None, "small"),
        ("I6513", 9, 3000, None, "micro"),  # micro: one figure under the small bound suffices
        # 工业: X≥1000 & Y≥40000; X≥300 & Y≥2000; X≥20 & Y≥300
        ("C3971", 1000, 40000, None, "large"),
        ("C3971", 999, 40000, None, "medium"),
        ("C3971", 20, 299, None, "micro"),
        # 建筑业 reads revenue and assets, not headcount
        ("E4710", 5, 6000, 5000, "medium"),
        ("E4710", 5000, 6000, 4999, "small"),
        # 零售业 F52 and 批发业 F51 differ
        ("F5211", 60, 600, None, "medium"),
        ("F5110", 60, 600, None, "micro"),
        # 交通运输业 excludes 铁路 (53): it falls to 其他未列明行业 (headcount only)
        ("G5310", 150, None, None, "medium"),
        ("G5411", 150, 2000, None, "small"),
        # 租赁和商务服务业 reads assets
        ("L7211", 150, None, 9000, "medium"),
        ("M7320", 9, None, None, "micro"),
    ],
)
def test_size_classes_follow_the_2017_rules(
    code: str, x: int | None, y: int | None, z: int | None, want: str
) -> None:
    got = size_class(
        parse_industry(code),
        headcount=x,
        revenue=Decimal(y) if y is not None else None,
        assets=Decimal(z) if z is not None else None,
    )
    assert got == want


def test_a_missing_figure_leaves_the_class_unknown_unless_micro_is_certain() -> None:
    ind = parse_industry("I6513")
    assert size_class(ind, headcount=150, revenue=None) is None
    assert size_class(ind, headcount=5, revenue=None) == "micro"


def test_the_shipped_rules_cite_clauses_of_the_seed_document() -> None:
    book = load_rulebook(RULES)
    assert len(book.measures) >= 6 and len(book.sha256) == 64
    doc = parse_document((PKG / "corpus" / "liangjiang-mingyue-measures-2023.txt").read_bytes())
    paths = {c.path for c in doc.clauses}
    for m in book.measures:
        assert m.clause == f"liangjiang-mingyue-measures-2023@1#{m.clause_path}"
        assert m.clause_path in paths, m.key
        assert m.title["zh"] and m.title["en"] and m.benefit["zh"] and m.benefit["en"]
    assert {m.key for m in book.measures if m.no_application} >= {
        "free-compute-pool",
        "listing-reward",
    }


def test_the_api_literals_repeat_the_engine_lists() -> None:
    for name, literal in [
        ("qualifications", Qualification),
        ("sectors", Sector),
        ("listing", Listing),
        ("size_class", SizeClass),
    ]:
        assert set(literal.__args__) == set(ENGINE_LISTS[name])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("fact: colour\n        op: eq\n        value: red", "unknown fact"),
        ("fact: headcount\n        op: any_of\n        value: [1]", "does not apply"),
        ("fact: headcount\n        op: gte\n        value: many", "compares with a number"),
        ("fact: qualifications\n        op: any_of\n        value: [nobel]", "qualification"),
        ("fact: industry\n        op: under\n        value: [I13]", "belongs to section"),
    ],
)
def test_a_bad_rule_is_refused_with_its_measure(tmp_path: Path, snippet: str, message: str) -> None:
    f = tmp_path / "m.yaml"
    f.write_text(
        "source: {document: d, version: '1'}\nmeasures:\n  - key: k1\n    clause: 一\n"
        "    title: {zh: 甲, en: A}\n    benefit: {zh: 甲, en: A}\n    conditions:\n"
        f"      - id: c\n        label: {{zh: 条件, en: C}}\n        {snippet}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=message) as exc:
        load_rulebook(f)
    assert "k1" in str(exc.value)


def test_a_measure_without_clause_or_conditions_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text(
        "source: {document: d, version: '1'}\nmeasures:\n  - key: k1\n"
        "    title: {zh: 甲, en: A}\n    benefit: {zh: 甲, en: A}\n    conditions: []\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="cite the clause"):
        load_rulebook(f)


def test_verdicts_and_reasons() -> None:
    book = load_rulebook(RULES)
    compute = book.get("free-compute-pool")
    assert compute is not None
    m = match(compute, _p(), TODAY)
    assert m.verdict == "eligible" and [c.status for c in m.checks] == ["met"] * 3
    # a large firm misses the SME condition, and says so
    big = match(compute, _p(headcount=400, revenue=Decimal(20000)), TODAY)
    assert big.verdict == "missing" and [c.id for c in big.missing] == ["sme"]
    assert big.missing[0].label["zh"].startswith("中小企业")
    # an unknown fact (no area given) makes it "likely", with what to confirm
    unsure = match(compute, _p(park=None), TODAY)
    assert unsure.verdict == "likely" and [c.id for c in unsure.to_confirm] == ["in_park"]
    # "any" group: R&D spend alone makes an innovation entity
    rd_only = match(compute, _p(qualifications=frozenset()), TODAY)
    assert rd_only.verdict == "eligible"
    neither = match(compute, _p(qualifications=frozenset(), rd_spend=Decimal(0)), TODAY)
    assert [c.id for c in neither.missing] == ["innovator"]


def test_judgements_are_left_to_the_department() -> None:
    book = load_rulebook(RULES)
    shop = book.get("commercial-gap-subsidy")
    assert shop is not None
    new_cafe = _p(industry_code="H6241", established=date(2023, 9, 1))
    m = match(shop, new_cafe, TODAY)
    assert m.verdict == "likely"
    assert [c.id for c in m.to_confirm] == ["fills_gap"]
    old = match(shop, _p(industry_code="H6241", established=date(2015, 1, 1)), TODAY)
    assert [c.id for c in old.missing] == ["new"]


def test_match_all_puts_eligible_first() -> None:
    book = load_rulebook(RULES)
    out = match_all(book.measures, _p(listing="neeq"), TODAY)
    verdicts = [m.verdict for m in out]
    assert verdicts == sorted(verdicts, key=["eligible", "likely", "missing"].index)
    assert {m.measure for m in out if m.verdict == "eligible"} >= {
        "free-compute-pool",
        "listing-reward",
    }
