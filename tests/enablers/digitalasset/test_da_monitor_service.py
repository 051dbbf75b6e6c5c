"""Monitoring through the API and CLI: runs, de-duplication, verdicts and suppression, labels,
tenant isolation, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CSV = (
    "ts,collection,token_id,seller,buyer,price_cny,seller_first_funder,buyer_first_funder\n"
    "1700000000,C1,1,0xaaa,0xaaa,10,,\n"
    "1700000100,C1,2,0xbbb,0xccc,10,,\n"
    "1700000900,C1,2,0xccc,0xbbb,11,,\n"
    "1700001000,C1,3,0xddd,0xeee,5,0xf00,0xf00\n"
)


def _upload(client: Any, headers: dict[str, str], text: str = CSV, name: str = "sales.csv") -> Any:
    return client.post(
        "/api/digitalasset/monitor/runs",
        files={"file": (name, text.encode(), "text/csv")},
        headers=headers,
    )


def _check(
    client: Any, run_jobs: Any, headers: dict[str, str], text: str = CSV, name: str = "sales.csv"
) -> dict[str, Any]:
    """Queue a check (202), run the job, return the finished run."""
    r = _upload(client, headers, text, name)
    assert r.status_code == 202, r.text
    queued = r.json()
    assert queued["status"] == "queued" and queued["job_id"] and queued["events"] == 0
    run_jobs()
    done = client.get(f"/api/digitalasset/monitor/runs/{queued['id']}", headers=headers)
    assert done.status_code == 200, done.text
    return dict(done.json())


def test_run_dedupe_decide_and_suppress(client: Any, tenants: Any, run_jobs: Any) -> None:
    h = tenants.a.headers()
    run = _check(client, run_jobs, h)
    assert run["status"] == "done" and run["finished_at"]
    assert run["events"] == 4 and run["alerts_new"] == 3
    alerts = client.get("/api/digitalasset/monitor/alerts", headers=h).json()
    assert {a["pattern"] for a in alerts} == {"self_trade", "back_and_forth", "common_funder"}
    assert json.dumps(alerts)  # evidence is plain JSON
    again = _check(client, run_jobs, h)
    assert again["alerts_new"] == 0 and again["alerts_seen"] == 3
    baf = next(a for a in alerts if a["pattern"] == "back_and_forth")
    one = client.get(f"/api/digitalasset/monitor/alerts/{baf['id']}", headers=h).json()
    assert one["occurrences"] == 2 and one["rows"] == [1, 2]
    assert {e["row"] for e in one["evidence"]["graph"]["edges"] if e["kind"] == "sale"} == {1, 2}
    # a member may not decide; the organization's admin may
    r = client.post(
        f"/api/digitalasset/monitor/alerts/{baf['id']}/decision",
        json={"verdict": "false_positive", "note": "market maker"},
        headers=h,
    )
    assert r.status_code == 403
    ah = tenants.a.headers(admin=True)
    r = client.post(
        f"/api/digitalasset/monitor/alerts/{baf['id']}/decision",
        json={"verdict": "false_positive", "note": ""},
        headers=ah,
    )
    assert r.status_code == 422
    r = client.post(
        f"/api/digitalasset/monitor/alerts/{baf['id']}/decision",
        json={"verdict": "false_positive", "note": "market maker"},
        headers=ah,
    )
    assert r.status_code == 200 and r.json()["status"] == "false_positive"
    r = client.post(
        f"/api/digitalasset/monitor/alerts/{baf['id']}/decision",
        json={"verdict": "confirmed"},
        headers=ah,
    )
    assert r.status_code == 409
    # the same pair in a new export stays silent for that pattern
    shifted = CSV.replace("1700000100", "1800000100").replace("1700000900", "1800000900")
    third = _check(client, run_jobs, h, shifted)
    assert third["suppressed"] == 1


def test_labels_exclude_a_funder(client: Any, tenants: Any, run_jobs: Any) -> None:
    ah = tenants.a.headers(admin=True)
    r = client.post(
        "/api/digitalasset/monitor/labels",
        json={"address": "0xF00", "kind": "exchange", "source": "analyst", "confidence": 0.9},
        headers=ah,
    )
    assert r.status_code == 201, r.text
    dup = client.post(
        "/api/digitalasset/monitor/labels",
        json={"address": "0xf00", "kind": "exchange", "source": "analyst"},
        headers=ah,
    )
    assert dup.status_code == 409
    r = client.post(
        "/api/digitalasset/monitor/labels/import",
        files={"file": ("l.csv", b"address,kind\n0xf01,mixer\n0xf00,exchange\n", "text/csv")},
        headers=ah,
    )
    assert r.json() == {"added": 2}  # 0xf00 from "import" is a new source
    bad = client.post(
        "/api/digitalasset/monitor/labels", json={"address": "0x1", "kind": "friend"}, headers=ah
    )
    assert bad.status_code == 422
    _check(client, run_jobs, tenants.a.headers())
    pats = {a["pattern"] for a in client.get("/api/digitalasset/monitor/alerts", headers=ah).json()}
    assert "common_funder" not in pats


def test_other_tenant_sees_nothing(client: Any, tenants: Any, run_jobs: Any) -> None:
    run = _check(client, run_jobs, tenants.a.headers())
    mine = client.get("/api/digitalasset/monitor/alerts", headers=tenants.a.headers()).json()
    hb = tenants.b.headers(admin=True)
    assert client.get("/api/digitalasset/monitor/alerts", headers=hb).json() == []
    assert client.get("/api/digitalasset/monitor/runs", headers=hb).json() == []
    r = client.get(f"/api/digitalasset/monitor/runs/{run['id']}", headers=hb)
    assert r.status_code == 404
    r = client.get(f"/api/digitalasset/monitor/alerts/{mine[0]['id']}", headers=hb)
    assert r.status_code == 404
    r = client.post(
        f"/api/digitalasset/monitor/alerts/{mine[0]['id']}/decision",
        json={"verdict": "confirmed"},
        headers=hb,
    )
    assert r.status_code == 404
    # a regulator supervises across organizations
    reg = client.get("/api/digitalasset/monitor/alerts", headers=tenants.regulator.headers()).json()
    assert {a["id"] for a in mine} <= {a["id"] for a in reg}


def test_bad_export_is_a_clear_422(client: Any, tenants: Any) -> None:
    r = _upload(client, tenants.a.headers(), "ts,collection\n1,C\n")
    assert r.status_code == 422
    assert "lack the column" in r.json()["detail"]
    r = _upload(client, tenants.a.headers(), '[{"ts": 1}]', name="x.json")
    assert r.status_code == 422


def test_cli_monitor_json_and_errors(cli: Any, tmp_path: Path) -> None:
    f = tmp_path / "sales.csv"
    f.write_text(CSV + "1700002000,C1,9,0xq,0xr,1,,\n")
    res = cli("digitalasset", "monitor", str(f), "--json")
    assert res.exit_code == 0, res.stderr
    doc = res.json()
    assert set(doc) == {"alerts"}
    for a in doc["alerts"]:
        assert set(a) == {"pattern", "severity", "rows", "addresses", "tokens"}
    assert {tuple(a["rows"]) for a in doc["alerts"]} == {(0,), (1, 2), (3,)}
    labels = tmp_path / "labels.csv"
    labels.write_text("address,kind\n0xf00,exchange\n")
    res = cli("digitalasset", "monitor", str(f), "--labels", str(labels), "--json")
    assert "common_funder" not in {a["pattern"] for a in res.json()["alerts"]}
    bad = tmp_path / "bad.csv"
    bad.write_text("ts,collection,token_id,seller,buyer,price_cny\n1,C,1,a,b,free\n")
    res = cli("digitalasset", "monitor", str(bad), "--json")
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "price_cny" in res.stderr and "Traceback" not in res.stderr
    res = cli("digitalasset", "monitor", str(tmp_path / "missing.csv"))
    assert res.exit_code == 2 and "Traceback" not in res.stderr
