"""Cases app: REST API, console pages and CLI over the shared fixtures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from mingyue.core import cases
from mingyue.core import db as core_db


def _login(client: Any, username: str) -> str:
    r = client.post(
        "/login", data={"username": username, "password": "password123"}, follow_redirects=False
    )
    assert r.status_code in (302, 303), r.text
    page = client.get("/cases")
    assert page.status_code == 200
    return str(page.text.split('name="csrf-token" content="')[1].split('"')[0])


def test_api_workflow_and_tenancy(client: Any, tenants: Any) -> None:
    ha, hb = tenants.a.headers(), tenants.b.headers(admin=True)
    hr = tenants.operator.headers()  # the operator's member is a reviewer
    r = client.post(
        "/api/cases",
        json={"title": "数据出境备案", "subject": "crossborder:1", "data": {"volume": 12}},
        headers=ha,
    )
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["state"] == "submitted" and case["organization_id"] == tenants.a.org.id
    cid = case["id"]
    # Detail with history and the transitions the caller may take.
    d = client.get(f"/api/cases/{cid}", headers=ha).json()
    assert [t["name"] for t in d["transitions"]] == ["withdraw"]
    assert [e["kind"] for e in d["events"]] == ["open"]
    assert [
        t["name"] for t in client.get(f"/api/cases/{cid}", headers=hr).json()["transitions"]
    ] == ["start_review"]
    # Another enterprise neither sees nor touches it.
    assert client.get(f"/api/cases/{cid}", headers=hb).status_code == 404
    assert client.get("/api/cases", headers=hb).json() == []
    assert (
        client.post(
            f"/api/cases/{cid}/transitions", json={"name": "withdraw"}, headers=hb
        ).status_code
        == 404
    )
    assert (
        client.post(f"/api/cases/{cid}/comments", json={"text": "x"}, headers=hb).status_code == 404
    )
    # Wrong side, wrong state, missing comment: refused with a key.
    r = client.post(f"/api/cases/{cid}/transitions", json={"name": "start_review"}, headers=ha)
    assert r.status_code == 403 and r.json()["key"] == "core.case.role_refused"
    r = client.post(f"/api/cases/{cid}/transitions", json={"name": "accept"}, headers=hr)
    assert r.status_code == 409 and r.json()["key"] == "core.case.bad_state"
    assert (
        client.post(
            f"/api/cases/{cid}/transitions", json={"name": "start_review"}, headers=hr
        ).status_code
        == 200
    )
    mine = client.get(f"/api/cases?assignee_user_id={tenants.operator.member.id}", headers=hr)
    assert [c["id"] for c in mine.json()] == [cid]  # taken on first action (领办)
    r = client.post(f"/api/cases/{cid}/transitions", json={"name": "return"}, headers=hr)
    assert r.status_code == 422 and r.json()["key"] == "core.case.comment_required"
    r = client.post(
        f"/api/cases/{cid}/transitions", json={"name": "return", "comment": "补充材料"}, headers=hr
    )
    assert r.json()["state"] == "returned"
    r = client.post(f"/api/cases/{cid}/comments", json={"text": "已补充"}, headers=ha)
    assert r.status_code == 201 and r.json()["kind"] == "comment"
    assert (
        client.post(f"/api/cases/{cid}/transitions", json={"name": "resubmit"}, headers=ha).json()[
            "state"
        ]
        == "resubmitted"
    )
    # Assignment is for admins and oversight roles.
    assert (
        client.post(f"/api/cases/{cid}/assign", json={"department": "x"}, headers=ha).status_code
        == 403
    )
    r = client.post(
        f"/api/cases/{cid}/assign",
        json={"organization_id": tenants.regulator.org.id, "department": "执法支队"},
        headers=tenants.regulator.headers(),
    )
    assert r.status_code == 200 and r.json()["assignee_department"] == "执法支队"
    # Filters.
    assert [c["id"] for c in client.get("/api/cases?state=resubmitted", headers=hr).json()] == [cid]
    assert client.get("/api/cases?state=accepted", headers=hr).json() == []
    assert client.get("/api/cases?limit=0", headers=hr).status_code == 422
    kinds = client.get("/api/cases/kinds", headers=ha).json()
    assert "core.general" in [k["name"] for k in kinds]
    # Bad input is a 422 naming the field.
    r = client.post("/api/cases", json={"title": ""}, headers=ha)
    assert r.status_code == 422
    r = client.post("/api/cases", json={"title": "x", "kind": "nope"}, headers=ha)
    assert r.status_code == 422 and r.json()["field"] == "kind"
    assert client.get("/api/cases").status_code == 401


def test_api_overdue_escalate_assessment(client: Any, tenants: Any, monkeypatch: Any) -> None:
    t0 = datetime(2026, 5, 4, 1, 0, tzinfo=UTC)
    clock = {"t": t0}
    monkeypatch.setattr(core_db, "utcnow", lambda: clock["t"])
    ha, hr = tenants.a.headers(), tenants.operator.headers()
    hreg = tenants.regulator.headers()
    cid = client.post("/api/cases", json={"title": "a"}, headers=ha).json()["id"]
    clock["t"] = t0 + timedelta(hours=30)
    assert [c["id"] for c in client.get("/api/cases/overdue", headers=hreg).json()] == [cid]
    assert [c["id"] for c in client.get("/api/cases?overdue=true", headers=hreg).json()] == [cid]
    assert client.post("/api/cases/escalate", headers=hr).status_code == 403  # reviewer
    r = client.post("/api/cases/escalate", headers=hreg)
    assert r.status_code == 200 and [c["escalation_level"] for c in r.json()] == [1]
    assert client.post("/api/cases/escalate", headers=hreg).json() == []
    client.post(f"/api/cases/{cid}/transitions", json={"name": "start_review"}, headers=hr)
    clock["t"] += timedelta(hours=2)
    client.post(f"/api/cases/{cid}/transitions", json={"name": "accept"}, headers=hr)
    r = client.get(
        "/api/cases/assessment",
        params={"since": "2026-05-01T00:00:00Z", "until": "2026-06-01T00:00:00Z"},
        headers=hreg,
    )
    assert r.status_code == 200, r.text
    [fig] = r.json()
    assert fig["assignee_user_id"] == tenants.operator.member.id
    assert (fig["handled"], fig["on_time"], fig["mean_hours"]) == (1, 0, 32.0)
    r = client.get(
        "/api/cases/assessment",
        params={"since": "2026-05-01T00:00:00", "until": "2026-06-01T00:00:00Z"},
        headers=hreg,
    )
    assert r.status_code == 422 and r.json()["field"] == "since"


def _key(page: str, action: str, name: str | None = None) -> str:
    """Return the one-time key of the form posting to ``action`` (and transition ``name``)."""
    for chunk in page.split("<form")[1:]:
        if f'method="post" action="{action}"' in chunk and (
            name is None or f'value="{name}"' in chunk
        ):
            return chunk.split('name="form_key" value="')[1].split('"')[0]
    raise AssertionError(f"no form to {action} {name or ''}")


def test_console_list_detail_and_actions(client: Any, tenants: Any) -> None:
    token = _login(client, tenants.a.member.username)
    form = {
        "title": "控制台提交",
        "kind": "core.general",
        "csrf_token": token,
        "form_key": _key(client.get("/cases").text, "/cases"),
    }
    r = client.post("/cases", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    cid = int(url.rsplit("/", 1)[1])
    # A reload of the answer (the same form again) opens nothing new.
    again = client.post("/cases", data=form, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == url
    assert client.get("/cases").text.count("控制台提交") == 1
    page = client.get(url)
    assert page.status_code == 200
    assert 'data-state="submitted"' in page.text and 'id="act-withdraw"' in page.text
    assert 'id="act-start_review"' not in page.text
    lst = client.get("/cases")
    assert f'href="/cases/{cid}"' in lst.text and "控制台提交" in lst.text
    # Without the CSRF token the form is refused and nothing changes.
    assert client.post(f"/cases/{cid}/comment", data={"text": "x"}).status_code == 403
    comment = {
        "text": "请尽快审核",
        "csrf_token": token,
        "form_key": _key(page.text, f"/cases/{cid}/comment"),
    }
    for _ in range(2):
        r = client.post(f"/cases/{cid}/comment", data=comment, follow_redirects=False)
        assert r.status_code == 303
    assert client.get(url).text.count("请尽快审核") == 1
    client.post("/logout", data={"csrf_token": token})
    # The reviewer sees the review buttons and takes the case through.
    token = _login(client, tenants.operator.member.username)
    page = client.get(url)
    assert 'id="act-start_review"' in page.text and 'id="act-withdraw"' not in page.text
    for name, text in (("start_review", ""), ("accept", "同意")):
        key = _key(page.text, f"/cases/{cid}/act", name)
        data = {"name": name, "comment": text, "csrf_token": token, "form_key": key}
        r = client.post(f"/cases/{cid}/act", data=data, follow_redirects=False)
        assert r.status_code == 303, r.text
        # a double click takes the step once and lands on the case again (no 409 page)
        r = client.post(f"/cases/{cid}/act", data=data, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == url
        page = client.get(url)
        if name == "start_review":
            # approve and return/reject look different
            assert 'id="act-accept" class="primary"' in page.text
            assert 'id="act-reject" class="danger"' in page.text
            assert 'id="act-return" class="secondary"' in page.text
    assert 'data-state="accepted"' in page.text and "同意" in page.text
    # The reviewer took the case on first action: it is listed under "assigned to me", and the
    # history says so in words, not as data.
    assert f'href="/cases/{cid}"' in client.get("/cases?mine=true").text
    assert (
        "领办" in page.text
        and "assignee_org_id" not in page.text
        and '{"' not in page.text.split("<main>")[1]
    )
    assert 'id="case-actions"' not in page.text
    # A refused step (a fresh form for a step no longer open) renders an error page, not a 500.
    r = client.post(
        f"/cases/{cid}/act",
        data={"name": "accept", "csrf_token": token, "form_key": "f" * 32},
        headers={"accept": "text/html"},
    )
    assert r.status_code == 409 and "<html" in r.text
    # A form without its key is refused with a readable page.
    r = client.post(f"/cases/{cid}/act", data={"name": "accept", "csrf_token": token})
    assert r.status_code == 422
    assert client.get("/cases?lang=en").status_code == 200
    assert client.get("/cases/999999").status_code == 404


def test_cli_open_act_list_show(cli: Any, tenants: Any) -> None:
    sub, rev = tenants.a.member.username, tenants.operator.member.username
    r = cli("cases", "open", "--title", "CLI 案件", "--data", '{"n": 1}', "--as", sub, "--json")
    assert r.exit_code == 0, r.stderr
    c = r.json()
    assert c["state"] == "submitted" and c["data"] == {"n": 1}
    cid = str(c["id"])
    r = cli("cases", "act", cid, "start_review", "--as", sub)
    assert r.exit_code == 1 and "core.case.role_refused" in r.stderr
    assert r.stderr.count("\n") == 1
    r = cli("cases", "act", cid, "start_review", "--as", rev, "--json")
    assert r.exit_code == 0 and r.json()["state"] == "in_review"
    r = cli("cases", "act", cid, "reject", "--as", rev)
    assert r.exit_code == 2 and "comment" in r.stderr
    r = cli("cases", "act", cid, "reject", "-m", "材料不全", "--as", rev, "--json")
    assert r.exit_code == 0 and r.json()["state"] == "rejected"
    r = cli("cases", "list", "--as", sub, "--json")
    assert [x["id"] for x in r.json()] == [c["id"]]
    r = cli("cases", "list", "--as", tenants.b.admin.username, "--json")
    assert r.exit_code == 0 and r.json() == []
    r = cli("cases", "show", cid, "--as", sub, "--json")
    assert [e["name"] for e in r.json()["events"] if e["kind"] == "transition"] == [
        "start_review",
        "reject",
    ]
    r = cli("cases", "show", cid, "--as", sub)
    assert r.exit_code == 0 and "reject" in r.stdout
    r = cli("cases", "show", cid, "--as", tenants.b.admin.username)
    assert r.exit_code == 1 and "not found" in r.stderr
    r = cli("cases", "list")
    assert r.exit_code == 2 and "--as" in r.stderr
    r = cli("cases", "open", "--title", "x", "--data", "[1]", "--as", sub)
    assert r.exit_code == 2
    r = cli("cases", "kinds", "--json")
    assert "core.general" in [k["name"] for k in r.json()]
    r = cli(
        "cases",
        "assessment",
        "--since",
        "2000-01-01",
        "--until",
        "2100-01-01",
        "--as",
        rev,
        "--json",
    )
    assert r.exit_code == 0 and r.json()[0]["handled"] == 1
    r = cli("cases", "escalate", "--as", tenants.regulator.member.username, "--json")
    assert r.exit_code == 0 and r.json() == []
    r = cli("cases", "overdue", "--as", rev, "--json")
    assert r.exit_code == 0 and r.json() == []
    assert cases.GENERAL.name == "core.general"


def test_upload_attachments_api_console_and_cap(
    client: Any, tenants: Any, settings: Any, actor_of: Any
) -> None:
    ha, hr, hb = tenants.a.headers(), tenants.operator.headers(), tenants.b.headers()
    cid = client.post("/api/cases", json={"title": "附件"}, headers=ha).json()["id"]
    # The reviewer's upload belongs to the case's organization: the submitter can read it.
    r = client.post(
        f"/api/cases/{cid}/files", files={"file": ("意见.txt", b"review notes")}, headers=hr
    )
    assert r.status_code == 201, r.text
    att = r.json()
    assert att["filename"] == "意见.txt"
    f = client.get(f"/api/files/{att['file_id']}", headers=ha)
    assert f.status_code == 200 and f.json()["organization_id"] == tenants.a.org.id
    assert (
        client.post(
            f"/api/cases/{cid}/files", files={"file": ("x.txt", b"x")}, headers=hb
        ).status_code
        == 404
    )
    r = client.post(f"/api/cases/{cid}/attachments", json={"file_id": att["file_id"]}, headers=ha)
    assert r.status_code == 409 and r.json()["key"] == "core.case.already_attached"
    token = _login(client, tenants.a.member.username)
    r = client.post(
        f"/cases/{cid}/upload",
        files={"file": ("补充.pdf", b"%PDF-1.4 x")},
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get(f"/cases/{cid}")
    assert "补充.pdf" in page.text and "意见.txt" in page.text
    # The size cap of the files module applies (413 / PayloadTooLarge).
    small = settings.model_copy(update={"max_upload_bytes": 4})
    from mingyue.core.errors import PayloadTooLarge
    from mingyue.core.uow import unit_of_work

    try:
        with unit_of_work(actor_of(tenants.a.member), small) as uow:
            cases.upload_attachment(uow=uow, case_id=cid, data=b"too large", filename="big.bin")
    except PayloadTooLarge as exc:
        assert exc.status == 413
    else:
        raise AssertionError("the cap was not applied")


def test_console_assign_form(client: Any, tenants: Any) -> None:
    cid = client.post("/api/cases", json={"title": "分派"}, headers=tenants.a.headers()).json()[
        "id"
    ]
    token = _login(client, tenants.regulator.admin.username)
    page = client.get(f"/cases/{cid}")
    assert 'id="case-assign"' in page.text
    assert f">{tenants.b.org.name}</option>" in page.text  # oversight: every organization
    r = client.post(
        f"/cases/{cid}/assign",
        data={
            "organization_id": str(tenants.regulator.org.id),
            "department": "执法支队",
            "user_id": str(tenants.regulator.member.id),
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get(f"/cases/{cid}")
    assert "执法支队" in page.text and tenants.regulator.org.name in page.text
    assert tenants.regulator.member.username in page.text.split('id="case-assignee"')[1][:300]
    r = client.post(f"/cases/{cid}/assign", data={"user_id": "abc", "csrf_token": token})
    assert r.status_code == 422
    client.post("/logout", data={"csrf_token": token})
    # An enterprise admin may assign within its own organization only.
    token = _login(client, tenants.a.admin.username)
    page = client.get(f"/cases/{cid}")
    assert f">{tenants.a.org.name}</option>" in page.text
    assert tenants.b.org.name not in page.text and tenants.b.admin.username not in page.text
    # The member has no assign form.
    client.post("/logout", data={"csrf_token": token})
    _login(client, tenants.a.member.username)
    assert 'id="case-assign"' not in client.get(f"/cases/{cid}").text


def test_every_message_key_is_translated() -> None:
    import re
    from pathlib import Path

    import mingyue
    from mingyue.i18n import catalogue

    root = Path(mingyue.__file__).parent
    sources = [*root.glob("core/cases/*.py"), *(root / "coreapps" / "cases").glob("*.py")]
    keys: set[str] = set()
    for p in sources:
        keys |= set(
            re.findall(
                r'(?:InvalidInput|NotFound|Conflict|Forbidden)\(\s*"([^"]+)"',
                p.read_text(encoding="utf-8"),
            )
        )
    for p in (root / "coreapps" / "cases" / "templates").rglob("*.html"):
        text = p.read_text(encoding="utf-8")
        keys |= set(re.findall(r't\(\s*"([^"]+\w)"', text))
        keys |= {
            f"core.cases.event.{k}"
            for k in ("open", "transition", "comment", "assign", "attach", "escalate", "data")
        }
    assert len(keys) > 40
    for locale in ("zh_CN", "en"):
        missing = sorted(k for k in keys if k not in catalogue(locale))
        assert not missing, (locale, missing)


def test_bad_input_is_refused_not_crashed(client: Any, tenants: Any) -> None:
    ha, hreg = tenants.a.headers(), tenants.regulator.headers()
    cid = client.post("/api/cases", json={"title": "ok"}, headers=ha).json()["id"]
    for body, field in (
        ({"title": "a\x00b"}, "title"),
        ({"title": "x", "subject": "\x07"}, "subject"),
        ({"title": "x", "data": {"blob": "y" * 70000}}, "data"),
        ({"title": "x", "data": {"k": "\x00"}}, "data"),
        ({"title": "x", "organization_id": 2**40}, "organization_id"),
        ({"title": "x", "assignee_org_id": 0}, "assignee_org_id"),
    ):
        r = client.post("/api/cases", json=body, headers=ha)
        assert r.status_code == 422, (body, r.text)
        assert field in r.text
    assert client.get(f"/api/cases/{2**40}", headers=ha).status_code == 422
    r = client.post(f"/api/cases/{cid}/comments", json={"text": "a\x00"}, headers=ha)
    assert r.status_code == 422 and r.json()["field"] == "comment"
    r = client.post(f"/api/cases/{cid}/comments", json={"text": "第一行\n第二行\t!"}, headers=ha)
    assert r.status_code == 201
    assert client.get("/api/cases?state=%00", headers=ha).status_code == 422
    assert client.get("/api/cases?offset=99999999999", headers=ha).status_code == 422
    r = client.post(f"/api/cases/{cid}/assign", json={"department": "a\x00"}, headers=hreg)
    assert r.status_code == 422
    r = client.get("/api/cases/overdue", params={"at": "0001-01-01T00:00:00+05:00"}, headers=hreg)
    assert r.status_code == 422
    r = client.get(
        "/api/cases/assessment",
        params={"since": "2026-01-01T00:00:00Z", "until": "9999-12-31T23:59:59-05:00"},
        headers=hreg,
    )
    assert r.status_code == 422
    r = client.post(f"/api/cases/{cid}/transitions", json={"name": "\x00"}, headers=ha)
    assert r.status_code == 422
    _login(client, tenants.a.member.username)
    assert client.get("/cases/99999999999999999999").status_code == 404
    assert client.get("/cases?state=%00").status_code == 422


def test_console_supervision_page(client: Any, tenants: Any, monkeypatch: Any) -> None:
    clock = {"t": datetime.now(UTC)}
    monkeypatch.setattr(core_db, "utcnow", lambda: clock["t"])
    ha, hr = tenants.a.headers(), tenants.operator.headers()
    late = client.post("/api/cases", json={"title": "超期件"}, headers=ha).json()["id"]
    done = client.post("/api/cases", json={"title": "办结件"}, headers=ha).json()["id"]
    client.post(f"/api/cases/{done}/transitions", json={"name": "start_review"}, headers=hr)
    clock["t"] += timedelta(hours=3)
    client.post(f"/api/cases/{done}/transitions", json={"name": "accept"}, headers=hr)
    month = clock["t"].astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    clock["t"] += timedelta(hours=27)
    token = _login(client, tenants.regulator.admin.username)
    page = client.get("/cases/supervision")
    assert page.status_code == 200
    assert f'id="overdue-{late}"' in page.text and f'id="overdue-{done}"' not in page.text
    assert 'id="escalate-btn"' in page.text and "0 / 1" in page.text
    assert "100.0%" in client.get(f"/cases/supervision?month={month}").text  # on time
    r = client.post(
        "/cases/supervision/escalate", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    assert "1 / 1" in client.get("/cases/supervision").text
    assert client.get("/cases/supervision?month=2026-13").status_code == 422
    assert client.get("/cases/supervision?month=1900-01").status_code == 422
    client.post("/logout", data={"csrf_token": token})
    _login(client, tenants.a.member.username)
    page = client.get("/cases/supervision")
    assert page.status_code == 200 and 'id="escalate-btn"' not in page.text
    assert f'id="overdue-{late}"' in page.text


def test_cli_comment_assign_overdue(cli: Any, tenants: Any) -> None:
    sub, reg = tenants.a.member.username, tenants.regulator.admin.username
    c = cli("cases", "open", "--title", "CLI 督办", "--as", sub, "--json").json()
    cid = str(c["id"])
    r = cli("cases", "comment", cid, "请尽快办理", "--as", sub, "--json")
    assert r.exit_code == 0 and r.json()["comment"] == "请尽快办理"
    r = cli("cases", "assign", cid, "--department", "二处", "--as", sub)
    assert r.exit_code == 1 and "core.case.assign" in r.stderr
    r = cli(
        "cases",
        "assign",
        cid,
        "--organization",
        str(tenants.regulator.org.id),
        "--department",
        "二处",
        "--user",
        str(tenants.regulator.member.id),
        "--as",
        reg,
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    assert (r.json()["assignee_department"], r.json()["assignee_user_id"]) == (
        "二处",
        tenants.regulator.member.id,
    )
    # 25 hours after opening (given in Asia/Shanghai time without an offset) it is overdue.
    from datetime import datetime as dt

    opened = dt.fromisoformat(c["created_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    later = (opened + timedelta(hours=25)).replace(tzinfo=None).isoformat()
    r = cli("cases", "overdue", "--at", later, "--as", reg, "--json")
    assert r.exit_code == 0 and [x["id"] for x in r.json()] == [c["id"]]
    r = cli("cases", "overdue", "--at", "yesterday", "--as", reg)
    assert r.exit_code == 2 and r.stderr.startswith("error:")
    r = cli("cases", "list", "--overdue", "--as", reg, "--json")
    assert r.exit_code == 0 and r.json() == []
    r = cli("cases", "kinds")
    assert r.exit_code == 0 and "core.general" in r.stdout
