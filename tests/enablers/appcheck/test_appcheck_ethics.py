"""Algorithm-ethics review (算法伦理审查) as a case kind: static signals from the package, the
questionnaire, the reviewer's opinion, a signed result or a return; tenancy and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mingyue.core.ledger import credentials
from mingyue.enablers.appcheck.engine import analyze_apk, load_rulesets
from mingyue.enablers.appcheck.engine.ethics import assess, questions, signals
from mingyue.enablers.appcheck.engine.listing import package_texts
from tests.enablers.appcheck.appcheck_variant import make_variant

SETTINGS = """<html><body><h2>推荐设置</h2>
<p>关闭个性化推荐后，您看到的内容将不再基于您的兴趣。</p>
<p>美颜特效由 AI 生成，图片将添加“AI生成”标识。</p></body></html>"""


def _variant(find_apk: Any, tmp_path: Path) -> Path:
    # a release that adds a face-effects SDK (FaceUnity classes) and its settings page
    return make_variant(
        find_apk("jpush__hbuilder-hello"),
        tmp_path / "hello-ethics.apk",
        classes=["com.faceunity.wrapper.faceunity", "com.faceunity.core.FURenderKit"],
        assets={"assets/web/settings.html": SETTINGS},
    )


def test_signals_from_the_package_and_the_questionnaire(find_apk: Any, tmp_path: Path) -> None:
    plain = find_apk("jpush__hbuilder-hello")
    report = analyze_apk(plain).to_dict(load_rulesets())
    assert signals(report, package_texts(plain)) == {"sdk": {}, "strings": {}, "in_scope": False}
    apk = _variant(find_apk, tmp_path)
    sig = signals(analyze_apk(apk).to_dict(load_rulesets()), package_texts(apk))
    assert sig["in_scope"] and "face_swap" in sig["sdk"]
    assert any("com.faceunity" in e for e in sig["sdk"]["face_swap"])
    assert "personalisation_switch" in sig["strings"] and "ai_label" in sig["strings"]
    qs = {q["id"] for q in questions()}
    assert {"filing", "personalisation_off", "price_discrimination", "deep_synthesis_label"} <= qs
    res = {
        r["id"]: r["result"]
        for r in assess(
            sig,
            {
                "personalisation_off": {"answer": "yes", "note": ""},
                "user_tags": {"answer": "yes", "note": ""},  # claimed, not shown by the package
                "price_discrimination": {"answer": "yes", "note": ""},
                "filing": {"answer": "no", "note": "尚未备案"},
                "elderly": {"answer": "na", "note": "不面向老年人"},
            },
        )
    }
    assert res["personalisation_off"] == "pass" and res["price_discrimination"] == "pass"
    assert res["user_tags"] == "needs_evidence" and res["filing"] == "fail"
    assert res["elderly"] == "pass" and res["minors"] == "needs_evidence"  # unanswered


def test_ethics_review_case_answers_opinion_and_signed_result(
    client: Any,
    tenants: Any,
    run_jobs: Any,
    find_apk: Any,
    tmp_path: Path,
    uow_as: Any,
    actor_of: Any,
) -> None:
    apk = _variant(find_apk, tmp_path)
    h = tenants.a.headers()
    with apk.open("rb") as fh:
        scan = client.post(
            "/api/appcheck/scans", files={"file": (apk.name, fh, "application/zip")}, headers=h
        ).json()
    run_jobs()
    ids = []
    for _ in range(2):
        r = client.post(
            "/api/appcheck/reviews", json={"scan_id": scan["id"], "kind": "ethics"}, headers=h
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    review = r.json()
    assert review["signals"]["in_scope"] and "face_swap" in review["signals"]["sdk"]
    answers = {
        "answers": {
            "deep_synthesis_label": {"answer": "yes", "note": "生成图片均加注标识"},
            "personalisation_off": {"answer": "yes"},
            "filing": {"answer": "no", "note": "不具有舆论属性"},
        }
    }
    r = client.put(f"/api/appcheck/reviews/{ids[1]}/answers", json=answers, headers=h)
    assert r.status_code == 200, r.text
    res = {x["id"]: x for x in r.json()["results"]}
    assert res["deep_synthesis_label"]["result"] == "pass"
    assert any("AI生成" in e for e in res["deep_synthesis_label"]["evidence"])
    assert res["filing"]["result"] == "fail"
    bad = {"answers": {"nope": {"answer": "yes"}}}
    r = client.put(f"/api/appcheck/reviews/{ids[1]}/answers", json=bad, headers=h)
    assert r.status_code == 422 and r.json()["key"] == "appcheck.review.bad_question"
    r = client.put(
        f"/api/appcheck/reviews/{ids[1]}/answers", json=answers, headers=tenants.b.headers()
    )
    assert r.status_code == 404
    hr = tenants.operator.headers()
    # returning needs the reviewer's reasons
    r = client.post(
        f"/api/appcheck/reviews/{ids[0]}/decision", json={"decision": "return"}, headers=hr
    )
    assert r.status_code == 422 and r.json()["key"] == "appcheck.review.opinion_required"
    r = client.post(
        f"/api/appcheck/reviews/{ids[0]}/decision",
        json={"decision": "return", "opinion": "问卷未填写。"},
        headers=hr,
    )
    assert r.status_code == 200 and r.json()["decision"] == "returned"
    opinion = "算法备案不适用；深度合成标识已在页面中展示，同意通过。"
    r = client.post(
        f"/api/appcheck/reviews/{ids[1]}/decision",
        json={"decision": "accept", "opinion": opinion, "items": {"minors": "pass"}},
        headers=hr,
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["decision"] == "accepted" and out["opinion"] == opinion
    with uow_as(actor_of(tenants.a.admin)) as uow:
        vc = credentials.get_credential(
            uow=uow, actor=uow.actor, credential_id=out["credential_id"]
        )
        assert vc.type == "AlgorithmEthicsReview" and credentials.verify(vc.credential).ok
        subj = vc.credential["credentialSubject"]
        assert subj["kind"] == "ethics" and subj["opinion"] == opinion
        assert subj["results"]["deep_synthesis_label"] == "pass"
        assert subj["results"]["minors"] == "pass" and subj["results"]["filing"] == "fail"
