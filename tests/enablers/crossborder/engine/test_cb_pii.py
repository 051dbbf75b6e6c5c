"""Tests of the Chinese PII detector: check digits, guards, overlaps, sensitivity, offsets."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from mingyue.enablers.crossborder.engine.checksums import (
    id_check_char,
    id_valid,
    luhn_complete,
    luhn_valid,
    org_code_valid,
    uscc_check_char,
    uscc_valid,
)
from mingyue.enablers.crossborder.engine.pii import PiiDetector, count_types, value_hash

TODAY = dt.date(2026, 1, 1)
ID = "11010519491231002X"  # the GB 11643-1999 worked example
CARD = luhn_complete("622202123456789012")  # UnionPay 19 digits


@pytest.fixture
def det() -> PiiDetector:
    return PiiDetector(today=TODAY)


def types(det: PiiDetector, text: str) -> list[tuple[str, str]]:
    return [(e.type, text[e.start : e.end]) for e in det.detect(text)]


def test_checksums() -> None:
    assert id_check_char(ID[:17]) == "X" and id_valid(ID, TODAY)
    assert not id_valid(ID[:17] + "1", TODAY)
    assert not id_valid("110105" + "20270101" + "0011", TODAY)  # birth date in the future
    assert not id_valid("990105194912310021", TODAY)  # no such province
    assert uscc_check_char("91350100M000100Y4") == "3" and uscc_valid("91350100M000100Y43")
    assert not uscc_valid("91350100M000100Y44")
    assert not uscc_valid("I1350100M000100Y43")  # I is not in the GB 32100 character set
    assert org_code_valid("M000100Y4") and not org_code_valid("M000100Y5")
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert luhn_valid(CARD)


def test_resident_id_and_id_like(det: PiiDetector) -> None:
    # No \b: Chinese characters on both sides must not hide the number.
    assert types(det, f"身份证号{ID}已登记") == [("CN_RESIDENT_ID", ID)]
    bad = ID[:17] + "5"
    hits = det.detect(f"证件{bad}。")
    assert [(h.type, h.score < 1, h.sensitive) for h in hits] == [
        ("CN_RESIDENT_ID_LIKE", True, True)
    ]
    # Letters or digits glued on either side: not an identifier.
    assert types(det, f"A{ID}") == [] and types(det, f"{ID}9") == []
    # Lower-case x check character is accepted.
    assert types(det, f"号码{ID.lower()}") == [("CN_RESIDENT_ID", ID.lower())]


def test_mobile(det: PiiDetector) -> None:
    assert types(det, "电话13800138000，") == [("CN_MOBILE", "13800138000")]
    assert types(det, "请拨 +86 138-0013-8000 或0086 13912345678") == [
        ("CN_MOBILE", "+86 138-0013-8000"),
        ("CN_MOBILE", "0086 13912345678"),
    ]
    assert types(det, "编号12800138000") == []  # 128 is not a mobile segment
    assert types(det, "编号138001380001") == []  # 12 digits


def test_bank_card_needs_prefix_or_context(det: PiiDetector) -> None:
    assert types(det, f"银行卡号{CARD}") == [("BANK_CARD", CARD)]
    spaced = " ".join(CARD[i : i + 4] for i in range(0, 19, 4))
    assert types(det, f"卡号：{spaced}") == [("BANK_CARD", spaced)]
    # A Luhn-valid number with no known prefix and no context word is an order number.
    order = luhn_complete("98765432109876543")
    assert types(det, f"订单{order}") == []
    assert types(det, f"付款账号{order}")[0][0] == "BANK_CARD"
    bad = CARD[:-1] + str((int(CARD[-1]) + 1) % 10)
    assert types(det, f"卡号{bad}") == []


def test_codes_plates_documents(det: PiiDetector) -> None:
    assert types(det, "统一社会信用代码91350100M000100Y43。") == [("CN_USCC", "91350100M000100Y43")]
    assert types(det, "护照号E12345678") == [("CN_PASSPORT", "E12345678")]
    assert types(det, "港澳通行证C12345678") == [("HK_MACAU_PERMIT", "C12345678")]
    assert types(det, "车牌京A12345停在") == [("CN_LICENSE_PLATE", "京A12345")]
    assert types(det, "新能源粤BD12345和沪A12345F") == [
        ("CN_LICENSE_PLATE", "粤BD12345"),
        ("CN_LICENSE_PLATE", "沪A12345F"),
    ]
    assert types(det, "车牌赣T-07439") == [("CN_LICENSE_PLATE", "赣T-07439")]
    assert types(det, "京A12345678") == []  # too long for a plate


def test_email_and_ip(det: PiiDetector) -> None:
    assert types(det, "邮箱zhang.san@example.com.cn联系") == [("EMAIL", "zhang.san@example.com.cn")]
    assert types(det, "来源10.0.0.1和2001:db8::1以及::1") == [
        ("IP_ADDRESS", "10.0.0.1"),
        ("IP_ADDRESS", "2001:db8::1"),
        ("IP_ADDRESS", "::1"),
    ]
    assert types(det, "版本1.2.3.4.5 时间12:30:45 地址300.1.1.1") == []


def test_offsets_are_character_offsets_and_one_type_per_span(det: PiiDetector) -> None:
    text = f"张三，身份证{ID}，手机13800138000，邮箱a@b.cn，卡号{CARD}"
    ents = det.detect(text)
    for e in ents:
        assert text[e.start : e.end] == e.text
    spans = sorted((e.start, e.end) for e in ents)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert count_types(ents) == {"CN_RESIDENT_ID": 1, "CN_MOBILE": 1, "EMAIL": 1, "BANK_CARD": 1}
    assert {e.type: e.sensitive for e in ents} == {
        "CN_RESIDENT_ID": True, "CN_MOBILE": False, "EMAIL": False, "BANK_CARD": True,
    }  # fmt: skip


def test_report_shape_has_no_raw_value(det: PiiDetector) -> None:
    (e,) = det.detect(f"身份证{ID}")
    out = e.to_dict(b"k")
    assert set(out) == {"type", "start", "end", "text_hash", "sensitive", "score"}
    assert ID not in str(out)
    assert out["text_hash"] == value_hash(ID, b"k") != value_hash(ID, b"other")
    assert e.to_dict(b"k", show_value=True)["text"] == ID
    # Normalised: the same phone written two ways hashes the same.
    a, b = det.detect("13800138000 和 +86 138-0013-8000")
    assert a.text_hash(b"k") == b.text_hash(b"k")


def test_offset_shift(det: PiiDetector) -> None:
    (e,) = det.detect("手机13800138000", offset=100)
    assert (e.start, e.end) == (102, 113)


def test_ascii_heavy_and_chinese_heavy_text_give_the_same_entities(det: PiiDetector) -> None:
    # The scanner takes one pass over mostly-ASCII text and goes island by island over Chinese
    # prose; the same payload behind either kind of filler must give the same entities.
    payload = "\n".join([
        f"张三,{ID},13800138000,{CARD},zhang.san@example.com,京A12345,10.0.0.1",
        f"卡号：{' '.join(CARD[i : i + 4] for i in range(0, 19, 4))}；护照号E12345678；粤BD12345",
        "统一社会信用代码91350100M000100Y43 来源2001:db8::1 和 ::1 版本1.2.3.4.5 订单"
        + luhn_complete("98765432109876543"),
        f"证件{ID[:17]}5。+86 138-0013-8000，全角１３８００１３８０００，赣T-07439",
    ])  # fmt: skip
    results = []
    for filler in ("x = 1;\n" * 800, "这是一段没有任何个人信息的中文说明文字。\n" * 300):
        ents = det.detect(filler + payload)
        results.append([(e.type, e.start - len(filler), e.end - len(filler)) for e in ents])
    assert results[0] == results[1]
    assert {t for t, _, _ in results[0]} >= {"CN_RESIDENT_ID", "CN_MOBILE", "BANK_CARD", "EMAIL",
                                              "CN_LICENSE_PLATE", "IP_ADDRESS", "CN_USCC",
                                              "CN_PASSPORT", "CN_RESIDENT_ID_LIKE"}  # fmt: skip
