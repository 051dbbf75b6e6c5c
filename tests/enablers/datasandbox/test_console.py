"""Console: a query is submitted once (reloads land on the same request), its page follows it,
refusals read as refusals in Chinese, the result is a table with a CSV download."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from .test_api import _register


def _login(client: Any, username: str) -> None:
    r = client.post(
        "/login",
        data={"username": username, "password": "password123", "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303


def _form(client: Any, path: str = "/datasandbox") -> tuple[dict[str, str], str]:
    page = client.get(path)
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    key = re.search(r'name="form_key" value="([^"]+)"', page.text)
    assert csrf and key
    return {"csrf_token": csrf.group(1), "form_key": key.group(1)}, page.text


def _visible(html: str) -> str:
    return re.sub(r'<details class="tech">.*?</details>', "", html, flags=re.S)


SQL = "SELECT industry, count(*) AS n FROM enterprises GROUP BY industry"


def test_query_once_result_table_and_csv(
    client: Any, tenants: Any, demo_files: Any, run_jobs: Any
) -> None:
    _register(client, tenants.a, demo_files.enterprises, "enterprises", open_to_all=True)
    _login(client, tenants.b.member.username)
    fields, page = _form(client)
    assert 'name="epsilon" type="number" min="0.01" max="10" step="any" value="0.5"' in page
    data = {**fields, "sql": SQL, "epsilon": "0.5"}
    r = client.post("/datasandbox/query", data=data, follow_redirects=False)
    assert r.status_code == 303
    loc = r.headers["location"]
    assert re.fullmatch(r"/datasandbox/requests/\d+", loc)
    again = client.post("/datasandbox/query", data=data, follow_redirects=False)
    assert again.headers["location"] == loc  # a reload starts nothing new
    assert (
        client.get("/api/datasandbox/requests", headers=tenants.b.headers()).json().__len__() == 1
    )
    waiting = client.get(loc)
    assert "已批准，运行中" in waiting.text and "hx-trigger" in waiting.text
    assert client.get(f"{loc}/live?seen=approved").headers.get("HX-Refresh") is None
    run_jobs()
    assert client.get(f"{loc}/live?seen=approved").headers.get("HX-Refresh") == "true"
    page = client.get(loc)
    shown = _visible(page.text)
    assert "已发布" in shown and 'id="req-result"' in shown and "hx-trigger" not in shown
    assert "{&#34;" not in shown and '[{"' not in shown and "\\u" not in shown
    assert SQL in shown  # the SQL is kept on its page …
    form = client.get(f"/datasandbox?again={loc.rsplit('/', 1)[1]}")
    assert f">{SQL}</textarea>" in form.text  # … and in the form to submit it again
    cells = re.findall(r"<td>([^<]*)</td>", shown.split('id="req-result"')[1].split("</table>")[0])
    got = client.get(f"{loc}/result.csv")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert "attachment" in got.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert rows and list(rows[0]) == ["industry", "n"]
    assert [c for r in rows for c in (r["industry"], r["n"])] == cells


def test_refusal_is_red_and_translated_and_sql_kept_on_error(
    client: Any, tenants: Any, demo_files: Any
) -> None:
    _register(client, tenants.a, demo_files.enterprises, "enterprises", open_to_all=True)
    _login(client, tenants.b.member.username)
    fields, _ = _form(client)
    r = client.post("/datasandbox/query", data={**fields, "sql": "SELECT * FROM enterprises"})
    assert r.status_code == 200
    shown = _visible(r.text)
    assert 'id="req-refusal"' in shown and 'class="error"' in shown
    assert "禁止 SELECT *：会泄露原始行" in shown and "sql.select_star" not in shown
    # a bad ε is refused before anything is recorded, and the SQL stays in the box
    fields, _ = _form(client)
    r = client.post("/datasandbox/query", data={**fields, "sql": SQL, "epsilon": "-1"})
    assert r.status_code == 422 and f">{SQL}</textarea>" in r.text and "ε 无效" in r.text


def test_request_pages_are_tenant_scoped(
    client: Any, tenants: Any, demo_files: Any, run_jobs: Any
) -> None:
    _register(client, tenants.a, demo_files.enterprises, "enterprises", open_to_all=True)
    _login(client, tenants.b.member.username)
    fields, _ = _form(client)
    loc = client.post(
        "/datasandbox/query", data={**fields, "sql": SQL}, follow_redirects=False
    ).headers["location"]
    run_jobs()
    client.cookies.clear()
    enterprise_c = tenants.a  # the data owner is another tenant: it does not see b's request
    _login(client, enterprise_c.member.username)
    for path in (
        loc,
        f"{loc}/live",
        f"{loc}/result.csv",
        f"/datasandbox?again={loc.rsplit('/', 1)[1]}",
    ):
        assert client.get(path).status_code == 404, path
