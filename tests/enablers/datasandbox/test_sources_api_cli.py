"""PostgreSQL sources through the API and the CLI: 4xx / exit 2, redaction, tenant isolation."""

from __future__ import annotations

from typing import Any

import pytest

from .pg_source import ROWS, PgSource, pg_source_fixture

pg_src = pytest.fixture(pg_source_fixture)
BASE = "/api/datasandbox"


def _body(src: PgSource, **kw: Any) -> dict[str, Any]:
    return {
        "name": "firms",
        "table": f"{src.schema}.firms",
        "dsn": src.dsn(src.reader),
        "password": src.password,
        "identifiers": ["uscc"],
        "quasi": ["region"],
        "min_group": 5,
        "epsilon_per_period": 1.0,
        "open_to_all": True,
    } | kw


def test_api_register_refresh_redacted_and_tenant_scoped(
    client: Any, tenants: Any, pg_src: PgSource
) -> None:
    a, b = tenants.a, tenants.b
    r = client.post(
        f"{BASE}/sources/postgresql",
        headers=a.headers(admin=True),
        json=_body(pg_src, dsn=pg_src.dsn(pg_src.reader, with_password=True), password=None),
    )
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "firms" and r.json()["rows_rounded"] == 1200
    seen = [r.text]
    r = client.get(f"{BASE}/datasets/firms/source", headers=a.headers(admin=True))
    assert r.status_code == 200 and r.json()["location"].startswith(
        f"postgresql://{pg_src.reader}@"
    )
    seen.append(r.text)
    r = client.post(f"{BASE}/datasets/firms/refresh", headers=a.headers(admin=True))
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["rows"] == ROWS
    seen.append(r.text)
    for path in ("/datasets", "/datasets/firms"):
        seen.append(client.get(BASE + path, headers=b.headers()).text)
    assert all(pg_src.password not in t for t in seen)
    # Another organization: the catalogue entry is shared, the source and refresh are not.
    assert (
        client.get(f"{BASE}/datasets/firms/source", headers=b.headers(admin=True)).status_code
        == 404
    )
    assert (
        client.post(f"{BASE}/datasets/firms/refresh", headers=b.headers(admin=True)).status_code
        == 404
    )
    assert client.post(f"{BASE}/datasets/firms/refresh").status_code == 401


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"dsn": "postgresql://dsrw_x@127.0.0.1:1/test"}, "datasandbox.source.unreachable"),
        ({"table": "public.no_such_table_here"}, "datasandbox.pg.table_not_found"),
        ({"port": 0}, "core.invalid_input"),
    ],
)
def test_api_bad_source_is_4xx(
    client: Any, tenants: Any, pg_src: PgSource, change: dict[str, Any], key: str
) -> None:
    r = client.post(
        f"{BASE}/sources/postgresql",
        headers=tenants.a.headers(admin=True),
        json=_body(pg_src, **change),
    )
    assert r.status_code == 422 and r.json()["key"] == key, r.text
    assert pg_src.password not in r.text
    assert client.get(f"{BASE}/datasets", headers=tenants.a.headers()).json() == []


def test_api_writer_refused(client: Any, tenants: Any, pg_src: PgSource) -> None:
    r = client.post(
        f"{BASE}/sources/postgresql",
        headers=tenants.a.headers(admin=True),
        json=_body(pg_src, dsn=pg_src.dsn(pg_src.writer)),
    )
    assert r.status_code == 422 and r.json()["key"] == "datasandbox.pg.writable"
    assert r.json()["detail"] == (
        f"the role may INSERT, UPDATE on {pg_src.schema}.firms; read-only credentials only"
    )


