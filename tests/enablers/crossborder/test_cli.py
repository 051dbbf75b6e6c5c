"""CLI contract tests: `mingyue crossborder assess|scan|declare|watch|filings`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SCENARIO = {
    "ciio": False,
    "important_data": False,
    "pi_individuals": 99_999,
    "sensitive_pi_individuals": 0,
    "purpose": "other",
    "ftz_negative_list": None,
}
ID = "11010519491231002X"


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({}, "exempt"),
        ({"pi_individuals": 100_000}, "standard_contract_or_certification"),
        ({"sensitive_pi_individuals": 10_000}, "security_assessment"),
    ],
)
def test_assess_json(cli: Any, tmp_path: Path, overrides: dict[str, Any], path: str) -> None:
    f = tmp_path / "s.json"
    f.write_text(json.dumps({**SCENARIO, **overrides}))
    r = cli("crossborder", "assess", str(f), "--json")
    assert r.exit_code == 0, r.stderr
    out = r.json()
    assert out["path"] == path
    assert all(isinstance(b, str) and " Art. " in b for b in out["basis"])
    assert isinstance(out["obligations"], list) and out["obligations"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({**SCENARIO, "pi_individuals": -1}, "pi_individuals"),
        ({**SCENARIO, "purpose": "marketing"}, "purpose"),
        ({k: v for k, v in SCENARIO.items() if k != "ciio"}, "ciio"),
    ],
)
def test_assess_invalid_exits_2_naming_the_field(
    cli: Any, tmp_path: Path, data: Any, field: str
) -> None:
    f = tmp_path / "s.json"
    f.write_text(json.dumps(data))
    r = cli("crossborder", "assess", str(f), "--json")
    assert r.exit_code == 2
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and field in lines[0]
    assert r.stdout == ""


def test_assess_bad_json_and_missing_file(cli: Any, tmp_path: Path) -> None:
    f = tmp_path / "s.json"
    f.write_text("{not json")
    r = cli("crossborder", "assess", str(f), "--json")
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    r = cli("crossborder", "assess", str(tmp_path / "nope.json"), "--json")
    assert r.exit_code == 2 and "file" in r.stderr


def test_scan_json_contract(cli: Any, tmp_path: Path) -> None:
    f = tmp_path / "t.txt"
    text = f"客户张三，身份证{ID}，手机13800138000\n"
    f.write_text(text, encoding="utf-8")
    r = cli("crossborder", "scan", str(f), "--json")
    assert r.exit_code == 0, r.stderr
    out = r.json()
    assert out["counts"] == {"PERSON": 1, "CN_RESIDENT_ID": 1, "CN_MOBILE": 1}
    for e in out["entities"]:
        assert {"type", "start", "end", "text_hash", "sensitive"} <= set(e)
        assert "text" not in e
    by_type = {e["type"]: e for e in out["entities"]}
    name, ident = by_type["PERSON"], by_type["CN_RESIDENT_ID"]
    assert text[name["start"] : name["end"]] == "张三" and name["type"] == "PERSON"
    assert text[ident["start"] : ident["end"]] == ID and ident["sensitive"] is True
    assert ID not in r.stdout and "张三" not in r.stdout
    shown = cli("crossborder", "scan", str(f), "--json", "--show-values").json()
    assert {e["type"]: e["text"] for e in shown["entities"]}["CN_RESIDENT_ID"] == ID
    bad = tmp_path / "b.txt"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    r = cli("crossborder", "scan", str(bad), "--json")
    assert r.exit_code == 2 and "binary" in r.stderr


def test_scan_with_ner_reports_names_places_and_organisations(cli: Any, tmp_path: Path) -> None:
    f = tmp_path / "memo.txt"
    text = (
        "会议纪要：杭州阿里巴巴网络技术有限公司的代表陈志远先生到访江苏省南京市玄武区中山路18号。\n"
    )
    f.write_text(text, encoding="utf-8")
    r = cli("crossborder", "scan", str(f), "--json", "--show-values")  # NER is the default
    assert r.exit_code == 0, r.stderr
    got = {(e["type"], e["text"]) for e in r.json()["entities"]}
    assert got == {
        ("ORGANIZATION", "杭州阿里巴巴网络技术有限公司"),
        ("PERSON", "陈志远"),
        ("LOCATION", "江苏省南京市玄武区中山路18号"),
    }
    for e in r.json()["entities"]:
        assert text[e["start"] : e["end"]] == e["text"]
    assert r.json()["ner"] is True
    plain = cli("crossborder", "scan", str(f), "--json", "--no-ner").json()
    assert plain["counts"] == {} and plain["ner"] is False  # identifiers only
    big = tmp_path / "big.txt"  # over 4 MiB: identifiers only unless --ner
    big.write_text(text + "说明。" * 1_500_000, encoding="utf-8")
    auto = cli("crossborder", "scan", str(big), "--json").json()
    assert auto["ner"] is False and auto["counts"] == {}


def test_declare_watch_and_filings(cli: Any, tenants: Any, tmp_path: Path) -> None:
    admin = tenants.a.admin.username
    t = tmp_path / "t.json"
    t.write_text(
        json.dumps(
            {
                "recipient": "Partner SG",
                "country": "SG",
                "endpoints": ["api.partner.sg"],
                "legal_basis": "exempt",
            }
        )
    )
    r = cli("crossborder", "declare", str(t), "--as", admin, "--json")
    assert r.exit_code == 0, r.stderr
    log = tmp_path / "access.log"
    log.write_text(
        "".join(
            f'10.0.0.5 - - [10/Mar/2026:13:55:{i:02d} +0800] "GET http://api.partner.sg/s?m=139{i:08d} '
            f'HTTP/1.1" 200 10 "-" "-"\n'
            for i in range(30)
        )
    )
    r = cli("crossborder", "watch", str(log), "--as", admin, "--json")
    assert r.exit_code == 0, r.stderr
    out = r.json()
    assert (
        out["lines"] == 30
        and {"recipient": "Partner SG", "year": 2026, "kind": "pi", "individuals": 30}
        in out["counts"]
    )
    assert cli("crossborder", "watch", str(log), "--as", admin, "--json").json()["lines"] == 30
    log2 = tmp_path / "access2.log"
    log2.write_text(log.read_text().replace("139", "138"))
    r = cli("crossborder", "watch", str(log2), "--workers", "2", "--as", admin, "--json")
    assert r.exit_code == 0, r.stderr
    assert {"recipient": "Partner SG", "year": 2026, "kind": "pi", "individuals": 60} in r.json()[
        "counts"
    ]
    r = cli("crossborder", "watch", str(log2), "--workers", "0", "--as", admin, "--json")
    assert r.exit_code == 2 and "--workers" in r.stderr
    r = cli("crossborder", "watch", str(log), "--json")
    assert r.exit_code == 2 and "--as" in r.stderr
    r = cli("crossborder", "filings", "--as", admin, "--json")
    assert r.exit_code == 0 and r.json() == []


def test_scan_as_a_user_is_the_apis_scan_kept_for_its_organization(
    cli: Any, client: Any, tenants: Any, tmp_path: Path
) -> None:
    """`scan --as`: the API's permission and record (hashes and counts), tenant-scoped."""
    f = tmp_path / "客户.csv"
    f.write_text(f"姓名,身份证,手机\n张三,{ID},13800138000\n", encoding="utf-8")
    before = client.get("/api/crossborder/scans", headers=tenants.a.headers()).json()
    assert cli("crossborder", "scan", str(f), "--json").exit_code == 0  # local: nothing kept
    assert client.get("/api/crossborder/scans", headers=tenants.a.headers()).json() == before

    r = cli("crossborder", "scan", str(f), "--as", tenants.a.member.username, "--json")
    assert r.exit_code == 0, r.stderr
    out = r.json()
    assert out["id"] and out["filename"] == "客户.csv" and out["counts"]["CN_RESIDENT_ID"] == 1
    assert ID not in r.stdout and "张三" not in r.stdout
    mine = client.get("/api/crossborder/scans", headers=tenants.a.headers()).json()
    assert [s["id"] for s in mine if s["id"] not in {b["id"] for b in before}] == [out["id"]]
    assert (
        client.get(f"/api/crossborder/scans/{out['id']}", headers=tenants.a.headers()).json()[
            "counts"
        ]
        == out["counts"]
    )
    # the other enterprise neither lists nor reads it
    theirs = client.get("/api/crossborder/scans", headers=tenants.b.headers()).json()
    assert out["id"] not in {s["id"] for s in theirs}
    got = client.get(f"/api/crossborder/scans/{out['id']}", headers=tenants.b.headers())
    assert got.status_code == 404
    # the owner may see the values, as through the API; the table form names the scan
    shown = cli(
        "crossborder", "scan", str(f), "--as", tenants.a.member.username, "--json", "--show-values"
    ).json()
    assert {e["type"]: e["text"] for e in shown["entities"]}["CN_RESIDENT_ID"] == ID
    table = cli("crossborder", "scan", str(f), "--as", tenants.a.member.username)
    assert table.exit_code == 0 and "scan" in table.stdout and "CN_RESIDENT_ID: 1" in table.stdout

    # the same refusals as the API: a role without crossborder.scan, an unknown user, no file
    r = cli("crossborder", "scan", str(f), "--as", tenants.regulator.member.username, "--json")
    assert r.exit_code == 1 and "crossborder.scan" in r.stderr and r.stdout == ""
    r = cli("crossborder", "scan", str(f), "--as", "nobody-here", "--json")
    assert r.exit_code != 0 and "nobody-here" in r.stderr and r.stdout == ""
    r = cli("crossborder", "scan", str(tmp_path / "none.csv"), "--as", tenants.a.member.username)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
