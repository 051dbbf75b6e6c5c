"""Identity: USCC check characters, passwords, tokens."""

from __future__ import annotations

import random

import pytest

from mingyue.core.errors import InvalidInput
from mingyue.core.tenancy.identity import (
    hash_password,
    is_valid_uscc,
    token_digest,
    uscc_check_char,
    validate_org,
    verify_password,
)
from mingyue.testing import make_uscc


def test_known_uscc_codes() -> None:
    # Published codes: Huawei Technologies Co., Ltd. and Tencent (Shenzhen) — public registers.
    assert is_valid_uscc("914403001922038216")
    assert is_valid_uscc("9144030071526726XG")
    assert not is_valid_uscc("914403001922038217")
    assert not is_valid_uscc("91440300192203821")  # 17 chars
    assert not is_valid_uscc("91440300192203821I")  # I is not in the alphabet


def test_generated_codes_validate_and_one_char_change_breaks_them() -> None:
    rng = random.Random(7)
    for _ in range(200):
        code = make_uscc(rng)
        assert is_valid_uscc(code)
        wrong = code[:17] + ("0" if code[17] != "0" else "1")
        assert not is_valid_uscc(wrong)
    assert uscc_check_char("91440300192203821") == "6"


def test_enterprise_needs_valid_uscc() -> None:
    with pytest.raises(InvalidInput) as e:
        validate_org("enterprise", None)
    assert e.value.field == "uscc"
    with pytest.raises(InvalidInput):
        validate_org("enterprise", "914403001922038217")
    with pytest.raises(InvalidInput):
        validate_org("bank", None)
    validate_org("regulator", None)


def test_password_hash_is_argon2_and_verifies() -> None:
    h = hash_password("correct horse")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "correct horse")
    assert not verify_password(h, "wrong horse!")
    assert not verify_password("not-a-hash", "x")
    with pytest.raises(InvalidInput):
        hash_password("short")


def test_token_digest_is_sha256() -> None:
    assert len(token_digest("myt_abc")) == 64
    assert token_digest("a") != token_digest("b")
