"""The shared console helpers: one-time form keys (``run_once``), the error box and the page
with it, the 303 after a POST, the live job status, the display filters."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.requests import Request

from mingyue.core import jobs
from mingyue.core.errors import Conflict, InvalidInput, MingyueError, RecordedRefusal
from mingyue.core.forms import FormKey
from mingyue.core.jobs.models import Job
from mingyue.core.uow import UnitOfWork, unit_of_work
from mingyue.i18n import t
from mingyue.sdk import format_cny
from mingyue.web.console import (
    environment,
    error_box,
    form_done,
    form_once,
    lang_of,
    new_form_key,
    render_page,
    run_once,
    see_other,
    settings_of,
)
from mingyue.web.display import format_citation, rendering_locale, zh_number


def _login(client: Any, user: Any) -> str:
    r = client.post(
        "/login",
        data={"username": user.username, "password": "password123"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get("/jobs").text
    return page.split('name="csrf-token" content="')[1].split('"')[0]


def _selftests(settings: Any, org_id: int) -> int:
    with unit_of_work(settings=settings) as uow, uow.unscoped("test count", record=False) as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.organization_id == org_id, Job.kind == "core.selftest")
            )
        )


def test_a_key_starts_work_once_and_sends_repeats_to_the_same_place(
    settings: Any, tenants: Any, actor_of: Any
) -> None:
    admin = actor_of(tenants.operator.admin)
    key = new_form_key()
    assert key != new_form_key() and 16 <= len(key) <= 64
    with unit_of_work(admin, settings) as uow:
        assert form_once(uow, admin, key) is None
        job = jobs.submit(uow=uow, actor=admin, kind="core.selftest", params={"seconds": 0})
        form_done(uow, key, f"/jobs/{job.id}")
    with unit_of_work(admin, settings) as uow:
        assert form_once(uow, admin, key) == f"/jobs/{job.id}"
    assert _selftests(settings, tenants.operator.org.id) == 1
    # keys are per user: another user's identical key is a different form
    other = actor_of(tenants.a.admin)
    with unit_of_work(other, settings) as uow:
        assert form_once(uow, other, key) is None
    # a failed attempt leaves the key free for the corrected form
    fresh = new_form_key()
    with pytest.raises(InvalidInput), unit_of_work(admin, settings) as uow:
        assert form_once(uow, admin, fresh) is None
        jobs.submit(uow=uow, actor=admin, kind="core.selftest", params={"seconds": -1})
    with unit_of_work(admin, settings) as uow:
        assert form_once(uow, admin, fresh) is None
    for bad in ("", "short", "x" * 65, "bad key with spaces!!", None):
        with pytest.raises(InvalidInput) as exc, unit_of_work(admin, settings) as uow:
            form_once(uow, admin, bad)
        assert exc.value.key == "core.form_key.missing" and exc.value.field == "form_key"


def test_two_concurrent_posts_of_one_form_make_one_job(
    settings: Any, tenants: Any, actor_of: Any
) -> None:
    admin = actor_of(tenants.operator.admin)
    key = new_form_key()
    start = threading.Barrier(2)
    seen: list[str] = []
    errors: list[BaseException] = []

    def post() -> None:
        try:
            start.wait(timeout=10)
            with unit_of_work(admin, settings) as uow:
                loc = form_once(uow, admin, key)
                if loc is None:
                    job = jobs.submit(
                        uow=uow, actor=admin, kind="core.selftest", params={"seconds": 0}
                    )
                    loc = f"/jobs/{job.id}"
                    form_done(uow, key, loc)
            seen.append(loc)
        except BaseException as exc:  # the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=post) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not errors, errors
    assert len(seen) == 2 and seen[0] == seen[1]
    assert _selftests(settings, tenants.operator.org.id) == 1
    with unit_of_work(settings=settings) as uow, uow.unscoped("test", record=False) as s:
        assert s.scalar(select(func.count()).select_from(FormKey)) == 1


def test_double_post_over_http_creates_one_job(client: Any, settings: Any, tenants: Any) -> None:
    token = _login(client, tenants.operator.admin)
    key = client.get("/jobs").text.split('name="form_key" value="')[1].split('"')[0]
    form = {"seconds": "0", "csrf_token": token, "form_key": key}
    first = client.post("/jobs/selftest", data=form, follow_redirects=False)
    second = client.post("/jobs/selftest", data=form, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert _selftests(settings, tenants.operator.org.id) == 1


def test_live_status_polls_until_the_job_ends_and_is_tenant_checked(
    client: Any, settings: Any, tenants: Any, actor_of: Any, run_jobs: Any
) -> None:
    member = actor_of(tenants.a.member)
    with unit_of_work(member, settings) as uow:
        job = jobs.enqueue(uow=uow, kind="core.selftest", params={"seconds": 0, "steps": 1})
    _login(client, tenants.a.member)
    since = int(datetime.now(UTC).timestamp() * 1000)
    r = client.get(f"/jobs/{job.id}/status?since={since}")
    assert r.status_code == 200 and "<html" not in r.text
    assert 'hx-trigger="every 2s"' in r.text and "排队中" in r.text
    assert "HX-Refresh" not in r.headers
    run_jobs()
    r = client.get(f"/jobs/{job.id}/status?since={since}")
    assert "已完成" in r.text and "every 2s" not in r.text  # polling stops
    assert r.headers.get("HX-Refresh") == "true"  # ended after the page: reload it once
    r = client.get(f"/jobs/{job.id}/status?since={since}&done=/jobs/{job.id}")
    assert "HX-Refresh" not in r.headers and f'hx-get="/jobs/{job.id}"' in r.text
    later = int(datetime.now(UTC).timestamp() * 1000) + 5000
    r = client.get(f"/jobs/{job.id}/status?since={later}")  # a page rendered after the end
    assert "HX-Refresh" not in r.headers and "every 2s" not in r.text
    r = client.get(f"/jobs/{job.id}/status?since={since}&done=https://evil.example/x")
    assert "evil.example" not in r.text
    assert client.get(f"/jobs/{job.id}/status?since=-1").status_code == 422
    # the other tenant gets a 404, not the box
    client.cookies.clear()
    _login(client, tenants.b.admin)
    r = client.get(f"/jobs/{job.id}/status", headers={"accept": "text/html"})
    assert r.status_code == 404 and "live-job" not in r.text
    client.cookies.clear()
    r = client.get(f"/jobs/{job.id}/status", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_the_job_page_shows_parameters_and_results_as_tables(
    client: Any, settings: Any, tenants: Any, actor_of: Any, run_jobs: Any
) -> None:
    member = actor_of(tenants.a.member)
    with unit_of_work(member, settings) as uow:
        job = jobs.enqueue(
            uow=uow, kind="core.selftest", params={"seconds": 0, "steps": 2, "echo": "你好"}
        )
    run_jobs()
    _login(client, tenants.a.member)
    page = client.get(f"/jobs/{job.id}").text.split("<main>")[1]
    visible, tech = page.split('<details class="tech">')
    assert "平台自检" in visible and "已完成步数" in visible and "你好" in visible
    assert '{"' not in visible and "core.selftest" not in visible
    assert "core.selftest" in tech and "技术详情" in tech
    listing = client.get("/jobs").text
    assert "平台自检" in listing and "<code>core.selftest" not in listing


def _render(src: str, locale: str = "zh_CN", **ctx: Any) -> str:
    with rendering_locale(locale):
        return environment().from_string(src).render(locale=locale, **ctx)


def test_money_is_one_rounding_rule() -> None:
    assert format_cny(Decimal("1234.565")) == "¥1,234.57"
    assert format_cny(Decimal("0.0026")) == "¥0.00"
    assert format_cny(Decimal("0.005")) == "¥0.01"
    assert format_cny(Decimal("-0.5")) == "-¥0.50"
    assert format_cny(Decimal("-0.001")) == "¥0.00"
    assert format_cny(0.1) == "¥0.10" and format_cny(3) == "¥3.00"
    assert format_cny(None) == "—"
    with pytest.raises(ValueError):
        format_cny("abc")
    with pytest.raises(ValueError):
        format_cny(Decimal("NaN"))
    assert _render("{{ x | money }}", x=Decimal("12.345")) == "¥12.35"


def test_local_time_in_the_display_zone_with_iso_in_the_title() -> None:
    at = datetime(2026, 12, 7, 8, 42, 5, tzinfo=UTC)
    html = _render("{{ at | local_dt }}", at=at)
    assert ">2026-12-07 16:42<" in html
    assert (
        'title="2026-12-07T08:42:05Z · UTC+8' in html and 'datetime="2026-12-07T08:42:05Z"' in html
    )
    assert "16:42:05" in _render("{{ at | local_dt(seconds=True) }}", at=at)
    assert _render("{{ none | local_dt }}", none=None) == "—"


def test_citations_in_chinese_legal_form() -> None:
    assert zh_number(38) == "三十八" and zh_number(10) == "十" and zh_number(105) == "一百零五"
    assert format_citation("PIPL Art. 38(2)") == "个人信息保护法第三十八条第二项"
    assert format_citation("PIPL Art. 13") == "个人信息保护法第十三条"
    assert (
        format_citation("CAC 2024 Art. 5(1)(2)") == "促进和规范数据跨境流动规定第五条第一款第二项"
    )
    assert format_citation({"instrument": "PIPL", "article": 38, "item": 2}) == (
        "个人信息保护法第三十八条第二项"
    )
    assert format_citation("PIPL Art. 38(2)", "en") == "PIPL Art. 38(2)"
    assert format_citation({"instrument": "PIPL", "article": 38, "item": 2}, "en") == (
        "PIPL Art. 38(2)"
    )
    assert format_citation("not a citation") == "not a citation"
    assert _render("{{ c | citation }}", c="DSL Art. 21") == "数据安全法第二十一条"
    assert _render("{{ c | citation }}", "en", c="DSL Art. 21") == "DSL Art. 21"


def test_kv_table_and_tech_details_show_data_without_json() -> None:
    src = (
        '{% from "_tech.html" import kv_table, tech_details %}'
        "{{ kv_table(d) }}{{ tech_details(d) }}"
    )
    data = {
        "seconds": 3,
        "max_runtime_s": 600,
        "ok": True,
        "rows": [{"industry": "制造业", "n": 102}],
        "nested": {"month": "2026-11"},
    }
    html = _render(src, d=data)
    visible, tech = html.split('<details class="tech">')
    assert "时长（秒）" in visible and "max runtime s" in visible and "是" in visible
    assert '<th scope="col">' in visible and "制造业" in visible and "2026-11" in visible
    assert "月份" in visible
    assert '{"' not in visible and "max_runtime_s" not in visible
    assert "技术详情" in tech and "max_runtime_s" in tech
    assert "Technical details" in _render(src, "en", d=data)
    assert t("core.none") in _render('{% from "_tech.html" import kv_table %}{{ kv_table({}) }}')


def test_error_pages_are_readable_in_both_languages(client: Any, tenants: Any) -> None:
    _login(client, tenants.a.member)
    html = {"accept": "text/html"}
    r = client.get("/no/such/page", headers=html)
    assert r.status_code == 404 and "<html" in r.text and "页面或对象不存在" in r.text
    assert '"key"' not in r.text and "{&#34;" not in r.text
    r = client.get("/no/such/page?lang=en", headers=html)
    assert r.status_code == 404 and "Not found" in r.text and 'lang="en"' in r.text
    r = client.get("/jobs/notanumber?lang=zh_CN", headers=html)
    assert r.status_code == 422 and "输入有误" in r.text and '"errors"' not in r.text
    r = client.get("/jobs/999999", headers=html)
    assert r.status_code == 404 and "任务不存在" in r.text
    # the API keeps problem+json
    r = client.get("/api/no/such", headers=tenants.a.headers())
    assert r.status_code == 404 and r.json()["key"] == "core.not_found"


def _request(settings: Any, query: str = "") -> Request:
    """Return a bare console request of the app over ``settings`` (no session: no actor)."""
    app = SimpleNamespace(state=SimpleNamespace(settings=settings))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/somewhere",
        "root_path": "",
        "scheme": "http",
        "server": ("testserver", 80),
        "query_string": query.encode(),
        "headers": [],
        "app": app,
    }
    return Request(scope)


def test_lang_of_and_the_303_that_ends_a_post(settings: Any) -> None:
    assert lang_of("zh_CN") == "zh" and lang_of("en") == "en"
    r = see_other("/citygov/cases/7#history")
    assert r.status_code == 303 and r.headers["location"] == "/citygov/cases/7#history"
    assert settings_of(_request(settings)) is settings


def test_error_box_translates_and_keeps_the_detail(settings: Any) -> None:
    exc = InvalidInput("core.form_key.missing", "form key missing", field="form_key")
    zh = error_box(_request(settings), exc)
    en = error_box(_request(settings, "lang=en"), exc)
    assert zh["message"] == t("core.form_key.missing", "zh_CN") != exc.key
    assert en["message"] == t("core.form_key.missing", "en") != zh["message"]
    assert zh["detail"] == en["detail"] == "form key missing"
    # a key the catalogues lack shows the English message, never the key
    unknown = error_box(_request(settings), Conflict("nowhere.no_such_key", "it clashed"))
    assert unknown == {"message": "it clashed", "detail": "it clashed"}
    # params fill the message; ``params=`` replaces the error's own
    quota = MingyueError("core.error.title.other", "x", status=418)
    assert "418" in error_box(_request(settings), quota)["message"]
    assert "418" not in error_box(_request(settings), quota, params={})["message"]


def test_render_page_shows_the_box_with_the_errors_status(settings: Any) -> None:
    ctx = {"title": "标题", "message": "出错了", "status": 409}
    page = render_page(_request(settings), "error.html", ctx)
    assert page.status_code == 200 and "出错了" in bytes(page.body).decode()
    failed = render_page(
        _request(settings),
        "error.html",
        {**ctx, "detail": "d"},  # the technical details show the box's ``key``
        Conflict("x.clash", "it clashed"),
        box=lambda _r, e: {"key": f"box-of-{e.key}"},
    )
    assert failed.status_code == 409
    assert "box-of-x.clash" in bytes(failed.body).decode()


def test_run_once_does_the_work_once_and_redirects_every_repeat(
    settings: Any, tenants: Any, actor_of: Any
) -> None:
    admin = actor_of(tenants.operator.admin)
    request = _request(settings)
    key = new_form_key()
    calls: list[int] = []

    def work(uow: UnitOfWork) -> str:
        job = jobs.submit(uow=uow, actor=admin, kind="core.selftest", params={"seconds": 0})
        calls.append(job.id)
        return f"/jobs/{job.id}"

    first = run_once(request, admin, key, work)
    again = run_once(request, admin, key, work)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"] == f"/jobs/{calls[0]}"
    assert len(calls) == 1 and _selftests(settings, tenants.operator.org.id) == 1


def test_run_once_shows_the_form_again_on_an_error_and_frees_the_key(
    settings: Any, tenants: Any, actor_of: Any
) -> None:
    admin = actor_of(tenants.operator.admin)
    request = _request(settings)
    key = new_form_key()
    shown: list[str] = []

    def bad(uow: UnitOfWork) -> str:
        jobs.submit(uow=uow, actor=admin, kind="core.selftest", params={"seconds": 0})
        raise Conflict("x.clash", "it clashed")

    def again(exc: MingyueError) -> Any:
        shown.append(exc.key)
        return see_other("/form-again")

    r = run_once(request, admin, key, bad, on_error=again)
    assert r.headers["location"] == "/form-again" and shown == ["x.clash"]
    assert _selftests(settings, tenants.operator.org.id) == 0  # rolled back, key included
    # without on_error the error reaches the console's error page
    with pytest.raises(Conflict):
        run_once(request, admin, key, bad)
    # the corrected form goes through under the same key
    ok = run_once(request, admin, key, lambda uow: "/done")
    assert ok.headers["location"] == "/done"
    assert run_once(request, admin, key, bad).headers["location"] == "/done"
    # a missing key is refused before any work
    with pytest.raises(InvalidInput) as exc:
        run_once(request, admin, "", bad)
    assert exc.value.key == "core.form_key.missing"


def test_run_once_keeps_a_recorded_refusal_and_its_key(
    settings: Any, tenants: Any, actor_of: Any
) -> None:
    admin = actor_of(tenants.operator.admin)
    request = _request(settings)
    key = new_form_key()

    def refused(uow: UnitOfWork) -> str:
        jobs.submit(uow=uow, actor=admin, kind="core.selftest", params={"seconds": 0})
        form_done(uow, key, "/refusals")
        raise RecordedRefusal("x.refused", "refused by a rule", status=403, document={})

    r = run_once(request, admin, key, refused, on_error=lambda e: see_other(f"/shown/{e.status}"))
    assert r.headers["location"] == "/shown/403"
    assert _selftests(settings, tenants.operator.org.id) == 1  # the trace stays
    assert run_once(request, admin, key, refused).headers["location"] == "/refusals"
