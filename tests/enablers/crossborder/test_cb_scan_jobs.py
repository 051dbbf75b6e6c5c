"""Large scans as jobs, the NER budget, and Office documents under the archive caps (issue 12/4)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from cb_bombs import docx_bomb, small_docx
from sqlalchemy import select

from mingyue.core.ledger.audit import AuditEntry
from mingyue.enablers.crossborder import service
from mingyue.enablers.crossborder.scans import scan_job_dir

ID = "11010519491231002X"


def _scratch(settings: Any) -> list[Path]:
    return list(scan_job_dir(settings).iterdir()) + list(
        (settings.data_dir / "files" / "tmp").glob("*")
    )


def test_a_large_upload_becomes_a_job_that_keeps_hashes_only(
    client: Any, tenants: Any, settings: Any, run_jobs: Any, uow_as: Any, actor_of: Any
) -> None:
    settings.crossborder = {"sync_scan_max_bytes": 1024}
    ha, hb = tenants.a.headers(), tenants.b.headers()
    body = f"客户身份证{ID}，手机13800138000。\n".encode() * 100
    small = client.post(
        "/api/crossborder/scans?ner=false", files={"file": ("s.txt", body[:500])}, headers=ha
    )
    assert small.status_code == 201 and small.json()["counts"]["CN_RESIDENT_ID"] >= 1
    refused = client.post(
        "/api/crossborder/scans?ner=false&show_values=true",
        files={"file": ("p.txt", body)},
        headers=ha,
    )
    assert refused.status_code == 413 and refused.json()["key"] == "crossborder.values_sync_only"
    assert _scratch(settings) == []

    r = client.post("/api/crossborder/scans?ner=false", files={"file": ("p.txt", body)}, headers=ha)
    assert r.status_code == 202, r.text
    queued = r.json()
    assert queued["status_url"] == f"/api/jobs/{queued['job_id']}" and queued["size"] == len(body)
    assert len(list(scan_job_dir(settings).iterdir())) == 1  # kept until the job ends
    job = client.get(queued["status_url"], headers=ha).json()
    assert job["kind"] == "crossborder.scan" and job["status"] == "queued"
    assert ID not in json.dumps(job) and "13800138000" not in json.dumps(job)

    [done] = run_jobs()
    assert done.status == "succeeded", done.error
    assert _scratch(settings) == []  # the upload is gone with its job
    job = client.get(queued["status_url"], headers=ha).json()
    assert job["progress"] == 100 and job["result"]["counts"] == {
        "CN_RESIDENT_ID": 100,
        "CN_MOBILE": 100,
    }
    report = client.get(job["result"]["report_url"], headers=ha)
    assert report.status_code == 200
    assert report.json()["sha256"] == queued["sha256"] and report.json()["ner_truncated"] is False
    assert ID not in report.text and "13800138000" not in report.text
    assert report.json()["id"] in [
        x["id"] for x in client.get("/api/crossborder/scans", headers=ha).json()
    ]
    # The other tenant sees neither the job nor the report.
    assert client.get(job["result"]["report_url"], headers=hb).status_code == 404
    assert client.get(queued["status_url"], headers=hb).status_code in (403, 404)
    with uow_as(actor_of(tenants.a.admin)) as uow:
        actions = [e.action for e in uow.session.scalars(select(AuditEntry))]
    assert actions.count("crossborder.scan.completed") == 2 and "core.file.stored" not in actions


def test_a_job_fails_cleanly_on_an_unscannable_file(
    client: Any, tenants: Any, settings: Any, run_jobs: Any
) -> None:
    settings.crossborder = {"sync_scan_max_bytes": 16}
    r = client.post(
        "/api/crossborder/scans?ner=false",
        files={"file": ("x.txt", b"\x00\x01\x02binary" * 10)},
        headers=tenants.a.headers(),
    )
    assert r.status_code == 202
    [done] = run_jobs()
    assert done.status == "failed" and "binary" in (done.error or "")
    assert _scratch(settings) == []


def test_ner_budget_truncates_and_the_report_says_so(settings: Any, tmp_path: Path) -> None:
    f = tmp_path / "memo.txt"
    f.write_text(("投保人周文静住四川省成都市武侯区人民南路四段9号。\n" * 400) + f"身份证{ID}\n")
    settings.crossborder = {"ner_budget_s": 0.001}
    out = service.scan_local(path=f, settings=settings, ner=True)
    assert out["ner"] is True and out["ner_truncated"] is True
    assert out["counts"]["CN_RESIDENT_ID"] == 1  # the pattern path completes
    settings.crossborder = {}
    small = tmp_path / "s.txt"
    small.write_text("投保人周文静。\n")
    assert service.scan_local(path=small, settings=settings)["ner_truncated"] is False


def test_docx_bomb_is_refused_by_the_api_and_the_cli(
    client: Any, tenants: Any, settings: Any, cli: Any, tmp_path: Path
) -> None:
    bomb = docx_bomb(tmp_path / "bomb.docx")
    assert bomb.stat().st_size < 400_000
    ha = tenants.a.headers()
    for sync_max in (64 * 1024, 1 << 20):  # as a job (refused before it is queued) and at once
        settings.crossborder = {"sync_scan_max_bytes": sync_max}
        r = client.post(
            "/api/crossborder/scans?ner=false",
            files={"file": ("bomb.docx", bomb.read_bytes())},
            headers=ha,
        )
        assert r.status_code == 422, r.text
        assert r.json()["key"].startswith("core.archive."), r.json()
        assert _scratch(settings) == []
    r = cli("crossborder", "scan", str(bomb), "--json")
    assert r.exit_code == 2 and "expands" in r.stderr, r.stderr
    ok = small_docx(tmp_path / "ok.docx", f"客户身份证{ID}")
    r = cli("crossborder", "scan", str(ok), "--json", "--no-ner")
    assert r.exit_code == 0 and r.json()["counts"] == {"CN_RESIDENT_ID": 1}


_RSS_PROBE = """
import json, resource, sys
from pathlib import Path
from mingyue.sdk import MingyueError, Settings
from mingyue.enablers.crossborder import scans
import docx  # imported before the baseline: only the scan's own growth counts
settings = Settings(data_dir=Path(sys.argv[2]), env="test")
limits = scans.scan_limits(settings)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    scans.run_scan(Path(sys.argv[1]), b"k", limits)
    key = None
except MingyueError as exc:
    key = exc.key
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"key": key, "growth_kb": after - before}))
"""


def test_docx_bomb_never_reaches_high_rss(tmp_path: Path) -> None:
    bomb = docx_bomb(tmp_path / "bomb.docx")
    (tmp_path / "data").mkdir()
    out = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(bomb), str(tmp_path / "data")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["key"] is not None and got["key"].startswith("core.archive.")
    assert got["growth_kb"] < 100 * 1024, got  # python-docx alone reached 954 MB
