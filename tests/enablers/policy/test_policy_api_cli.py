"""CLI of policy-service: match, classify, dispatch report, indicators upload/show/check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.enablers.policy.policy_service_support import DATA, ai_sme, save_profile


def test_match_as_the_enterprise(cli: Any, settings: Any, tenants: Any, actor_of: Any) -> None:
    save_profile(settings, actor_of(tenants.a.admin), ai_sme())
    r = cli("policy", "match", "--as", tenants.a.member.username, "--json")
    assert r.exit_code == 0, r.stderr
    by = {x["measure"]["key"]: x for x in r.json()}
    assert by["free-compute-pool"]["verdict"] == "eligible"
    assert by["new-rd-institution"]["missing"][0]["zh"] == "经认定的新型研发机构"
    other = cli("policy", "match", "--org", str(tenants.a.org.id), "--as", tenants.b.admin.username)
    assert other.exit_code == 1 and other.stderr.count("\n") == 1  # not found, one line
    table = cli("policy", "match", "--as", tenants.a.member.username)
    assert table.exit_code == 0 and "free-compute-pool" in table.stdout


def test_classify_and_report(cli: Any) -> None:
    r = cli("policy", "classify", "增值税留抵退税怎么申请？", "--json")
    assert r.exit_code == 0, r.stderr
    out = r.json()
    assert out["department"] == "tax" and out["auto"] is True and len(out["ranked"]) == 3
    empty = cli("policy", "classify", "  ")
    assert empty.exit_code == 2 and "policy.request.empty" in empty.stderr


def test_indicators_from_the_command_line(cli: Any, tenants: Any, tmp_path: Path) -> None:
    desk = tenants.operator.member.username
    r = cli(
        "policy", "indicators", "upload", str(DATA / "demo_statistics.csv"), "--as", desk, "--json"
    )
    assert r.exit_code == 0, r.stderr
    assert r.json()["accepted"] == 60 and r.json()["alerts"] == 4
    show = cli("policy", "indicators", "show", "de_scale", "--as", desk, "--json")
    assert show.json()["period"] == "2024" and show.json()["rows"][-1]["district"] == "九龙坡区"
    one = cli(
        "policy",
        "indicators",
        "show",
        "srdi_smes",
        "--district",
        "沙坪坝区",
        "--as",
        desk,
        "--json",
    )
    assert one.json()["points"][-1]["lagging"] is False  # 2025 has a path, no value yet
    check = cli("policy", "indicators", "check", "--as", desk, "--json")
    assert check.exit_code == 0 and check.json()["opened"] == []
    bad = tmp_path / "bad.csv"
    bad.write_text("指标,地区,期间,数值\n地区生产总值,两江新区,2023,x\n", encoding="utf-8")
    strict = cli("policy", "indicators", "upload", str(bad), "--strict", "--as", desk)
    assert strict.exit_code == 2 and strict.stderr.count("\n") == 1
    assert "line 2" in strict.stderr
    missing = cli("policy", "indicators", "upload", str(tmp_path / "nope.csv"), "--as", desk)
    assert missing.exit_code == 2
    ent = cli("policy", "indicators", "upload", str(bad), "--as", tenants.a.admin.username)
    assert ent.exit_code == 1 and "core.forbidden" in ent.stderr
