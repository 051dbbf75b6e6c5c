"""Hard-coded secrets: formats, entropy and placeholder guards, redaction, APK locations."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from mingyue.enablers.appcheck.engine import analyze_apk
from mingyue.enablers.appcheck.engine.secrets import entropy, redact, scan_bytes

# realistic-format values (random, not anyone's real credentials)
POSITIVE = {
    "alibaba-access-key-id": b'accessKeyId = "LTAI5tQ8pHk2ZnWv9RtYxJm3"',
    "alibaba-secret-key": b"aliyun.accessKeySecret=Zq8Lm2Nx7Rv4Tb9Kc3Hw6Jp1Fs5Dg0",
    "tencent-secret-id": b"SecretId: AKIDq3Hd8Kp2Lx9Wv4Rt7Yb6Nm1Zc5Fg8Jh2",
    "aws-access-key-id": b"aws_access_key_id=AKIAZ7QWERTY2M3N4B5V",
    "huawei-cloud-access-key": b'HUAWEI_CLOUD_AK="ZK4TQ9WMR2XN8PLB7VHC"',
    "baidu-api-key": b'baidu_api_key = "Q8nRk2LpW9vXz4YtH6mJc3Bd"',
    "github-pat": b"token ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ",
    "slack-token": b"xoxb-2047593816-6630281574-Qz8RkW2mLp7Xn4Tv9Hb3Jc5D",
    "stripe-secret-key": b"sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "gcp-api-key": b'"current_key": "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"',
    "jwt": (
        b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI4ODIxIiwiaXNzIjoiZGlzdHJpY3QifQ."
        b"Xk2bQ9vR7mL3nT8pW4cH6jF1sD5gA0zY"
    ),
    "private-key": (
        b"-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
        b"VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMg\n"
        b"-----END RSA PRIVATE KEY-----"
    ),
}


@pytest.mark.parametrize("rule", sorted(POSITIVE))
def test_each_rule_finds_its_format(rule: str) -> None:
    hits = scan_bytes(POSITIVE[rule], "assets/x")
    assert [h.rule for h in hits] == [rule]
    hit = hits[0]
    assert hit.location == "assets/x" and "…" in hit.redacted and len(hit.redacted) == 7
    assert hit.entropy > 3.0


@pytest.mark.parametrize(
    "text",
    [
        b"AKIAIOSFODNN7EXAMPLE",  # AWS documentation key
        b"aws_key=AKIAXXXXXXXXXXXXXXXX",
        b"LTAIAAAAAAAAAAAAAAAA",  # one character repeated
        b"accessKeyId: LTAI_your_access_key_id",
        b"sk_live_xxxxxxxxxxxxxxxxxxxxxxxx",
        b"AIzaSy_EXAMPLE_KEY_EXAMPLE_KEY_EXAMPLE1",
        b"eyJub3RhIjoiand0In0.eyJzdWIiOiI4ODIxIiwiaXNzIjoiZGlzdHJpY3QifQ.Xk2bQ9vR7mL3nT8pW4cH",
        b"ghp_abcdefghabcdefghabcdefghabcdefghabcd",
        b"huawei_ak = 'AAAABBBBCCCCDDDDEEEE'",
    ],
)
def test_false_positive_guards(text: bytes) -> None:
    assert scan_bytes(text, "x") == []


def test_redaction_and_entropy() -> None:
    assert redact("LTAI5tQ8pHk2ZnWv9RtYxJm3") == "LTAI…m3"
    assert redact("short") == "…"
    assert entropy("aaaa") == 0 and entropy("abcd") == 2


def test_same_value_reported_once() -> None:
    seen: set[tuple[str, str]] = set()
    data = POSITIVE["github-pat"] + b"\n" + POSITIVE["github-pat"]
    assert len(scan_bytes(data, "a", seen)) == 1
    assert scan_bytes(POSITIVE["github-pat"], "b", seen) == []


def test_dex_string_key_found_in_a_real_apk(find_apk) -> None:
    rep = analyze_apk(find_apk("blooddonation"))
    hits = [s for s in rep.secrets if s["rule"] == "gcp-api-key"]
    assert hits and hits[0]["location"] == "classes.dex (DEX strings)"
    assert hits[0]["redacted"].startswith("AIza")
    assert "SEC_HARDCODED_SECRET" in {f.rule for f in rep.findings}


def test_asset_and_resource_keys_in_an_apk(find_apk, tmp_path: Path) -> None:
    src = find_apk("politedroid")
    dst = tmp_path / "with-keys.apk"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        zout.writestr("assets/oss.properties", POSITIVE["alibaba-access-key-id"] + b"\n")
        zout.writestr("res/raw/keystore.pem", POSITIVE["private-key"])
        zout.writestr("assets/readme.txt", b"key = AKIAIOSFODNN7EXAMPLE")
    d = analyze_apk(dst).to_dict()
    found = {(s["rule"], s["location"]) for s in d["secrets"]}
    assert ("alibaba-access-key-id", "assets/oss.properties") in found
    assert ("private-key", "res/raw/keystore.pem") in found
    assert not any(s["location"] == "assets/readme.txt" for s in d["secrets"])
    assert "LTAI5tQ8pHk2ZnWv9RtYxJm3" not in json.dumps(d)
