"""Datasets inside the sandbox: column classification and ingestion of CSV/Parquet/JSON to Parquet."""

# ruff: noqa: S608  (SQL is built from checked column names (COLUMN_RE); values are bound)
from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from .errors import InvalidSpec

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
)
INTEGER_TYPES = NUMERIC_TYPES[:9]


class ColumnClass(StrEnum):
    """How a column may be used (GB/T 35273-2020 §3: personal information, de-identification)."""

    IDENTIFIER = "identifier"  # direct identifier: join key at most, never an output
    QUASI = "quasi"  # quasi-identifier: may group, but small groups are suppressed
    SENSITIVE = "sensitive"  # sensitive attribute: only inside aggregates
    ORDINARY = "ordinary"


@dataclass(frozen=True)
class Column:
    """One column of a stored dataset."""

    name: str
    type: str
    cls: ColumnClass
    bounds: tuple[float, float] | None = None  # public clamping bounds for DP sums/means
    description: str = ""

    @property
    def is_numeric(self) -> bool:
        return self.type.upper().startswith(NUMERIC_TYPES) or self.type.upper().startswith(
            "DECIMAL"
        )

    @property
    def is_integer(self) -> bool:
        return self.type.upper() in INTEGER_TYPES


@dataclass(frozen=True)
class Dataset:
    """A dataset stored as one Parquet file inside the sandbox folder."""

    name: str
    path: Path
    columns: tuple[Column, ...]
    rows: int
    max_contributions: int  # rows per privacy unit, enforced at ingestion
    sha256: str
    unit: str | None = None  # the privacy unit column (first identifier)
    # Most rows sharing one value, per identifier column (bounds join fan-out for DP).
    key_multiplicity: dict[str, int] = field(default_factory=dict)

    def multiplicity(self, column: str) -> int | None:
        """Most rows that share one value of identifier ``column`` (None when unknown)."""
        for k, v in self.key_multiplicity.items():
            if k.lower() == column.lower():
                return v
        if self.unit and column.lower() == self.unit.lower():
            return self.max_contributions
        return None

    def column(self, name: str) -> Column | None:
        for c in self.columns:
            if c.name.lower() == name.lower():
                return c
        return None

    @property
    def identifiers(self) -> list[str]:
        return [c.name for c in self.columns if c.cls is ColumnClass.IDENTIFIER]

    def rows_rounded(self) -> int:
        """Row count rounded to two significant digits, as the catalogue shows it."""
        if self.rows < 100:
            return int(round(self.rows, -1))
        digits = math.floor(math.log10(self.rows)) - 1
        return int(round(self.rows, -digits))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "rows": self.rows,
            "max_contributions": self.max_contributions,
            "sha256": self.sha256,
            "unit": self.unit,
            "key_multiplicity": dict(self.key_multiplicity),
            "columns": [
                {
                    "name": c.name,
                    "type": c.type,
                    "cls": c.cls.value,
                    "bounds": list(c.bounds) if c.bounds else None,
                    "description": c.description,
                }
                for c in self.columns
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Dataset:
        cols = tuple(
            Column(
                name=c["name"],
                type=c["type"],
                cls=ColumnClass(c["cls"]),
                bounds=tuple(c["bounds"]) if c.get("bounds") else None,
                description=c.get("description", ""),
            )
            for c in d["columns"]
        )
        return cls(
            name=d["name"],
            path=Path(d["path"]),
            columns=cols,
            rows=int(d["rows"]),
            max_contributions=int(d["max_contributions"]),
            sha256=d["sha256"],
            unit=d.get("unit"),
            key_multiplicity={k: int(v) for k, v in (d.get("key_multiplicity") or {}).items()},
        )


@dataclass
class DatasetSpec:
    """What the owner declares when registering a dataset."""

    name: str
    identifiers: list[str] = field(default_factory=list)
    quasi: list[str] = field(default_factory=list)
    sensitive: list[str] = field(default_factory=list)
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    max_contributions: int | None = None  # None: measured on the data at ingestion


def _nice_bounds(lo: float, hi: float) -> tuple[float, float]:
    """Round bounds outward to two significant digits so they do not echo an exact record value."""

    def up(x: float) -> float:
        if x <= 0:
            return -down(-x)
        p = 10 ** (math.floor(math.log10(x)) - (1 if x >= 100 else 0))
        return float(math.ceil(x / p) * p)

    def down(x: float) -> float:
        if x <= 0:
            return -up(-x) if x < 0 else 0.0
        p = 10 ** (math.floor(math.log10(x)) - (1 if x >= 100 else 0))
        return float(math.floor(x / p) * p)

    return float(down(lo)), float(up(hi)) if hi > lo else float(down(lo)) + 1.0


def _reader(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "read_csv($p, header=true)"
    if suffix in (".parquet", ".pq"):
        return "read_parquet($p)"
    if suffix in (".json", ".jsonl", ".ndjson"):
        return "read_json_auto($p)"
    raise InvalidSpec(
        "dataset.format", f"unsupported file type {suffix!r} (CSV, Parquet, JSON)", suffix=suffix
    )


def ingest(source: Path | str, spec: DatasetSpec, dest_dir: Path | str) -> Dataset:
    """Read CSV/Parquet/JSON, check the declared classification, store it as Parquet in dest_dir."""
    import duckdb  # lazy: datasandbox extra, heavy

    source, dest_dir = Path(source), Path(dest_dir)
    if not NAME_RE.match(spec.name):
        raise InvalidSpec(
            "dataset.name", "dataset names are lower-case letters, digits and _", name=spec.name
        )
    if not source.is_file():
        raise InvalidSpec("dataset.missing_file", f"no such file: {source}", path=str(source))
    reader = _reader(source)
    dest_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        try:
            rel = con.sql(f"SELECT * FROM {reader}", params={"p": str(source)})
            names, types = rel.columns, [str(t) for t in rel.types]
        except duckdb.Error as exc:
            raise InvalidSpec(
                "dataset.unreadable", f"cannot read {source.name}: {exc}", path=str(source)
            ) from exc
        bad = [n for n in names if not COLUMN_RE.match(n)]
        if bad:
            raise InvalidSpec(
                "dataset.column_name", f"column names must be ASCII identifiers: {bad}", columns=bad
            )
        lower = {n.lower(): n for n in names}
        declared = spec.identifiers + spec.quasi + spec.sensitive + list(spec.bounds)
        missing = [c for c in declared if c.lower() not in lower]
        if missing:
            raise InvalidSpec(
                "dataset.unknown_column",
                f"declared columns not in the file: {missing}",
                columns=missing,
            )
        overlap = {c.lower() for c in spec.identifiers} & {
            c.lower() for c in spec.quasi + spec.sensitive
        }
        if overlap:
            raise InvalidSpec(
                "dataset.double_class",
                f"column classified twice: {sorted(overlap)}",
                columns=sorted(overlap),
            )
        ids = [lower[c.lower()] for c in spec.identifiers]
        unit = ids[0] if ids else None
        con.sql(f"CREATE TEMP TABLE src AS SELECT * FROM {reader}", params={"p": str(source)})
        rows = int(con.sql("SELECT count(*) FROM src").fetchall()[0][0])
        if unit:
            nulls = con.sql(f'SELECT count(*) FROM src WHERE "{unit}" IS NULL').fetchall()[0][0]
            if nulls:
                raise InvalidSpec(
                    "dataset.null_identifier",
                    f"identifier column {unit} has {nulls} empty values",
                    column=unit,
                )
            measured = int(
                con.sql(
                    f'SELECT coalesce(max(c), 0) FROM (SELECT count(*) c FROM src GROUP BY "{unit}")'
                ).fetchall()[0][0]
            )
        else:
            measured = 1
        k = spec.max_contributions or max(measured, 1)
        if k < measured:
            # Contribution bounding, done once at ingestion: keep k rows per unit, chosen by a
            # hash of the row, so that every later query inherits the bound without re-scanning.
            con.sql(
                f"CREATE TEMP TABLE bounded AS SELECT * EXCLUDE (__rn) FROM (SELECT *, "
                f'row_number() OVER (PARTITION BY "{unit}" ORDER BY hash(src)) AS __rn '
                f"FROM src) WHERE __rn <= {int(k)}"
            )
            table = "bounded"
            rows = int(con.sql("SELECT count(*) FROM bounded").fetchall()[0][0])
        else:
            table = "src"
        columns: list[Column] = []
        for n, t in zip(names, types, strict=True):
            low = n.lower()
            cls = (
                ColumnClass.IDENTIFIER
                if low in {c.lower() for c in spec.identifiers}
                else ColumnClass.QUASI
                if low in {c.lower() for c in spec.quasi}
                else ColumnClass.SENSITIVE
                if low in {c.lower() for c in spec.sensitive}
                else ColumnClass.ORDINARY
            )
            col = Column(n, t, cls, description=spec.descriptions.get(n, ""))
            bounds = {k_.lower(): v for k_, v in spec.bounds.items()}.get(low)
            if bounds is None and col.is_numeric and cls is not ColumnClass.IDENTIFIER and rows:
                lo, hi = con.sql(
                    f'SELECT min("{n}")::DOUBLE, max("{n}")::DOUBLE FROM {table}'
                ).fetchall()[0]
                if lo is not None:
                    bounds = _nice_bounds(float(lo), float(hi))
            if bounds is not None:
                if not bounds[0] < bounds[1]:
                    raise InvalidSpec(
                        "dataset.bounds", f"bounds of {n} must be lower < upper", column=n
                    )
                col = Column(n, t, cls, (float(bounds[0]), float(bounds[1])), col.description)
            columns.append(col)
        multiplicity = {unit: k} if unit else {}
        for ident in ids[1:]:
            multiplicity[ident] = int(
                con.sql(
                    f'SELECT coalesce(max(c), 0) FROM (SELECT count(*) c FROM {table} GROUP BY "{ident}")'
                ).fetchall()[0][0]
            )
        final = dest_dir / f"{spec.name}.parquet"
        fd, tmp = tempfile.mkstemp(dir=dest_dir, suffix=".parquet.part")
        os.close(fd)
        try:
            con.sql(f"COPY {table} TO '{tmp}' (FORMAT parquet)")
            digest = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    finally:
        con.close()
    return Dataset(
        name=spec.name,
        path=final,
        columns=tuple(columns),
        rows=rows,
        max_contributions=k,
        sha256=digest,
        unit=unit,
        key_multiplicity=multiplicity,
    )
