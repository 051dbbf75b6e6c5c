"""The whole flow through the API: finding → order → report with evidence → re-verify → decide → verify.

Also: a repeat of the same rule by the same organization is no longer a first offence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mingyue.core.config import Settings
from mingyue.sdk import deadline_after

from .conftest import LISTED, Verifier

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
FACTS = {"prohibited": False, "harm": "none", "no_fault_evidence": False}


def _order(client: Any, tenants: Any, finding_id: int) -> dict[str, Any]:
    r = client.post(
        "/api/supervision/rectifications",
        json={"finding_id": finding_id, "instructions": "停止超范围收集并删除已收集信息"},
        headers=tenants.regulator.headers(),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _report(client: Any, tenants: Any, rid: int) -> Any:
    return client.post(
        f"/api/supervision/rectifications/{rid}/reports",
        data={"text": "已删除定位权限并清除历史数据"},
        files=[("files", ("evidence.pdf", PDF, "application/pdf"))],
        headers=tenants.a.headers(),
    )


def test_finding_to_signed_decision_and_repeat(
    client: Any,
    tenants: Any,
    raise_: Any,
    verifier: Verifier,
    cli: Any,
    tmp_path: Path,
    settings: Settings,
) -> None:
    finding = raise_(tenants.a.org.id)
    listed = client.get("/api/supervision/findings", headers=tenants.regulator.headers()).json()
    assert [f["finding"]["id"] for f in listed] == [finding.id]
    assert listed[0]["finding"]["rule"] == LISTED and listed[0]["rectification"] is None

    rect = _order(client, tenants, finding.id)
    # The exemption list item sets 10 working days for this rule, on the mainland calendar.
    assert rect["working_days"] == 10 and rect["status"] == "ordered"
    ordered_at = client.get(f"/api/supervision/findings/{finding.id}", headers=tenants.a.headers())
    assert ordered_at.json()["finding"]["status"] == "rectifying"
    from datetime import datetime

    expected = deadline_after(datetime.fromisoformat(rect["ordered_at"]), 10, tz=settings.timezone)
    assert datetime.fromisoformat(rect["deadline"]) == expected
    assert rect["exemption_list_version"] is not None
    rid = rect["id"]
    assert (
        "report"
        in client.get(f"/api/supervision/rectifications/{rid}", headers=tenants.a.headers()).json()[
            "actions"
        ]
    )

    r = _report(client, tenants, rid)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "submitted"
    (ev,) = body["reports"][0]["files"]
    assert ev["filename"] == "evidence.pdf" and ev["mime"] == "application/pdf"

    r = client.post(f"/api/supervision/rectifications/{rid}/reverify", headers=tenants.a.headers())
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "reverifying" and r.json()["verification_state"] == "pending"
    assert verifier.calls == [(finding.id, ["supervision.report", "core.file"])]

    verifier.report(finding, fixed=True)
    pre = client.post(
        f"/api/supervision/rectifications/{rid}/decision/preview",
        json=FACTS,
        headers=tenants.regulator.headers(),
    )
    assert pre.status_code == 200, pre.text
    p = pre.json()
    assert p["facts"] == {
        "prohibited": False,
        "first_offence": True,
        "harm": "none",
        "corrected": "in_time",
        "no_fault_evidence": False,
        "on_exemption_list": True,
    }
    assert p["derivation"]["first_offence"]["source"] == "platform"
    assert p["decision"] == "no_penalty" and p["basis"]

    r = client.post(
        f"/api/supervision/rectifications/{rid}/decision",
        json=FACTS,
        headers=tenants.regulator.headers(),
    )
    assert r.status_code == 201, r.text
    done = r.json()
    assert done["status"] == "decided" and done["closed_at"]
    decision = done["decision"]
    assert decision["outcome"] == "no_penalty" and decision["credential_id"]
    f = client.get(f"/api/supervision/findings/{finding.id}", headers=tenants.a.headers()).json()
    assert f["finding"]["status"] == "closed" and f["decision"] == "no_penalty"

    # The enterprise shows the signed record; anyone verifies it offline.
    out = tmp_path / "decision.json"
    res = cli(
        "credential",
        "show",
        decision["credential_id"],
        "--as",
        tenants.a.member.username,
        "-o",
        str(out),
    )
    assert res.exit_code == 0, res.stderr
    vc = json.loads(out.read_text(encoding="utf-8"))
    assert vc["credentialSubject"]["outcome"] == "no_penalty"
    assert vc["credentialSubject"]["facts"]["first_offence"] is True
    res = cli("credential", "verify", str(out), "--json")
    assert res.exit_code == 0, res.stderr
    assert res.json()["ok"] is True

    # A report after the case closed is refused.
    late = _report(client, tenants, rid)
    assert late.status_code == 409, late.text
    assert late.json()["key"] == "supervision.rectification.not_reportable"

    # The same rule again, same organization: no longer a first offence.
    again = raise_(tenants.a.org.id)
    assert again.id != finding.id and again.previous_id == finding.id
    rect2 = _order(client, tenants, again.id)
    pre = client.post(
        f"/api/supervision/rectifications/{rect2['id']}/decision/preview",
        json=FACTS,
        headers=tenants.regulator.headers(),
    )
    assert pre.status_code == 200, pre.text
    assert pre.json()["facts"]["first_offence"] is False
    assert pre.json()["facts"]["corrected"] == "not_yet"
    assert pre.json()["decision"] == "rectification_ordered"
    r = client.post(
        f"/api/supervision/rectifications/{rect2['id']}/decision",
        json=FACTS,
        headers=tenants.regulator.headers(),
    )
    assert r.status_code == 409 and r.json()["key"] == "supervision.decision.awaits_correction"

    stats = client.get("/api/supervision/statistics", headers=tenants.regulator.headers()).json()
    assert stats["findings_total"] == 2
    assert [row["key"] for row in stats["by_enabler"]] == ["appcheck"]
    assert sum(sum(m["counts"].values()) for m in stats["decisions_by_month"]) == 1
    assert [o["id"] for o in stats["open_rectifications"]] == [rect2["id"]]
    hist = client.get(
        f"/api/supervision/organizations/{tenants.a.org.id}/history",
        headers=tenants.a.headers(),
    ).json()
    assert len(hist["findings"]) == 2 and len(hist["decisions"]) == 1
