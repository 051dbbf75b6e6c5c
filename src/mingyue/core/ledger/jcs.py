"""JSON Canonicalization Scheme (RFC 8785) and the multibase/did:key encodings credentials use.

JCS is what the ``eddsa-jcs-2022`` Data Integrity cryptosuite signs: object members sorted by
their UTF-16 code units, strings escaped as ECMAScript's ``JSON.stringify`` does, numbers written
as ECMAScript writes an IEEE 754 double, no whitespace, UTF-8.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
# RFC 8785 §3.2.2.3 serializes every number as an IEEE 754 double: an integer beyond 2**53 is
# rounded to the nearest double, exactly as an ECMAScript verifier reads it.
MAX_SAFE_INTEGER = 2**53


def canonicalize(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts).encode("utf-8")


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        out.append(_integer(value))
    elif isinstance(value, float):
        out.append(number(value))
    elif isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}")
        out.append("{")
        ordered = sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        for i, key in enumerate(ordered):
            if i:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, Decimal):
        raise TypeError("Decimal is not a JSON number here: convert money to a string first")
    else:
        raise TypeError(f"{type(value).__name__} is not a JSON value")


def _string(s: str) -> str:
    buf = ['"']
    for ch in s:
        code = ord(ch)
        if ch in _ESCAPES:
            buf.append(_ESCAPES[ch])
        elif code < 0x20:
            buf.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            # I-JSON (RFC 7493), which RFC 8785 requires, has no lone surrogates.
            raise ValueError("lone surrogate in string")
        else:
            buf.append(ch)
    buf.append('"')
    return "".join(buf)


def _integer(i: int) -> str:
    if -MAX_SAFE_INTEGER <= i <= MAX_SAFE_INTEGER:
        return str(i)
    try:
        return number(float(i))
    except OverflowError as exc:
        raise ValueError(f"integer {i} is too large for a JSON number") from exc


def number(v: float) -> str:
    """Write a double as ECMAScript's Number.prototype.toString does (ECMA-262 §7.1.12.1)."""
    if math.isnan(v) or math.isinf(v):
        raise ValueError("NaN and Infinity are not JSON numbers")
    if v == 0:
        return "0"
    if v < 0:
        return "-" + number(-v)
    # repr() gives the shortest digit string that round-trips, as ECMAScript requires.
    _, digits_t, exp = Decimal(repr(v)).as_tuple()
    if not isinstance(exp, int):  # NaN/Infinity were refused above
        raise ValueError(f"not a finite number: {v!r}")
    digits = "".join(map(str, digits_t)).rstrip("0")
    exp += len(digits_t) - len(digits)
    k = len(digits)
    n = k + exp  # value = 0.digits * 10**n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


# --- multibase base58btc and did:key (Ed25519) ----------------------------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_ED25519_PUB_MULTICODEC = b"\xed\x01"


def b58encode(data: bytes) -> str:
    """Encode bytes in base58 (Bitcoin alphabet)."""
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    """Decode base58 (Bitcoin alphabet); raise ValueError on a bad character."""
    n = 0
    for ch in text:
        idx = _B58.find(ch)
        if idx < 0:
            raise ValueError(f"bad base58 character {ch!r}")
        n = n * 58 + idx
    pad = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * pad + body


def multibase_b58(data: bytes) -> str:
    """Return multibase base58btc ("z" + base58)."""
    return "z" + b58encode(data)


def from_multibase_b58(text: str) -> bytes:
    """Decode multibase base58btc; raise ValueError on another base."""
    if not text.startswith("z"):
        raise ValueError("expected multibase base58btc (a leading 'z')")
    return b58decode(text[1:])


def did_key_from_public(raw_public: bytes) -> str:
    """Return the did:key of a raw 32-byte Ed25519 public key."""
    if len(raw_public) != 32:
        raise ValueError("an Ed25519 public key has 32 bytes")
    return "did:key:" + multibase_b58(_ED25519_PUB_MULTICODEC + raw_public)


def public_from_did_key(did: str) -> bytes:
    """Return the raw Ed25519 public key named by a did:key (fragment allowed)."""
    if not did.startswith("did:key:"):
        raise ValueError("not a did:key")
    ident = did[len("did:key:") :].split("#", 1)[0]
    raw = from_multibase_b58(ident)
    if not raw.startswith(_ED25519_PUB_MULTICODEC) or len(raw) != 34:
        raise ValueError("did:key does not name an Ed25519 public key")
    return raw[2:]
