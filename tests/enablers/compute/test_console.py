"""Console: the compute page lists pools and jobs; the submit form (fields or YAML) dispatches a
job once however often it is sent, and the job page shows translated states, reasons and one
billed amount."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from mingyue.core.metering.money import format_cny
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.uow import unit_of_work
from mingyue.enablers.compute import wording
from mingyue.enablers.compute.console import JobForm, spec_of
from mingyue.enablers.compute.models import ComputeJob
from mingyue.sdk.errors import InvalidInput

from .helpers import FLAT, add_pool, wait_done


def _login(client: Any, username: str) -> None:
    r = client.post(
        "/login",
        data={"username": username, "password": "password123", "next": "/compute"},
        follow_redirects=False,
    )
    assert r.status_code == 303


def _form(client: Any) -> dict[str, str]:
    page = client.get("/compute")
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    key = re.search(r'name="form_key" value="([^"]+)"', page.text)
    assert csrf and key
    return {"csrf_token": csrf.group(1), "form_key": key.group(1)}


def _visible(html: str) -> str:
    """The page without its technical-details toggles."""
    return re.sub(r'<details class="tech">.*?</details>', "", html, flags=re.S)


def _jobs(settings: Any) -> int:
    with unit_of_work(SYSTEM, settings) as uow, uow.unscoped(reason="test count"):
        return int(uow.session.scalar(select(func.count()).select_from(ComputeJob)) or 0)


def test_compute_page_and_submit_form(client: Any, tenants: Any, settings: Any) -> None:
    add_pool(settings, "local-a", cpus=2, tariff=FLAT)
    _login(client, tenants.a.member.username)
    page = client.get("/compute?lang=en")
    assert "local-a" in page.text and "Free quota left" in page.text
    assert client.get("/compute?lang=zh_CN").status_code == 200
    fields = _form(client)
    data = {
        **fields,
        "mode": "form",
        "command": "echo hi",
        "cpus": "1",
        "runtime": "10",
        "runtime_unit": "min",
    }
    r = client.post("/compute/submit", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/compute/jobs/1"
    job = client.get("/compute/jobs/1")
    assert job.status_code == 200
    shown = _visible(job.text)
    assert "10 分钟" in shown and "预估费用" in shown and "max_runtime_s" not in shown
    assert re.search(r'id="job-state" data-state="(queued|running|succeeded)"', job.text)
    # a reload (the browser re-posts the same form) lands on the same job and starts nothing
    again = client.post("/compute/submit", data=data, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/compute/jobs/1"
    assert _jobs(settings) == 1
    # the advanced tab takes YAML; a bad field re-shows the form, with a fresh key
    bad = {**_form(client), "mode": "yaml", "spec": "command: x\ncpus: -1\n"}
    r = client.post("/compute/submit", data=bad)
    assert r.status_code == 422 and "作业描述无效" in r.text and "CPU 核数" in r.text
    assert "cpus: -1" in r.text  # the YAML is kept
    assert bad["form_key"] not in r.text
    r = client.post("/compute/submit", data={"mode": "form", "command": "echo hi"})
    assert r.status_code == 403  # no CSRF token
    r = client.post(
        "/compute/submit", data={"csrf_token": fields["csrf_token"], "command": "echo hi"}
    )
    assert r.status_code == 422  # no form key: nothing starts
    assert _jobs(settings) == 1


def test_job_page_follows_the_job_and_bills_one_amount(
    client: Any, tenants: Any, settings: Any
) -> None:
    price = {"peak": "0.125", "flat": "0.125", "valley": "0.125"}
    add_pool(settings, "local-a", cpus=2, tariff={"cpu_second": price})
    _login(client, tenants.b.member.username)  # not an SME: no free quota
    page = client.get("/compute")
    assert "中小企业" in page.text  # why the free quota is 0 / 0
    data = {
        **_form(client),
        "command": "sleep 1",
        "cpus": "1",
        "runtime": "1",
        "runtime_unit": "min",
    }
    loc = client.post("/compute/submit", data=data, follow_redirects=False).headers["location"]
    job_id = int(loc.rsplit("/", 1)[1])
    live = client.get(f"{loc}/live")
    assert 'hx-trigger="every 2s"' in live.text or "已完成" in live.text
    done = wait_done(settings, job_id)
    assert done.state == "succeeded" and done.cost > 0
    live = client.get(f"{loc}/live")
    assert "hx-trigger" not in live.text and "已完成" in live.text  # polling stops
    page = client.get(loc)
    billed = re.search(r'id="job-billed">([^<]+)<', page.text)
    assert billed and billed.group(1) == format_cny(done.cost)
    assert "CPU 核·秒" in page.text and "compute.cpu_seconds" not in page.text
    assert "succeeded" not in re.sub(r'data-state="[a-z]+"|badge-[a-z]+', "", _visible(page.text))


def test_foreign_job_page_is_not_found(client: Any, tenants: Any, settings: Any) -> None:
    add_pool(settings, "local-a", cpus=2, tariff=FLAT)
    _login(client, tenants.a.member.username)
    data = {**_form(client), "command": "echo hi", "cpus": "1"}
    loc = client.post("/compute/submit", data=data, follow_redirects=False).headers["location"]
    client.cookies.clear()
    _login(client, tenants.b.member.username)
    assert client.get(loc).status_code == 404
    assert client.get(f"{loc}/live").status_code == 404


def test_form_fields_make_the_spec() -> None:
    f = JobForm(
        command="python train.py",
        cpus="4",
        gpus="2",
        gpu_model="A100",
        memory="1.5",
        memory_unit="GB",
        runtime="2",
        runtime_unit="h",
    )
    assert spec_of(f) == {
        "cpus": 4,
        "command": "python train.py",
        "gpus": {"count": 2, "model": "A100"},
        "memory_mb": 1536,
        "max_runtime_s": 7200,
    }
    try:
        spec_of(JobForm(cpus="zero"))
    except InvalidInput as exc:
        assert exc.key == "compute.form.cpus" and exc.field == "cpus"
    else:
        raise AssertionError("cpus=zero accepted")


def test_reasons_read_in_chinese() -> None:
    def zone(at: Any) -> str:
        return at.strftime("%H:%M")

    lines = wording.explain(
        "pool local-a: ¥0.36, start now; pool gpu rejected: no A100; "
        "pool big rejected: needs 8 CPUs, has 4",
        "zh_CN",
        zone,
    )
    assert lines == [
        "算力池 local-a：预估 ¥0.36，立即开始",
        "算力池 gpu 不适用：没有 A100",
        "算力池 big 不适用：需要 8 个 CPU，该池只有 4 个",
    ]
    assert wording.explain("exit code 3", "zh_CN", zone) == ["程序以退出码 3 结束"]
    assert (
        wording.runtime(600, "zh_CN") == "10 分钟" and wording.runtime(5400, "zh_CN") == "1.5 小时"
    )
    assert wording.explain("something new", "zh_CN", zone) == ["something new"]
