"""Mock preview: synthetic rows with a dataset's schema and plausible formats, no real values copied.

How: the generator reads only *format descriptors* of each column, never rows — the type, the public
clamping bounds (already rounded outward at registration), the length range and character classes
of strings, whether identifiers are valid USCCs or hex hashes. Values are then drawn at random:
fresh valid USCCs (GB 32100 check character recomputed), random hex of the same length, Faker
zh_CN text for name/address/phone-like columns, uniform numbers inside the bounds. The one
exception is low-cardinality categories (≤ 30 distinct values): a category appears only if at
least ``min_group`` records carry it — exactly what a gated ``GROUP BY`` would release anyway;
rarer categories are shown as ``其他/other``.
"""

# ruff: noqa: S608  (SQL is built from the dataset's checked, quoted column names)
from __future__ import annotations

import datetime as dt
import random
import re
import string
from dataclasses import dataclass
from typing import Any

from . import uscc
from .datasets import ColumnClass, Dataset

_HEX = re.compile(r"^[0-9a-f]+$")


@dataclass(frozen=True)
class ColumnFormat:
    """What the mock generator knows about one column (never a record value)."""

    name: str
    kind: str  # uscc | hex | text | category | int | float | date | bool
    min_len: int = 0
    max_len: int = 0
    charset: str = ""
    categories: tuple[str, ...] = ()
    bounds: tuple[float, float] | None = None
    years: tuple[int, int] | None = None


def describe(ds: Dataset, min_group: int = 10) -> list[ColumnFormat]:
    """Measure the format descriptors of every column of ``ds`` (runs on the owner's side)."""
    import duckdb  # lazy: datasandbox extra, heavy

    con = duckdb.connect()
    try:
        con.sql(f"CREATE VIEW t AS SELECT * FROM read_parquet('{_q(str(ds.path))}')")
        out: list[ColumnFormat] = []
        for c in ds.columns:
            q = f'"{c.name}"'
            t = c.type.upper()
            if t in ("VARCHAR", "TEXT", "STRING"):
                n_distinct, lo, hi, n_bad_uscc, n_hex, n_cjk, n_digit = con.sql(
                    f"SELECT count(DISTINCT {q}), min(length({q})), max(length({q})), "
                    f"count(*) FILTER (WHERE NOT regexp_full_match({q}, '[0-9A-HJ-NPQRTUWXY]{{18}}')),"
                    f" count(*) FILTER (WHERE regexp_full_match({q}, '[0-9a-f]+')), "
                    f"count(*) FILTER (WHERE regexp_matches({q}, '[\\x{{4e00}}-\\x{{9fff}}]')), "
                    f"count(*) FILTER (WHERE regexp_full_match({q}, '[0-9]+')) FROM t"
                ).fetchall()[0]
                rows = ds.rows or 1
                if c.cls is ColumnClass.IDENTIFIER or n_distinct > 30:
                    if n_bad_uscc == 0 and rows:
                        out.append(ColumnFormat(c.name, "uscc", 18, 18))
                    elif n_hex == rows:
                        out.append(ColumnFormat(c.name, "hex", lo or 0, hi or 0))
                    else:
                        charset = ("cjk" if n_cjk else "") + (
                            "digits" if n_digit == rows else "alnum"
                        )
                        out.append(ColumnFormat(c.name, "text", lo or 0, hi or 0, charset))
                else:
                    cats = tuple(
                        r[0]
                        for r in con.sql(
                            f"SELECT {q} FROM t WHERE {q} IS NOT NULL GROUP BY {q} "
                            f"HAVING count(*) >= {int(min_group)} ORDER BY {q}"
                        ).fetchall()
                    )
                    out.append(ColumnFormat(c.name, "category", categories=cats))
            elif t.startswith(("DATE", "TIMESTAMP")):
                y0, y1 = con.sql(f"SELECT min(year({q})), max(year({q})) FROM t").fetchall()[0]
                y0 = int(y0 or 2000) // 10 * 10
                y1 = (int(y1 or 2020) // 10 + 1) * 10 - 1
                out.append(ColumnFormat(c.name, "date", years=(y0, y1)))
            elif t == "BOOLEAN":
                out.append(ColumnFormat(c.name, "bool"))
            elif c.is_numeric:
                out.append(
                    ColumnFormat(
                        c.name, "int" if c.is_integer else "float", bounds=c.bounds or (0.0, 100.0)
                    )
                )
            else:
                out.append(ColumnFormat(c.name, "text", 4, 12, "alnum"))
        return out
    finally:
        con.close()


def _q(s: str) -> str:
    return s.replace("'", "''")


def generate(
    formats: list[ColumnFormat], n: int = 10, seed: int | None = None
) -> list[dict[str, Any]]:
    """Draw ``n`` synthetic rows from the format descriptors."""

    from faker import Faker  # lazy: datasandbox extra, heavy

    rng = random.Random(seed)  # noqa: S311  (synthetic data, not secrets)
    fake = Faker("zh_CN")
    fake.seed_instance(rng.randrange(2**31))
    rows = []
    for _ in range(n):
        row: dict[str, Any] = {}
        for f in formats:
            name = f.name.lower()
            if f.kind == "uscc":
                row[f.name] = uscc.generate(rng)
            elif f.kind == "hex":
                row[f.name] = "".join(
                    rng.choice("0123456789abcdef") for _ in range(rng.randint(f.min_len, f.max_len))
                )
            elif f.kind == "category":
                row[f.name] = rng.choice(f.categories) if f.categories else "其他/other"
            elif f.kind == "text":
                if "name" in name and "cjk" in f.charset:
                    row[f.name] = fake.company()
                elif "addr" in name:
                    row[f.name] = fake.address()
                elif "phone" in name or "mobile" in name:
                    row[f.name] = fake.phone_number()
                else:
                    pool = (
                        string.digits
                        if f.charset == "digits"
                        else (string.ascii_letters + string.digits)
                    )
                    length = rng.randint(max(f.min_len, 1), max(f.max_len, f.min_len, 1))
                    row[f.name] = "".join(rng.choice(pool) for _ in range(length))
            elif f.kind == "int":
                lo, hi = f.bounds or (0, 100)
                row[f.name] = rng.randint(int(lo), int(hi))
            elif f.kind == "float":
                lo, hi = f.bounds or (0.0, 1.0)
                row[f.name] = round(rng.uniform(lo, hi), 2)
            elif f.kind == "date":
                y0, y1 = f.years or (2000, 2020)
                row[f.name] = dt.date(
                    rng.randint(y0, y1), rng.randint(1, 12), rng.randint(1, 28)
                ).isoformat()
            else:
                row[f.name] = rng.random() < 0.5
        rows.append(row)
    return rows


def preview(
    ds: Dataset, n: int = 10, min_group: int = 10, seed: int | None = None
) -> list[dict[str, Any]]:
    """Synthetic preview rows for the catalogue."""
    return generate(describe(ds, min_group), n, seed)