def test_cli_add_refresh_password_never_printed(
    cli: Any, tenants: Any, pg_src: PgSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, other = tenants.a.admin.username, tenants.b.admin.username
    monkeypatch.setenv("DS_PG_PASSWORD", pg_src.password)
    r = cli(
        "datasandbox",
        "dataset",
        "add",
        "--pg-dsn",
        pg_src.dsn(pg_src.reader),
        "--pg-password-env",
        "DS_PG_PASSWORD",
        "--pg-table",
        f"{pg_src.schema}.firms",
        "--name",
        "firms",
        "--identifier",
        "uscc",
        "--min-group",
        "5",
        "--as",
        owner,
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    assert r.json()["name"] == "firms"
    outputs = [r.stdout + r.stderr]
    r = cli(
        "datasandbox",
        "dataset",
        "add",
        "--pg-host",
        pg_src.host,
        "--pg-port",
        str(pg_src.port),
        "--pg-db",
        pg_src.dbname,
        "--pg-user",
        pg_src.reader,
        "--pg-password-stdin",
        "--pg-table",
        f"{pg_src.schema}.big_firms",
        "--pg-column",
        "uscc",
        "--pg-column",
        "revenue",
        "--name",
        "big",
        "--identifier",
        "uscc",
        "--as",
        owner,
        input=pg_src.password + "\n",
    )
    assert r.exit_code == 0, r.stderr
    outputs.append(r.stdout + r.stderr)
    for args in (("refresh", "firms"), ("source", "firms"), ("source", "big")):
        r = cli("datasandbox", "dataset", *args, "--as", owner)
        assert r.exit_code == 0, r.stderr
        outputs.append(r.stdout + r.stderr)
    assert "postgresql://" + pg_src.reader in outputs[-1]
    assert all(pg_src.password not in o for o in outputs)
    r = cli("datasandbox", "dataset", "refresh", "firms", "--as", other)
    assert r.exit_code != 0 and "datasandbox.source_not_found" in r.stderr


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (
            ("--pg-table", "x.y", "--pg-password-env", "NOT_SET_ANYWHERE_X"),
            "datasandbox.pg.password_env",
        ),
        (
            ("--pg-dsn", "postgresql://u@127.0.0.1:1/test", "--pg-table", "public.t"),
            "datasandbox.source.unreachable",
        ),
        (("--pg-dsn", "postgresql://u@127.0.0.1/test"), "datasandbox.pg.table_name"),
        ((), "datasandbox.dataset.missing_file"),
    ],
)
def test_cli_errors_exit_2_one_line(
    cli: Any, tenants: Any, args: tuple[str, ...], key: str
) -> None:
    r = cli(
        "datasandbox",
        "dataset",
        "add",
        *args,
        "--name",
        "t",
        "--identifier",
        "id",
        "--as",
        tenants.a.admin.username,
    )
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert key in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _console_login(client: Any, username: str) -> str:
    import re

    r = client.post(
        "/login",
        data={"username": username, "password": "password123", "next": "/datasandbox/register"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get("/datasandbox/register")
    assert page.status_code == 200, page.text
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m
    return m.group(1)


def test_console_form_source_choice(
    client: Any, tenants: Any, pg_src: PgSource, demo_files: Any
) -> None:
    csrf = _console_login(client, tenants.a.admin.username)
    page = client.get("/datasandbox/register?lang=en")
    assert "PostgreSQL table or view" in page.text and "Upload a file" in page.text
    assert "登记数据集" in client.get("/datasandbox/register?lang=zh_CN").text
    form = {
        "csrf_token": csrf,
        "source": "postgresql",
        "name": "firms",
        "identifiers": "uscc",
        "quasi": "region",
        "min_group": "5",
        "pg_host": pg_src.host,
        "pg_port": str(pg_src.port),
        "pg_db": pg_src.dbname,
        "pg_user": pg_src.writer,
        "pg_password": pg_src.password,
        "pg_table": f"{pg_src.schema}.firms",
    }
    r = client.post("/datasandbox/register?lang=en", data=form)
    assert r.status_code == 422 and "read-only credentials only" in r.text
    assert pg_src.password not in r.text and pg_src.schema + ".firms" in r.text
    r = client.post("/datasandbox/register", data={**form, "pg_user": pg_src.reader})
    assert r.status_code == 200, r.text
    assert f"postgresql://{pg_src.reader}@" in r.text and pg_src.password not in r.text
    r = client.post("/datasandbox/register/firms/refresh", data={"csrf_token": csrf})
    assert r.status_code == 200 and "v2" in r.text
    with open(demo_files.enterprises, "rb") as f:
        r = client.post(
            "/datasandbox/register",
            data={
                "csrf_token": csrf,
                "source": "file",
                "name": "enterprises",
                "identifiers": "uscc",
                "min_group": "5",
            },
            files={"file": ("enterprises.csv", f, "text/csv")},
        )
    assert r.status_code == 200, r.text
    names = [d["name"] for d in client.get(f"{BASE}/datasets", headers=tenants.a.headers()).json()]
    assert names == ["enterprises", "firms"]
    r = client.post(
        "/datasandbox/register", data={"csrf_token": csrf, "source": "file", "name": "nothing"}
    )
    assert r.status_code == 422
    assert client.post("/datasandbox/register/firms/refresh").status_code == 403
