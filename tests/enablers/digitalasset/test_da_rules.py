"""The circulation rule pack: the 2022 initiative's six points and the holding period, each with
its id and citation; issuance and transfer facts judged as a platform would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from mingyue.enablers.digitalasset.engine import rules
from mingyue.sdk.errors import InvalidInput

NOW = datetime(2026, 6, 1, tzinfo=UTC)
OK = rules.Facts(
    stage="transfer",
    mode="sale",
    price=Decimal("99.00"),
    currency="CNY",
    seller_kyc=2,
    buyer_kyc=2,
    acquired_at=NOW - timedelta(days=200),
    at=NOW,
)


def _ids(facts: rules.Facts, **options: int) -> list[str]:
    return [b.rule.id for b in rules.evaluate(facts, options=options)]


def test_pack_cites_the_initiative() -> None:
    pack = rules.load_pack()
    assert pack.source["date"] == "2022-04-13"
    assert "中国互联网金融协会" in pack.source["issuers"]["zh"]
    ids = [r.id for r in pack.rules]
    assert ids == [*(f"CN-NFT-2022-{i}" for i in range(1, 7)), "SANDBOX-HOLD"]
    for i, rule in enumerate(pack.rules[:6], start=1):
        assert "关于防范NFT相关金融风险的倡议" in rule.citation["zh"]
        assert f"point {i}" in rule.citation["en"]


def test_a_clean_sale_passes() -> None:
    assert _ids(OK) == []
    assert _ids(rules.Facts(stage="transfer", mode="gift", seller_kyc=3, buyer_kyc=2)) == []


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"work_status": "submitted"}, "CN-NFT-2022-1"),
        ({"work_kind": "security"}, "CN-NFT-2022-1"),
        ({"quantity": Decimal("0.5")}, "CN-NFT-2022-2"),
        ({"quantity": Decimal(2)}, "CN-NFT-2022-2"),  # an ERC-721 token moves whole
        ({"mode": "auction"}, "CN-NFT-2022-3"),
        ({"mode": "order_book"}, "CN-NFT-2022-3"),
        ({"currency": "USDT"}, "CN-NFT-2022-4"),
        ({"currency": "ETH"}, "CN-NFT-2022-4"),
        ({"currency": None}, "CN-NFT-2022-4"),
        ({"price": Decimal("9.999")}, "CN-NFT-2022-4"),
        ({"buyer_kyc": None}, "CN-NFT-2022-5"),
        ({"buyer_kyc": 1}, "CN-NFT-2022-5"),
        ({"seller_kyc": None}, "CN-NFT-2022-5"),
        ({"purpose": "financing"}, "CN-NFT-2022-6"),
        ({"acquired_at": NOW - timedelta(days=179)}, "SANDBOX-HOLD"),
    ],
)
def test_each_rule_refuses_with_its_id(change: dict[str, object], rule: str) -> None:
    facts = rules.Facts(**{**OK.__dict__, **change})  # type: ignore[arg-type]
    breaches = rules.evaluate(facts)
    assert [b.rule.id for b in breaches] == [rule]
    doc = breaches[0].as_dict("zh")
    assert doc["rule"] == rule and doc["citation"] and doc["detail"]


def test_erc1155_whole_units_and_issue_stage() -> None:
    editions = rules.Facts(**{**OK.__dict__, "standard": "erc1155", "quantity": Decimal(3)})  # type: ignore[arg-type]
    assert _ids(editions) == []
    issue = rules.Facts(stage="issue", standard="erc1155", edition_cap=20000, issuer_kyc=3)
    assert _ids(issue) == ["CN-NFT-2022-2"]  # mass creation beyond the limit
    assert _ids(issue, max_edition=50000) == []
    assert _ids(rules.Facts(stage="issue", issuer_kyc=None)) == ["CN-NFT-2022-5"]
    assert _ids(rules.Facts(stage="issue", issuer_kyc=3, work_status="rejected")) == [
        "CN-NFT-2022-1"
    ]


def test_settings_override_holding_and_kyc() -> None:
    young = rules.Facts(**{**OK.__dict__, "acquired_at": NOW - timedelta(days=10)})  # type: ignore[arg-type]
    assert _ids(young) == ["SANDBOX-HOLD"]
    assert _ids(young, holding_days=7) == []
    assert _ids(young, holding_days=0) == []
    assert _ids(OK, min_kyc_level=3) == ["CN-NFT-2022-5"]
    # The issuer's own first distribution has no acquisition date: no holding period.
    assert _ids(rules.Facts(**{**OK.__dict__, "acquired_at": None})) == []  # type: ignore[arg-type]


def test_several_breaches_are_all_named_in_pack_order() -> None:
    bad = rules.Facts(**{**OK.__dict__, "currency": "BTC", "buyer_kyc": None, "mode": "auction"})  # type: ignore[arg-type]
    assert _ids(bad) == ["CN-NFT-2022-3", "CN-NFT-2022-4", "CN-NFT-2022-5"]


def test_a_bad_pack_is_refused() -> None:
    with pytest.raises(InvalidInput):
        rules.parse_pack(
            {
                "rules": [
                    {
                        "id": "X",
                        "check": "nope",
                        "applies": ["transfer"],
                        "title": {"zh": "x", "en": "x"},
                        "citation": {"zh": "x", "en": "x"},
                    }
                ]
            }
        )
    with pytest.raises(InvalidInput):
        rules.parse_pack(
            {
                "rules": [
                    {
                        "id": "X",
                        "check": "cny_only",
                        "applies": ["transfer"],
                        "title": {"zh": "x"},
                        "citation": {"zh": "x", "en": "x"},
                    }
                ]
            }
        )
    with pytest.raises(InvalidInput):
        rules.parse_pack({"rules": []})
