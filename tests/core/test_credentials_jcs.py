"""RFC 8785 canonicalization, base58/did:key, and the W3C eddsa-jcs-2022 test vector."""

from __future__ import annotations

import hashlib
import json
import math
import struct
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from mingyue.core.ledger.dataintegrity import add_proof, did_of, verify_proof
from mingyue.core.ledger.jcs import (
    b58decode,
    b58encode,
    canonicalize,
    did_key_from_public,
    from_multibase_b58,
    number,
    public_from_did_key,
)

# RFC 8785 Appendix B: IEEE 754 bit patterns and their ECMAScript serialization.
NUMBERS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "expected"), NUMBERS)
def test_numbers_follow_ecmascript(bits: str, expected: str) -> None:
    assert number(struct.unpack(">d", bytes.fromhex(bits))[0]) == expected


def test_rfc8785_sample() -> None:
    # RFC 8785 §3.2.2 sample input (numbers, escapes, literals)
    text = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        '"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        '"literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,'
        '1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonicalize(json.loads(text)) == expected.encode()


def test_members_sort_by_utf16_code_units() -> None:
    # RFC 8785 §3.2.3: the emoji (a surrogate pair) sorts before U+FB33.
    obj = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(json.loads(canonicalize(obj)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_integers_and_refusals() -> None:
    assert canonicalize([0, -1, 2**53, True, None]) == b"[0,-1,9007199254740992,true,null]"
    assert canonicalize(10**21) == b"1e+21"
    # JSON numbers are doubles (RFC 8785 §3.2.2.3): a larger integer is read as ECMAScript would
    assert canonicalize(2**53 + 1) == b"9007199254740992"
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError):
            canonicalize(bad)
    with pytest.raises(ValueError):
        canonicalize("\ud800")
    with pytest.raises(TypeError):
        canonicalize({1: "x"})
    with pytest.raises(TypeError):
        canonicalize(b"bytes")


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_round_trip(v: float) -> None:
    assert float(number(v)) == v


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**53), 2**53)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda kids: (
            st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=5), kids, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_canonical_form_is_json_and_stable(value: object) -> None:
    once = canonicalize(value)
    assert canonicalize(json.loads(once)) == once


@given(st.binary(max_size=40))
def test_base58_round_trip(data: bytes) -> None:
    assert b58decode(b58encode(data)) == data


def test_did_key_round_trip() -> None:
    raw = bytes(range(32))
    did = did_key_from_public(raw)
    assert did.startswith("did:key:z6Mk") and public_from_did_key(did + "#x") == raw
    with pytest.raises(ValueError):
        public_from_did_key("did:web:example.com")
    with pytest.raises(ValueError):
        from_multibase_b58("uAAAA")


def test_w3c_eddsa_jcs_2022_test_vector() -> None:
    # W3C VC-DI-EdDSA 1.0, "Representation: eddsa-jcs-2022" test vector: same key, document
    # and options must give the same (deterministic) Ed25519 proof value.
    secret = from_multibase_b58("z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq")
    assert secret[:2] == b"\x80\x26"  # multicodec ed25519-priv
    key = Ed25519PrivateKey.from_private_bytes(secret[2:])
    assert did_of(key) == "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
    doc = {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://www.w3.org/ns/credentials/examples/v2",
        ],
        "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
        "type": ["VerifiableCredential", "AlumniCredential"],
        "name": "Alumni Credential",
        "description": "A minimum viable example of an Alumni Credential.",
        "issuer": "https://vc.example/issuers/5678",
        "validFrom": "2023-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"},
    }
    assert (
        hashlib.sha256(canonicalize(doc)).hexdigest()
        == "59b7cb6251b8991add1ce0bc83107e3db9dbbab5bd2c28f687db1a03abc92f19"
    )
    secured = add_proof(doc, key, datetime(2023, 2, 24, 23, 36, 38, tzinfo=UTC))
    assert secured["proof"]["proofValue"] == (
        "z2HnFSSPPBzR36zdDgK8PbEHeXbR56YF24jwMpt3R1eHXQzJDMWS93FCzpvJpwTWd3GAVFuUfjoJdcnTMuVor51aX"
    )
    assert secured["proof"]["@context"] == doc["@context"]
    assert verify_proof(secured).ok
    secured["name"] = "Forged"
    assert verify_proof(secured).reason == "core.credential.tampered"
