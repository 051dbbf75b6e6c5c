"""A real PostgreSQL source for the tests: a schema of our own, a reader and a writer role."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mingyue.testing import PG_ADMIN_URL


@dataclass
class PgSource:
    host: str
    port: int
    dbname: str
    schema: str
    reader: str
    writer: str
    password: str
    admin_dsn: str

    def dsn(self, role: str, with_password: bool = False) -> str:
        pw = f":{self.password}" if with_password else ""
        return f"postgresql://{role}{pw}@{self.host}:{self.port}/{self.dbname}"

    def admin(self):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(self.admin_dsn, autocommit=True)


ROWS = 1234


def pg_source_fixture() -> Iterator[PgSource]:
    """Create schema, table, view and roles; drop them all afterwards."""
    psycopg = pytest.importorskip("psycopg")
    from sqlalchemy.engine import make_url

    url = make_url(PG_ADMIN_URL)
    admin_dsn = f"postgresql://{url.username}@{url.host}:{url.port or 5432}/{url.database}"
    try:
        conn = psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {url.host}:{url.port or 5432} ({exc})")
    tag = secrets.token_hex(4)
    src = PgSource(
        host=str(url.host),
        port=int(url.port or 5432),
        dbname=str(url.database),
        schema=f"dssrc_{tag}",
        reader=f"dsro_{tag}",
        writer=f"dsrw_{tag}",
        password=f"S3cret-{secrets.token_hex(8)}",
        admin_dsn=admin_dsn,
    )
    s, pw = src.schema, src.password
    conn.execute(f"CREATE SCHEMA {s}")
    conn.execute(
        f"CREATE TABLE {s}.firms (uscc text NOT NULL, industry text, region text, "
        f"revenue numeric(12,2), employees integer, score double precision, "
        f"founded date, tag uuid, note jsonb, raw numeric)"
    )
    conn.execute(
        f"INSERT INTO {s}.firms SELECT 'U' || lpad(g::text, 17, '0'), "
        f"(ARRAY['mfg','retail','it','energy'])[1 + g % 4], "
        f"(ARRAY['bj','sh','gz'])[1 + g % 3], (g * 37 % 100000) / 7.0, g % 500, "
        f"CASE WHEN g % 10 = 0 THEN NULL ELSE g / 3.0 END, "
        f"date '2000-01-01' + g, md5(g::text)::uuid, jsonb_build_object('g', g), g * 1.5 "
        f"FROM generate_series(1, {ROWS}) g"
    )
    conn.execute(
        f"CREATE VIEW {s}.big_firms AS SELECT uscc, industry, revenue "
        f"FROM {s}.firms WHERE employees >= 250"
    )
    conn.execute(
        f"CREATE VIEW {s}.slow AS SELECT uscc FROM {s}.firms WHERE pg_sleep(0.5) IS NOT NULL"
    )
    for role in (src.reader, src.writer):
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{pw}'")
        conn.execute(f"GRANT USAGE ON SCHEMA {s} TO {role}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {role}")
    conn.execute(f"GRANT INSERT, UPDATE ON {s}.firms TO {src.writer}")
    try:
        yield src
    finally:
        conn.execute(f"DROP SCHEMA {s} CASCADE")
        for role in (src.reader, src.writer):
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")
        conn.close()
