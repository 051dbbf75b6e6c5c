"""PostgreSQL sources cannot be aimed anywhere (issue 12, item 6): allow-list by address,
the platform's own database, one generic connection error, strict connection parts."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from mingyue.core.errors import InvalidInput
from mingyue.core.uow import unit_of_work
from mingyue.enablers.datasandbox.adapters import postgres as pg
from mingyue.enablers.datasandbox.engine.errors import InvalidSpec
from mingyue.enablers.datasandbox.settings import options
from mingyue.enablers.datasandbox.sources import service as sources


def _params(**kw: Any) -> dict[str, str]:
    args: dict[str, Any] = {"host": "10.1.2.3", "dbname": "crm", "user": "reader"} | kw
    return pg.conninfo(**args)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "0x7f.1", "::ffff:127.0.0.1", "localhost"])
def test_loopback_spellings_are_compared_as_addresses(host: str) -> None:
    with pytest.raises(InvalidSpec) as err:
        pg.guard(_params(host=host), ["10.0.0.0/8"])
    assert err.value.rule == "pg.host_not_allowed"


@pytest.mark.parametrize("host", ["127.1", "0x7f.1", "::ffff:127.0.0.1", "localhost"])
def test_platform_database_refused_whatever_the_allow_list(host: str) -> None:
    platform = pg.PlatformDb("127.0.0.1", 5432, "mingyue")
    with pytest.raises(InvalidSpec) as err:
        pg.guard(_params(host=host, dbname="mingyue", port=5432), ["127.0.0.0/8", "::1"], platform)
    assert err.value.rule == "pg.platform_db"
    pinned = pg.guard(_params(host="127.1", dbname="other"), ["127.0.0.1"], platform)
    assert pinned["hostaddr"] == "127.0.0.1" and pinned["host"] == "127.1"


def test_empty_allow_list_refuses_every_source(settings: Any, tenants: Any, actor_of: Any) -> None:
    with pytest.raises(InvalidSpec) as err:
        pg.guard(_params(), [])
    assert err.value.rule == "pg.no_allowed_hosts"
    bare = settings.model_copy(update={"datasandbox": {}})
    assert options(bare).pg_allowed_hosts == ()
    owner = actor_of(tenants.a.admin)
    with pytest.raises(InvalidInput) as exc, unit_of_work(owner, bare) as uow:
        sources.register_pg_dataset(
            uow=uow,
            actor=owner,
            name="firms",
            table="public.firms",
            identifiers=["uscc"],
            host="127.0.0.1",
            dbname="x",
            user="u",
        )
    assert exc.value.key == "datasandbox.pg.no_allowed_hosts"
    assert "PG_ALLOWED_HOSTS" in exc.value.message


def test_allow_list_setting_parses_and_rejects_junk(settings: Any) -> None:
    s = settings.model_copy(update={"datasandbox": {"pg_allowed_hosts": "db1.example, 10.0.0.0/8"}})
    assert options(s).pg_allowed_hosts == ("db1.example", "10.0.0.0/8")
    bad = settings.model_copy(update={"datasandbox": {"pg_allowed_hosts": "a b"}})
    with pytest.raises(InvalidInput) as err:
        options(bad)
    assert err.value.field == "MINGYUE_DATASANDBOX__PG_ALLOWED_HOSTS"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"user": "reader\r\nX-Injected: 1"}, "user"),
        ({"dbname": "crm\n"}, "dbname"),
        ({"host": "10.0.0.1,127.0.0.1"}, "host"),  # libpq would try the second host too
        ({"host": "db\r\n.example"}, "host"),
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"dbname": "d" * 64}, "dbname"),
        ({"user": "u" * 64}, "user"),
        ({"dsn": "postgresql://u@10.0.0.1/db?sslmode=bogus"}, "sslmode"),
        ({"dsn": "host=10.0.0.1 hostaddr=db.example dbname=x user=u"}, "hostaddr"),
    ],
)
def test_every_connection_part_is_validated(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSpec) as err:
        _params(**change)
    assert err.value.rule == "pg.dsn_value" and err.value.params["field"] == field


def _unreachable(params: dict[str, str], tmp_path: Path) -> InvalidSpec:
    with pytest.raises(InvalidSpec) as err:
        pg.snapshot(params, "public.t", tmp_path / "t.parquet", limits=pg.Limits())
    return err.value


def test_connection_failures_read_the_same(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import time

    assert pg.Limits().connect_timeout_s == 3
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    with socket.socket() as silent, socket.socket() as chatty:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        chatty.bind(("127.0.0.1", 0))
        chatty.listen()
        errors = []
        started = time.monotonic()
        for port in (dead_port, silent.getsockname()[1]):
            params = pg.guard(
                _params(host="127.1", port=port, password="pw-not-shown"), ["127.0.0.1"]
            )
            with caplog.at_level(logging.WARNING):
                errors.append(_unreachable(params, tmp_path))
        assert time.monotonic() - started < 10  # a dead address holds a worker 3 s, not 10
    assert {(e.rule, e.message, tuple(e.params)) for e in errors} == {
        ("source.unreachable", "the PostgreSQL source cannot be reached", ())
    }
    assert "pw-not-shown" not in caplog.text and "127.0.0.1" in caplog.text
    assert not list(tmp_path.iterdir())


def test_roles_cannot_be_enumerated(tmp_path: Path) -> None:
    from .pg_source import pg_source_fixture

    gen = pg_source_fixture()
    src = next(gen)
    try:
        # An unknown role reads as a closed port does (a trust-auth test server accepts any
        # password, so a wrong one cannot be shown failing here).
        params = pg.guard(
            _params(host=src.host, port=src.port, dbname=src.dbname, user="no_such_role_xyz")
            | {"password": "not-the-password"},
            ["127.0.0.1", "::1"],
        )
        err = _unreachable(params, tmp_path)
        assert (err.rule, err.message, err.params) == (
            "source.unreachable",
            "the PostgreSQL source cannot be reached",
            {},
        )
    finally:
        gen.close()


def test_api_timeout_is_one_filled_message(client: Any, tenants: Any) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        r = client.post(
            "/api/datasandbox/sources/postgresql",
            headers=tenants.a.headers(admin=True),
            json={
                "name": "firms",
                "table": "public.firms",
                "identifiers": ["uscc"],
                "host": "127.0.0.1",
                "port": silent.getsockname()[1],
                "dbname": "x",
                "user": "u",
                "password": "pw-not-shown",
            },
        )
    assert r.status_code == 422 and r.json()["key"] == "datasandbox.source.unreachable", r.text
    assert "{" not in r.json()["detail"] and "pw-not-shown" not in r.text
