"""PostgreSQL sources against the real server: read-only check, snapshot, refresh, secrecy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from mingyue.core.errors import Conflict, InvalidInput, NotFound
from mingyue.enablers.datasandbox import catalogue, service
from mingyue.enablers.datasandbox.adapters import postgres as pg
from mingyue.enablers.datasandbox.engine.errors import InvalidSpec
from mingyue.enablers.datasandbox.sources import service as sources

from .pg_source import ROWS, PgSource, pg_source_fixture

pg_src = pytest.fixture(pg_source_fixture)
AGG = (
    "SELECT count(*), count(DISTINCT uscc), sum(revenue)::float8, sum(employees), "
    "sum(score)::float8, count(score), min(founded)::text, max(founded)::text, "
    "count(DISTINCT tag::text), sum(raw)::float8 FROM {t}"
)


def _pg_aggregates(src: PgSource) -> tuple[Any, ...]:
    with src.admin() as c:
        row = c.execute(AGG.format(t=f"{src.schema}.firms")).fetchone()
    assert row is not None
    return tuple(row)


def _parquet_aggregates(path: Path) -> tuple[Any, ...]:
    import duckdb

    con = duckdb.connect()
    q = AGG.format(t=f"read_parquet('{path}')").replace("::float8", "::DOUBLE")
    return tuple(con.sql(q).fetchall()[0])


def _register(uow_as: Any, actor: Any, src: PgSource, name: str = "firms", **kw: Any) -> Any:
    args: dict[str, Any] = {
        "table": f"{src.schema}.firms",
        "identifiers": ["uscc"],
        "quasi": ["region"],
        "sensitive": ["revenue"],
        "min_group": 5,
        "dsn": src.dsn(src.reader),
        "password": src.password,
        "open_to_all": True,
    } | kw
    with uow_as(actor) as uow:
        return sources.register_pg_dataset(uow=uow, actor=actor, name=name, **args)


def _raw_db_text(settings: Any) -> str:
    from mingyue.core.db import system_session

    with system_session(settings, "test: raw rows") as s:
        rows = [
            s.execute(text(f"SELECT * FROM {t}")).all()
            for t in (
                "datasandbox_source",
                "datasandbox_snapshot",
                "datasandbox_dataset",
                "core_audit_entry",
            )
        ]
    return repr(rows)


@pytest.fixture()
def owner(tenants: Any, actor_of: Any) -> Any:
    return actor_of(tenants.a.admin)


def test_snapshot_equals_table_and_secret_is_sealed(
    pg_src: PgSource, owner: Any, uow_as: Any, settings: Any
) -> None:
    out = _register(uow_as, owner, pg_src, columns=None)
    assert out.rows_rounded == 1200 and {c.name for c in out.columns} >= {"uscc", "revenue"}
    types = {c.name: c.type for c in out.columns}
    assert types["revenue"].startswith("DECIMAL(12,2)") and types["employees"] == "INTEGER"
    assert types["founded"] == "DATE" and types["tag"] == "VARCHAR"
    with uow_as(owner) as uow:
        row = catalogue.catalogue_rows(uow, ["firms"])[0]
        meta = row.meta
        src = sources.get_source(uow=uow, actor=owner, name="firms")
    assert meta["rows"] == ROWS
    assert _parquet_aggregates(Path(meta["path"])) == pytest.approx(_pg_aggregates(pg_src))
    assert Path(meta["path"]).resolve().is_relative_to(Path(settings.data_dir).resolve())
    assert src.version == 1 and src.rows == ROWS and len(src.snapshots) == 1
    assert (
        src.location == f"postgresql://{pg_src.reader}@{pg_src.host}:{pg_src.port}/{pg_src.dbname}"
    )
    raw = _raw_db_text(settings)
    assert pg_src.password not in raw and "S3cret" not in raw
    assert "gAAAAA" in raw  # the Fernet token is what the source row stores
    assert not list((Path(settings.data_dir) / "datasandbox" / "tmp").iterdir())


def test_queries_run_on_the_snapshot(
    pg_src: PgSource, owner: Any, uow_as: Any, tenants: Any, actor_of: Any, run_jobs: Any
) -> None:
    _register(uow_as, owner, pg_src, epsilon_per_period=0)
    bank = actor_of(tenants.b.member)
    with uow_as(bank) as uow:
        req = service.submit_query(
            uow=uow,
            actor=bank,
            sql="SELECT industry, count(*) AS n FROM firms GROUP BY industry ORDER BY industry",
        )
    run_jobs()
    with uow_as(bank) as uow:
        done = service.get_request(uow=uow, actor=bank, request_id=req.id)
    assert done.status == "released", done.reason
    with pg_src.admin() as c:
        want = c.execute(
            f"SELECT industry, count(*) FROM {pg_src.schema}.firms "
            "GROUP BY industry ORDER BY industry"
        ).fetchall()
    assert [(r["industry"], r["n"]) for r in done.rows or []] == [tuple(w) for w in want]


def test_columns_and_views(pg_src: PgSource, owner: Any, uow_as: Any) -> None:
    out = _register(
        uow_as,
        owner,
        pg_src,
        name="big",
        table=f"{pg_src.schema}.big_firms",
        quasi=[],
        columns=["uscc", "revenue"],
    )
    assert [c.name for c in out.columns] == ["uscc", "revenue"]
    with pg_src.admin() as c:
        n = c.execute(f"SELECT count(*) FROM {pg_src.schema}.big_firms").fetchone()
    assert n is not None
    with uow_as(owner) as uow:
        assert sources.get_source(uow=uow, actor=owner, name="big").rows == n[0]


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"dsn": None, "password": None}, "pg.dsn_missing"),
        ({"table": "no_such_schema.firms"}, "pg.table_not_found"),
        ({"table": "firms; DROP TABLE x"}, "pg.table_name"),
        ({"columns": ["uscc", "nope"]}, "pg.unknown_column"),
        ({"identifiers": ["nope"]}, "dataset.unknown_column"),
        ({"dsn": "postgresql://u@127.0.0.1:1/test"}, "source.unreachable"),
        ({"dsn": "host=/var/run/postgresql dbname=test user=postgres"}, "pg.dsn_option"),
        ({"dsn": "postgresql://u@h/db?passfile=/etc/passwd"}, "pg.dsn_option"),
    ],
)
def test_bad_input_is_one_clear_error_and_nothing_is_left(
    pg_src: PgSource, owner: Any, uow_as: Any, settings: Any, change: dict[str, Any], rule: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        _register(uow_as, owner, pg_src, **change)
    assert err.value.key == f"datasandbox.{rule}", err.value.message
    assert pg_src.password not in err.value.message
    with uow_as(owner) as uow:
        assert service.list_datasets(uow=uow, actor=owner) == []
    assert not [p for p in (Path(settings.data_dir) / "datasandbox").rglob("*") if p.is_file()]


def test_writer_superuser_and_owner_roles_refused(
    pg_src: PgSource, owner: Any, uow_as: Any
) -> None:
    for dsn, rule in (
        (pg_src.dsn(pg_src.writer), "pg.writable"),
        (pg_src.dsn("postgres"), "pg.superuser"),
    ):
        with pytest.raises(InvalidInput) as err:
            _register(uow_as, owner, pg_src, dsn=dsn)
        assert err.value.key == f"datasandbox.{rule}", err.value.message
    with pg_src.admin() as c:  # an owner can always grant itself write access
        c.execute(f"CREATE TABLE {pg_src.schema}.own (uscc text)")
        c.execute(f"ALTER TABLE {pg_src.schema}.own OWNER TO {pg_src.reader}")
    with pytest.raises(InvalidInput) as err:
        _register(uow_as, owner, pg_src, table=f"{pg_src.schema}.own")
    assert err.value.key == "datasandbox.pg.owner" and "owns" in err.value.message
    with uow_as(owner) as uow:
        assert service.list_datasets(uow=uow, actor=owner) == []


def test_row_cap_and_timeout(pg_src: PgSource, tmp_path: Path) -> None:
    params = pg.conninfo(dsn=pg_src.dsn(pg_src.reader), password=pg_src.password)
    with pytest.raises(InvalidSpec) as err:
        pg.snapshot(
            params,
            f"{pg_src.schema}.firms",
            tmp_path / "x.parquet",
            limits=pg.Limits(max_rows=ROWS - 1),
        )
    assert err.value.rule == "pg.too_many_rows"
    with pytest.raises(InvalidSpec) as err:
        pg.snapshot(
            params,
            f"{pg_src.schema}.slow",
            tmp_path / "y.parquet",
            limits=pg.Limits(statement_timeout_s=1),
        )
    assert err.value.rule == "pg.timeout" and not list(tmp_path.iterdir())


def test_connect_timeout_is_one_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as silent:  # accepts TCP, never speaks the protocol
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        params = pg.conninfo(
            host="127.0.0.1",
            port=silent.getsockname()[1],
            dbname="x",
            user="u",
            password="pw-not-shown",
        )
        with pytest.raises(InvalidSpec) as err:
            pg.snapshot(
                params, "public.t", tmp_path / "t.parquet", limits=pg.Limits(connect_timeout_s=2)
            )
    assert err.value.rule == "source.unreachable", err.value.message
    assert "pw-not-shown" not in err.value.message and not list(tmp_path.iterdir())


def test_snapshot_types_and_byte_cap(pg_src: PgSource, tmp_path: Path) -> None:
    import duckdb

    with pg_src.admin() as c:
        c.execute(
            f"CREATE TABLE {pg_src.schema}.odd (id int, flag bool, ts timestamptz, "
            "txt text, big bigint, r real, bin bytea, arr int[])"
        )
        c.execute(
            f"INSERT INTO {pg_src.schema}.odd VALUES (1, true, '2024-05-01 08:00+08', "
            "'a,\"b\"\nc', 9007199254740993, 1.5, '\\x00ff', '{1,2}'), "
            "(2, false, NULL, '', NULL, NULL, NULL, NULL), (3, NULL, NULL, NULL, 0, 0, "
            "NULL, '{}')"
        )
        c.execute(f"GRANT SELECT ON {pg_src.schema}.odd TO {pg_src.reader}")
    params = pg.conninfo(dsn=pg_src.dsn(pg_src.reader), password=pg_src.password)
    snap = pg.snapshot(params, f"{pg_src.schema}.odd", tmp_path / "o.parquet")
    assert snap.rows == 3 and [p.name for p in tmp_path.iterdir()] == ["o.parquet"]
    rows = (
        duckdb.connect()
        .sql(
            f"SELECT id, flag, ts::VARCHAR, txt, big, r, bin, arr FROM "
            f"read_parquet('{tmp_path / 'o.parquet'}') ORDER BY id"
        )
        .fetchall()
    )
    assert rows[0][1:6] == (True, "2024-05-01 00:00:00+00", 'a,"b"\nc', 9007199254740993, 1.5)
    assert rows[0][6:] == ("\\x00ff", "{1,2}")
    assert rows[1][1:] == (False, None, "", None, None, None, None)  # '' stays '', NULL stays
    assert rows[2][1:4] == (None, None, None) and rows[2][7] == "{}"
    with pytest.raises(InvalidSpec) as err:
        pg.snapshot(
            params,
            f"{pg_src.schema}.firms",
            tmp_path / "g.parquet",
            limits=pg.Limits(max_bytes=2048),
        )
    assert err.value.rule == "pg.too_large" and [p.name for p in tmp_path.iterdir()] == [
        "o.parquet"
    ]


def test_refresh_new_version_audited_and_owner_only(
    pg_src: PgSource, owner: Any, uow_as: Any, tenants: Any, actor_of: Any, settings: Any
) -> None:
    _register(uow_as, owner, pg_src)
    with pg_src.admin() as c:
        c.execute(
            f"INSERT INTO {pg_src.schema}.firms (uscc, industry, region, revenue, "
            "employees) SELECT 'V' || g, 'it', 'bj', 10, 1 FROM generate_series(1, 66) g"
        )
    paths = []
    for version in (2, 3):
        with uow_as(owner) as uow:
            out = sources.refresh_dataset(uow=uow, actor=owner, name="firms")
            paths.append(Path(catalogue.catalogue_rows(uow, ["firms"])[0].meta["path"]))
        assert out.version == version and out.rows == ROWS + 66
    assert [s.version for s in out.snapshots] == [1, 2, 3]
    assert _parquet_aggregates(paths[-1]) == pytest.approx(_pg_aggregates(pg_src))
    # The file before the previous one is gone; the previous one is kept for running jobs.
    assert paths[0].exists() and paths[1].exists()
    assert not (Path(settings.data_dir) / "datasandbox" / "datasets" / "firms.parquet").exists()
    from mingyue.core.db import system_session
    from mingyue.core.ledger.audit import AuditEntry

    with system_session(settings, "test audit") as s:
        refreshed = [
            e.payload
            for e in s.scalars(select(AuditEntry)).all()
            if e.action == "datasandbox.dataset.refreshed"
        ]
    assert [p["version"] for p in refreshed] == [2, 3]
    assert pg_src.password not in json.dumps(refreshed)
    other = actor_of(tenants.b.admin)
    for call in (sources.refresh_dataset, sources.get_source):
        with pytest.raises(NotFound), uow_as(other) as uow:
            call(uow=uow, actor=other, name="firms")
    with pytest.raises(NotFound), uow_as(owner) as uow:
        sources.refresh_dataset(uow=uow, actor=owner, name="no_such")


def test_refresh_of_an_uploaded_dataset_or_a_broken_source(
    pg_src: PgSource, owner: Any, uow_as: Any, demo_files: Any
) -> None:
    with uow_as(owner) as uow:
        service.register_dataset(
            uow=uow,
            actor=owner,
            source=demo_files.enterprises,
            name="uploaded",
            identifiers=["uscc"],
        )
    with pytest.raises(NotFound), uow_as(owner) as uow:
        sources.refresh_dataset(uow=uow, actor=owner, name="uploaded")
    _register(uow_as, owner, pg_src)
    with pg_src.admin() as c:
        c.execute(f"GRANT DELETE ON {pg_src.schema}.firms TO {pg_src.reader}")
    with pytest.raises(InvalidInput) as err, uow_as(owner) as uow:
        sources.refresh_dataset(uow=uow, actor=owner, name="firms")
    assert err.value.key == "datasandbox.pg.writable" and "DELETE" in err.value.message
    with uow_as(owner) as uow:
        assert sources.get_source(uow=uow, actor=owner, name="firms").version == 1
    with pytest.raises(Conflict):
        _register(uow_as, owner, pg_src)


def test_platform_database_is_never_a_source(
    pg_src: PgSource, owner: Any, uow_as: Any, settings: Any
) -> None:
    from sqlalchemy.engine import make_url

    if settings.is_sqlite:
        # the metadata store is SQLite in this pass: check the guard against a platform whose
        # metadata store is the PostgreSQL database the sources live in (the PostgreSQL pass
        # runs the whole registration below)
        from types import SimpleNamespace

        from mingyue.enablers.datasandbox.sources.service import _refuse_own_metadata_db

        pg = settings.model_copy(
            update={"database_url": f"postgresql+psycopg://{pg_src.reader}@127.0.0.1:5432/test"}
        )
        uow = SimpleNamespace(settings=pg)
        for host in ("127.0.0.1", "localhost"):
            with pytest.raises(InvalidInput) as err:
                _refuse_own_metadata_db(uow, {"host": host, "port": "5432", "dbname": "test"})  # type: ignore[arg-type]
            assert err.value.key == "datasandbox.pg.platform_db"
        _refuse_own_metadata_db(
            uow,
            {
                "host": "127.0.0.1",
                "port": "5432",  # type: ignore[arg-type]
                "dbname": "other",
            },
        )
        return
    url = make_url(settings.sqlalchemy_url)
    with pytest.raises(InvalidInput) as err:
        _register(
            uow_as,
            owner,
            pg_src,
            dsn=f"postgresql://{pg_src.reader}@localhost:{url.port or 5432}/{url.database}",
            table="public.core_user",
        )
    assert err.value.key == "datasandbox.pg.platform_db"
