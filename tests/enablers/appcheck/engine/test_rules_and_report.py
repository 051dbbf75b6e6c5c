"""Permissions vs App type, SDK disclosure diff, six categories, packers, split APKs, sandbox."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from mingyue.enablers.appcheck.engine import (
    AnalysisOptions,
    Report,
    SandboxLimits,
    analyze_apk,
    build_catalogue,
    load_catalogue,
    load_rulesets,
)
from mingyue.enablers.appcheck.engine.errors import (
    BadSdkList,
    ParseOutOfMemory,
    ParseTimeout,
    UnknownAppType,
)
from mingyue.enablers.appcheck.engine.report import STATUS_DYNAMIC, permission_findings

LOC = "android.permission.ACCESS_FINE_LOCATION"
CONTACTS = "android.permission.READ_CONTACTS"


def test_39_app_types_with_articles() -> None:
    rules = load_rulesets()
    types = rules.types()
    assert [t.n for t in types] == list(range(1, 40))
    assert len({t.key for t in types}) == 39
    assert rules.app_type("map_navigation").article == "第五条第（一）项"
    assert rules.app_type("39").article == "第五条第（三十九）项"
    assert rules.app_type("地图导航类").key == "map_navigation"
    with pytest.raises(UnknownAppType):
        rules.app_type("spaceship")


def test_necessary_permission_not_flagged_but_others_are() -> None:
    rules = load_rulesets()
    nav = rules.app_type("map_navigation")
    dangerous, findings = permission_findings(
        rules, [LOC, CONTACTS, "android.permission.INTERNET"], nav
    )
    assert [d["name"] for d in dangerous] == [LOC, CONTACTS]
    assert {d["name"]: d["necessary"] for d in dangerous} == {LOC: True, CONTACTS: False}
    assert [f.rule for f in findings] == ["PERM_NOT_NECESSARY"]
    assert CONTACTS in findings[0].evidence
    assert "第五条第（一）项" in findings[0].source and findings[0].category == "4"


def test_no_pi_type_flags_every_pi_permission() -> None:
    rules = load_rulesets()
    news = rules.app_type("news")
    assert news.no_pi
    perms = [LOC, CONTACTS, "android.permission.CAMERA", "android.permission.POST_NOTIFICATIONS"]
    _, findings = permission_findings(rules, perms, news)
    flagged = {p for p in perms for f in findings if p in f.evidence}
    # POST_NOTIFICATIONS is a runtime permission that reaches no personal information
    assert flagged == set(perms[:3])
    assert all("无须个人信息" in f.evidence for f in findings)


def test_undeclared_type_is_reported_not_passed() -> None:
    rules = load_rulesets()
    _, findings = permission_findings(rules, [LOC], None)
    assert [f.rule for f in findings] == ["APP_TYPE_NOT_DECLARED"]


def test_report_categories_and_dynamic_checks(corpus_results: dict, find_apk) -> None:
    rep = corpus_results[find_apk("jpush__hbuilder-hello").name]
    assert isinstance(rep, Report)
    cats = rep.categories(load_rulesets())
    assert [c["category"] for c in cats][:6] == ["1", "2", "3", "4", "5", "6"]
    # nothing static can establish in categories 3 and 6: never shown as passed
    for c in cats:
        if c["category"] in ("3", "6"):
            assert c["status"] == STATUS_DYNAMIC
    assert any(f.rule == "SELF_START_BOOT" for f in rep.findings)
    assert all(f.source for f in rep.findings)


def test_app_type_and_disclosure(find_apk) -> None:
    policy = (
        "<html><body><p>我们使用了极光推送 SDK（cn.jpush.android）用于消息推送。</p></body></html>"
    )
    rep = analyze_apk(find_apk("jpush__hbuilder-hello"), app_type="news", policy=policy.encode())
    d = rep.to_dict()
    assert d["app_type"]["key"] == "news"
    assert any(
        f["rule"] == "PERM_NOT_NECESSARY" and "READ_PHONE_STATE" in f["evidence"]
        for f in d["findings"]
    )
    assert "JPush (极光推送)" in d["disclosure"]["disclosed"]
    undisclosed = d["disclosure"]["undisclosed"]
    assert "Tencent QQ Connect" in undisclosed
    assert {
        f["evidence"].split(" (")[0] for f in d["findings"] if f["rule"] == "SDK_UNDISCLOSED"
    } == set(undisclosed)


def test_bad_sdk_list(find_apk) -> None:
    with pytest.raises(BadSdkList):
        analyze_apk(find_apk("TC-debug"), policy=b"\x00\x01binary")
    with pytest.raises(BadSdkList):
        analyze_apk(find_apk("TC-debug"), policy=b"   ")


def _repack(src: Path, dst: Path, extra: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
        for name, data in extra.items():
            zout.writestr(name, data)
    return dst


def test_packer_marks_report_incomplete(find_apk, tmp_path: Path) -> None:
    apk = _repack(
        find_apk("TC-debug"),
        tmp_path / "packed.apk",
        {"lib/armeabi-v7a/libjiagu.so": b"\x7fELF" + bytes(64)},
    )
    rep = analyze_apk(apk)
    assert rep.incomplete
    assert any("360" in r for r in rep.incomplete_reasons)
    assert any(f.rule == "SEC_PACKED" for f in rep.findings)


def test_split_container_analysed(find_apk, tmp_path: Path) -> None:
    base = find_apk("jpush__hbuilder-hello")
    split = tmp_path / "app.apks"
    with zipfile.ZipFile(split, "w") as zf:
        zf.write(base, "splits/base-master.apk")
        zf.write(find_apk("TC-debug"), "splits/base-xxhdpi.apk")
        zf.writestr("toc.pb", b"\x00")
    rep = analyze_apk(split)
    assert rep.package == "com.jpush.hbuilderdemo"
    assert rep.split_apks == ["splits/base-master.apk", "splits/base-xxhdpi.apk"]
    assert "JiGuang Aurora Mobile JPush" in {t["name"] for t in rep.exodus_trackers}


def test_sandbox_timeout_and_memory_limits(find_apk) -> None:
    apk = find_apk("exc__blooddonation")
    with pytest.raises(ParseTimeout):
        analyze_apk(apk, options=AnalysisOptions(limits=SandboxLimits(timeout_s=0.01)))
    with pytest.raises(ParseOutOfMemory):
        analyze_apk(
            apk, options=AnalysisOptions(limits=SandboxLimits(memory_bytes=2 * 1024 * 1024))
        )
    # the sandbox recovers for the next file
    assert analyze_apk(apk).package == "fr.mobdev.blooddonation"


def test_shipped_catalogue_is_the_merge_of_its_sources(rule_src: Path) -> None:
    rebuilt = build_catalogue(rule_src)
    shipped = load_catalogue().data
    assert json.loads(json.dumps(rebuilt, ensure_ascii=False)) == shipped
    srcs = {s["id"] for s in shipped["sources"]}
    assert srcs == {"exodus", "libchecker", "mingyue-cn"}
    cn = [e for e in shipped["sdks"] if "mingyue-cn" in e["sources"]]
    assert len(cn) >= 20 and all(e["refs"] and e["refs"][0].strip() for e in cn)
    assert any(e["packer"] for e in shipped["sdks"])
