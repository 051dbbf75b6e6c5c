"""API: bad input names the field, two tenants do not leak, discretion, overdue, documents."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mingyue.core import clock
from mingyue.core.config import Settings
from mingyue.enablers.supervision import service
from mingyue.sdk import SYSTEM, unit_of_work

from .conftest import UNLISTED, Verifier

FACTS = {"prohibited": False, "harm": "minor", "no_fault_evidence": False}


def _order(client: Any, tenants: Any, finding_id: int) -> int:
    r = client.post(
        "/api/supervision/rectifications",
        json={"finding_id": finding_id},
        headers=tenants.regulator.headers(),
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_decision_request_names_the_bad_field(
    client: Any, tenants: Any, raise_: Any, verifier: Verifier
) -> None:
    rid = _order(client, tenants, raise_(tenants.a.org.id).id)
    url = f"/api/supervision/rectifications/{rid}/decision"
    h = tenants.regulator.headers()
    cases = [
        ({**FACTS, "first_offence": True}, "first_offence"),  # the platform knows it
        ({**FACTS, "harm": "big"}, "harm"),
        ({**FACTS, "prohibited": "yes"}, "prohibited"),
        ({k: v for k, v in FACTS.items() if k != "no_fault_evidence"}, "no_fault_evidence"),
    ]
    for body, field in cases:
        r = client.post(url, json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["field"] == field, r.json()
    bad_order = client.post("/api/supervision/rectifications", json={"finding_id": "x"}, headers=h)
    assert bad_order.status_code == 422 and bad_order.json()["field"] == "finding_id"
    again = client.post("/api/supervision/rectifications", json={"finding_id": 1}, headers=h)
    assert again.status_code in (404, 409)


def test_two_tenants_do_not_leak(
    client: Any, tenants: Any, raise_: Any, verifier: Verifier
) -> None:
    fa = raise_(tenants.a.org.id)
    raise_(tenants.b.org.id, subject="app:com.other")
    rid = _order(client, tenants, fa.id)
    hb = tenants.b.headers()
    seen = client.get("/api/supervision/findings", headers=hb).json()
    assert {f["finding"]["organization_id"] for f in seen} == {tenants.b.org.id}
    assert client.get(f"/api/supervision/findings/{fa.id}", headers=hb).status_code == 404
    assert client.get(f"/api/supervision/rectifications/{rid}", headers=hb).status_code == 404
    assert client.get("/api/supervision/rectifications", headers=hb).json() == []
    r = client.post(
        f"/api/supervision/rectifications/{rid}/reports", data={"text": "x"}, headers=hb
    )
    assert r.status_code == 404
    assert (
        client.post(f"/api/supervision/rectifications/{rid}/reverify", headers=hb).status_code
        == 404
    )
    hist = client.get(f"/api/supervision/organizations/{tenants.a.org.id}/history", headers=hb)
    assert hist.status_code == 404
    # An enterprise neither orders, decides nor dismisses, even on its own finding.
    ha = tenants.a.headers(admin=True)
    assert (
        client.post(
            "/api/supervision/rectifications", json={"finding_id": fa.id}, headers=ha
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/supervision/rectifications/{rid}/decision", json=FACTS, headers=ha
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/supervision/findings/{fa.id}/dismiss", json={"reason": "no"}, headers=ha
        ).status_code
        == 403
    )
    # A regulator does not report for the enterprise.
    r = client.post(
        f"/api/supervision/rectifications/{rid}/reports",
        data={"text": "x"},
        headers=tenants.regulator.headers(),
    )
    assert r.status_code == 403
    assert client.get("/api/supervision/findings").status_code == 401


def test_discretion_needs_a_choice_and_reasons(
    client: Any, tenants: Any, raise_: Any, verifier: Verifier
) -> None:
    finding = raise_(tenants.a.org.id, rule=UNLISTED, subject="db:orders")
    rid = _order(client, tenants, finding.id)
    r = client.post(
        f"/api/supervision/rectifications/{rid}/reports",
        data={"text": "已加密"},
        headers=tenants.a.headers(),
    )
    assert r.status_code == 201, r.text
    client.post(f"/api/supervision/rectifications/{rid}/reverify", headers=tenants.a.headers())
    verifier.report(finding, fixed=True)
    url = f"/api/supervision/rectifications/{rid}/decision"
    h = tenants.regulator.headers()
    pre = client.post(f"{url}/preview", json=FACTS, headers=h).json()
    assert pre["facts"]["on_exemption_list"] is False and pre["decision"] == "discretionary"
    assert pre["needs_discretion"] is True
    r = client.post(url, json=FACTS, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "discretion"
    r = client.post(url, json={**FACTS, "discretion": "waive"}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "reasons"
    r = client.post(
        url, json={**FACTS, "discretion": "waive", "reasons": "初次、已主动改正"}, headers=h
    )
    assert r.status_code == 201, r.text
    d = r.json()["decision"]
    assert d["decision"] == "discretionary" and d["outcome"] == "waived"
    assert d["reasons"] == "初次、已主动改正"


def test_deadline_passes_overdue_then_late(
    client: Any, tenants: Any, raise_: Any, verifier: Verifier, settings: Settings
) -> None:
    finding = raise_(tenants.a.org.id, rule=UNLISTED, subject="db:late")
    rid = _order(client, tenants, finding.id)
    rect = client.get(f"/api/supervision/rectifications/{rid}", headers=tenants.a.headers()).json()
    assert rect["working_days"] == 5  # the rule's own limit (not on the list)
    from datetime import datetime

    deadline = datetime.fromisoformat(rect["deadline"])
    with clock.frozen(deadline + timedelta(days=1)):
        with unit_of_work(SYSTEM, settings) as uow:
            done = service.remind(uow)
        assert done["overdue"] == [rid]
        with unit_of_work(SYSTEM, settings) as uow:
            assert service.remind(uow)["overdue"] == []  # once
        r = client.get(f"/api/supervision/rectifications/{rid}", headers=tenants.a.headers())
        assert r.json()["status"] == "overdue" and r.json()["working_days_left"] < 0
        pre = client.post(
            f"/api/supervision/rectifications/{rid}/decision/preview",
            json=FACTS,
            headers=tenants.regulator.headers(),
        ).json()
        assert pre["facts"]["corrected"] == "late" and pre["decision"] == "penalty_procedure"
        # A late report is still taken.
        r = client.post(
            f"/api/supervision/rectifications/{rid}/reports",
            data={"text": "补交"},
            headers=tenants.a.headers(),
        )
        assert r.status_code == 201 and r.json()["status"] == "submitted"


def test_documents_versions_and_selfcheck(client: Any, tenants: Any) -> None:
    docs = client.get("/api/supervision/documents", headers=tenants.a.headers()).json()
    kinds = {d["kind"] for d in docs}
    assert kinds == {"exemption_list", "guideline"}
    lst = next(d for d in docs if d["kind"] == "exemption_list")
    full = client.get(f"/api/supervision/documents/{lst['slug']}", headers=tenants.a.headers())
    content = full.json()["content"]
    # An enterprise cannot publish; the regulator can; the old version stays for its dates.
    body = {
        "effective_from": (clock.now().date() + timedelta(days=30)).isoformat(),
        "content": content,
    }
    url = f"/api/supervision/documents/{lst['slug']}/versions"
    assert client.post(url, json=body, headers=tenants.a.headers(admin=True)).status_code == 403
    r = client.post(url, json=body, headers=tenants.regulator.headers())
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["version"] == lst["version"] + 1 and new["in_force"] is False
    versions = client.get(
        "/api/supervision/documents?all_versions=true", headers=tenants.a.headers()
    ).json()
    assert any(v["version"] == lst["version"] and v["in_force"] for v in versions)
    bad = client.post(
        url,
        json={**body, "content": {**content, "items": "none"}},
        headers=tenants.regulator.headers(),
    )
    assert bad.status_code == 422 and bad.json()["field"].startswith("items")
    other = client.post(
        url, json={**body, "content": {**content, "id": "x"}}, headers=tenants.regulator.headers()
    )
    assert other.status_code == 422 and other.json()["field"] == "content.id"

    guide = next(d for d in docs if d["kind"] == "guideline")
    g = client.get(
        f"/api/supervision/documents/{guide['slug']}", headers=tenants.a.headers()
    ).json()
    answers = {q["id"]: q["options"][0]["value"] for q in g["content"]["questions"]}
    r = client.post(
        "/api/supervision/selfchecks",
        json={"slug": guide["slug"], "answers": answers},
        headers=tenants.a.headers(),
    )
    assert r.status_code == 201, r.text
    assert "score" in r.json()["result"]
    assert client.get("/api/supervision/selfchecks", headers=tenants.b.headers()).json() == []
    r = client.post(
        "/api/supervision/selfchecks",
        json={"slug": guide["slug"], "answers": {"nope": True}},
        headers=tenants.a.headers(),
    )
    assert r.status_code == 422
