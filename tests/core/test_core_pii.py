"""PII finding and redaction: validated patterns, no false positives on ordinary numbers."""

from __future__ import annotations

import pytest

from mingyue.core.pii import find_pii, id_card_valid, luhn_valid, redact_pii
from mingyue.sdk import redact_pii as sdk_redact_pii

# GB 11643-1999 Annex A's worked example and one ending in X (checksums computed by hand).
ID_OK = "11010519491231002X"
ID_OK2 = "440524188001010014"
CARD_UNIONPAY = "6222021234567890128"  # 19 digits, Luhn-valid
CARD_VISA = "4111111111111111"


def _kinds(text: str) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in find_pii(text)]


def test_resident_id_needs_the_checksum_and_a_real_birth_date() -> None:
    assert id_card_valid(ID_OK) and id_card_valid(ID_OK.lower()) and id_card_valid(ID_OK2)
    assert not id_card_valid("110105194912310021")  # check character wrong
    assert not id_card_valid("110105194902300026")  # 30 February
    assert _kinds(f"身份证号{ID_OK}，请核对") == [("id_card", ID_OK)]
    assert find_pii("订单号 110105194912310021 已发货") == []


def test_mobile_numbers_with_prefix_and_spacing() -> None:
    text = "手机13812345678，或 +86 139-1234-5678，座机 010-62345678"
    assert _kinds(text) == [("phone", "13812345678"), ("phone", "+86 139-1234-5678")]
    assert find_pii("编号 12812345678 与 138123456789") == []  # 12x is no mobile; 12 digits


def test_email_and_its_digits_are_one_span() -> None:
    text = "联系 13812345678@qq.com 或 li.wei+test@example.com.cn。"
    assert _kinds(text) == [
        ("email", "13812345678@qq.com"),
        ("email", "li.wei+test@example.com.cn"),
    ]


def test_bank_cards_need_luhn_and_a_scheme_prefix() -> None:
    assert luhn_valid(CARD_UNIONPAY) and luhn_valid(CARD_VISA)
    assert not luhn_valid("6222021234567890127")
    grouped = "4111 1111 1111 1111"
    assert _kinds(f"卡号 {CARD_UNIONPAY} 与 {grouped}") == [
        ("bank_card", CARD_UNIONPAY),
        ("bank_card", grouped),
    ]
    # Luhn-valid but no card scheme starts with 1 or 9 (a millisecond timestamp, an order id).
    assert luhn_valid("1733580000003") and find_pii("时间戳 1733580000003") == []
    assert find_pii("退款到 6222021234567890127") == []  # fails Luhn


def test_passport_numbers() -> None:
    assert _kinds("护照 E12345678 和 EA1234567、G12345678、DE1234567") == [
        ("passport", "E12345678"),
        ("passport", "EA1234567"),
        ("passport", "G12345678"),
        ("passport", "DE1234567"),
    ]
    # A train number, a part number and a hex digest are not passports.
    assert find_pii("乘坐 G1234 次列车，零件 XE12345678，哈希 aE12345678b") == []


@pytest.mark.parametrize(
    "text",
    [
        "2024年营收 123456789012 元，同比增长 3.1415926%",
        "邮编 400000，电话区号 023，版本 v1.2.3，端口 8080",
        "序列 1234567890123456 与 0000000000000000",
        "价格 ¥1,380.00，数量 13800 件，合计 19049 元",
        "please email me at the office; 5 @ 3 pm",
    ],
)
def test_ordinary_text_and_numbers_are_left_alone(text: str) -> None:
    assert find_pii(text) == []
    assert redact_pii(text) == text


def test_redaction_replaces_every_kind_and_keeps_the_rest() -> None:
    text = f"我叫李雷，身份证{ID_OK}，手机13812345678，邮箱 lilei@example.com，卡号{CARD_VISA}，护照E12345678。"
    out = redact_pii(text)
    assert out == (
        "我叫李雷，身份证[ID_CARD]，手机[PHONE]，邮箱 [EMAIL]，卡号[BANK_CARD]，护照[PASSPORT]。"
    )
    assert redact_pii(out) == out
    assert sdk_redact_pii is redact_pii
