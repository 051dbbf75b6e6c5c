"""Store-listing review (上架审核) as a case kind: checklist judged from the report and the package,
operator's evidence, the reviewer's decision and a signed result; tenancy and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mingyue.core.cases import service as case_service
from mingyue.core.ledger import credentials
from mingyue.enablers.appcheck.engine import analyze_apk, load_rulesets
from mingyue.enablers.appcheck.engine.listing import (
    check_filing,
    load_rules,
    package_texts,
    review_listing,
)
from tests.enablers.appcheck.appcheck_variant import make_variant

ABOUT = """<html><body><h1>隐私政策</h1>
<p>App备案号：京ICP备12345678号-1A</p>
<p>第三方SDK清单：极光推送 SDK（JPush），用于消息推送；腾讯 QQ 互联 SDK（Tencent QQ Connect），
用于 QQ 登录分享；ZXing，用于扫码；Support Library。</p>
<p>位置权限：我们需要获取您的位置信息，用于推荐本地新闻。</p>
</body></html>"""
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _by_id(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in results}


def test_filing_number_formats() -> None:
    rules = load_rules("listing_rules.yaml")
    assert check_filing(["备案号：粤ICP备2023012345号-2A"], rules)[0] == "pass"
    # a website filing number (no App suffix A) is not an App filing
    result, ev = check_filing(["京ICP备12345678号-1"], rules)
    assert result == "fail" and "京ICP备12345678号-1" in ev[0]
    assert check_filing(["no number here"], rules)[0] == "needs_evidence"


def test_checklist_on_a_real_debug_build(find_apk: Any) -> None:
    apk = find_apk("jpush__hbuilder-hello")
    report = analyze_apk(apk, app_type="news").to_dict(load_rulesets())
    res = _by_id([r.to_dict() for r in review_listing(report, package_texts(apk))])
    assert list(res) == [i["id"] for i in load_rules("listing_rules.yaml")["items"]]
    assert res["filing"]["result"] == "needs_evidence"
    assert res["privacy_policy"]["result"] == "fail"
    assert res["policy_covers_sdks"]["result"] == "needs_evidence"  # no policy given
    assert res["target_sdk"]["result"] == "fail" and "8 < 26" in res["target_sdk"]["evidence"][0]
    assert res["signing"]["result"] == "fail" and "Android Debug" in res["signing"]["evidence"][0]
    assert res["release_build"]["result"] == "fail"
    assert res["minors"]["result"] == "pass"  # news is not a type that calls for it
    assert all(r["citation"] for r in res.values())


def test_listing_review_case_with_evidence_and_signed_result(
    client: Any,
    tenants: Any,
    run_jobs: Any,
    find_apk: Any,
    tmp_path: Path,
    uow_as: Any,
    actor_of: Any,
) -> None:
    apk = make_variant(
        find_apk("jpush__hbuilder-hello"),
        tmp_path / "hello-listing.apk",
        assets={"assets/privacy_policy.html": ABOUT},
    )
    with apk.open("rb") as fh:
        r = client.post(
            "/api/appcheck/scans",
            files={"file": (apk.name, fh, "application/zip")},
            data={"app_type": "news"},
            headers=tenants.a.headers(),
        )
    scan = r.json()
    run_jobs()
    h = tenants.a.headers()
    r = client.post("/api/appcheck/reviews", json={"scan_id": scan["id"], "kind": "x"}, headers=h)
    assert r.status_code == 422
    r = client.post(
        "/api/appcheck/reviews", json={"scan_id": scan["id"], "kind": "listing"}, headers=h
    )
    assert r.status_code == 201, r.text
    review = r.json()
    res = _by_id(review["results"])
    assert (
        res["filing"]["result"] == "pass" and "京ICP备12345678号-1A" in res["filing"]["evidence"][0]
    )
    assert res["privacy_policy"]["result"] == "pass"
    perms = res["permission_purposes"]
    assert perms["result"] == "needs_evidence"
    assert any(e.startswith("location:") for e in perms["evidence"])  # the stated purpose
    assert "phone (CALL_PHONE)" in perms["evidence"][0]  # what is still unexplained
    assert review["case_id"] and review["decision"] == ""
    rid = review["id"]
    # the operator attaches a screenshot of the permission prompts
    r = client.post(
        f"/api/appcheck/reviews/{rid}/evidence",
        data={"item": "permission_purposes"},
        files={"file": ("prompts.png", PNG, "image/png")},
        headers=h,
    )
    assert r.status_code == 201, r.text
    (ev,) = r.json()["evidence"]
    assert ev["item"] == "permission_purposes" and len(ev["sha256"]) == 64
    r = client.post(
        f"/api/appcheck/reviews/{rid}/evidence",
        data={"item": "nope"},
        files={"file": ("x.png", PNG, "image/png")},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["key"] == "appcheck.review.bad_item", r.json()
    # another enterprise cannot see or touch it
    hb = tenants.b.headers()
    assert client.get(f"/api/appcheck/reviews/{rid}", headers=hb).status_code == 404
    r = client.post(
        f"/api/appcheck/reviews/{rid}/evidence",
        data={"item": "filing"},
        files={"file": ("x.png", PNG, "image/png")},
        headers=hb,
    )
    assert r.status_code == 404
    # the enterprise cannot decide its own review
    body = {"decision": "accept", "items": {"permission_purposes": "pass"}}
    assert (
        client.post(f"/api/appcheck/reviews/{rid}/decision", json=body, headers=h).status_code
        == 403
    )
    # the operator's reviewer decides: the screenshot shows the purposes; accept and sign
    hr = tenants.operator.headers()
    bad = {"decision": "accept", "items": {"signing": "pass"}}  # not an item needing evidence
    assert (
        client.post(f"/api/appcheck/reviews/{rid}/decision", json=bad, headers=hr).status_code
        == 422
    )
    body["opinion"] = "权限弹窗截图已核实使用目的。"
    r = client.post(f"/api/appcheck/reviews/{rid}/decision", json=body, headers=hr)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["decision"] == "accepted" and out["credential_id"]
    r = client.post(f"/api/appcheck/reviews/{rid}/decision", json=body, headers=hr)
    assert r.status_code == 409
    with uow_as(actor_of(tenants.a.admin)) as uow:
        case = case_service.get_case(uow=uow, case_id=out["case_id"])
        assert case.state == "accepted" and case.kind == "appcheck.listing"
        vc = credentials.get_credential(
            uow=uow, actor=uow.actor, credential_id=out["credential_id"]
        )
        assert vc.type == "AppStoreListingReview"
        subj = vc.credential["credentialSubject"]
        assert subj["results"]["permission_purposes"] == "pass"
        assert subj["results"]["filing"] == "pass" and subj["results"]["signing"] == "fail"
        assert subj["evidence_sha256"] == [ev["sha256"]]
        assert subj["apk_sha256"] == scan["sha256"] and subj["package"] == "com.jpush.hbuilderdemo"
        assert credentials.verify(vc.credential).ok
    # the case page shows what was decided on (the review's summary, linked)
    r = client.post(
        "/login",
        data={"username": tenants.operator.member.username, "password": "password123"},
        follow_redirects=False,
    )
    assert r.status_code in (302, 303)
    page = client.get(f"/cases/{out['case_id']}?lang=zh_CN")
    assert page.status_code == 200
    assert "App上架审核" in page.text and f"/appcheck/reviews/{rid}" in page.text
    client.cookies.clear()
    # a decided review takes no more evidence
    r = client.post(
        f"/api/appcheck/reviews/{rid}/evidence",
        data={"item": "filing"},
        files={"file": ("x.png", PNG, "image/png")},
        headers=h,
    )
    assert r.status_code == 409
