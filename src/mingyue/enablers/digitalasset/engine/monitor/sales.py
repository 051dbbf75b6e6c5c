"""Sale and transfer events as one columnar table (polars), from CSV, JSON or adapter records.

Columns kept: ``row`` (0-based position in the input), ``ts`` (epoch seconds), ``collection``,
``token_id`` (text: ERC-721 ids are uint256), ``seller``, ``buyer`` (lower case), ``price_cny``
(float, null for a transfer without a price), ``seller_first_funder``, ``buyer_first_funder``
(lower case, empty when unknown). Any other column (labels such as ``is_wash`` or ``pattern``
included) is dropped before a detector sees the table.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

import polars as pl

from mingyue.sdk.errors import InvalidInput

REQUIRED: Final = ("ts", "collection", "token_id", "seller", "buyer", "price_cny")
OPTIONAL: Final = ("seller_first_funder", "buyer_first_funder")
_ISO_WITH_OFFSET: Final = ("%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%:z", "%Y-%m-%dT%H:%M%:z")
_ISO_NAIVE: Final = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d")


def _bad(message: str) -> InvalidInput:
    return InvalidInput("digitalasset.monitor.bad_events", message, field="file", reason=message)


def read_csv(data: bytes | str) -> pl.DataFrame:
    """Read a marketplace export (CSV with a header row) into the event table."""
    raw = data.encode() if isinstance(data, str) else data
    if not raw.strip():
        raise _bad("the file is empty: expected a CSV header " + ",".join(REQUIRED))
    try:
        df = pl.read_csv(
            io.BytesIO(raw),
            infer_schema=False,  # every column as text: we parse and report bad values ourselves
            truncate_ragged_lines=False,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.PolarsError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _bad(f"the CSV could not be read: {first[:200]}") from exc
    return normalise(df)


def read_json(data: bytes | str) -> pl.DataFrame:
    """Read a JSON export: a list of sale objects, or ``{"sales": [...]}`` / ``{"events": [...]}``."""
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _bad(f"the JSON could not be read: {exc}") from exc
    if isinstance(doc, Mapping):
        doc = doc.get("sales", doc.get("events"))
    if not isinstance(doc, list) or not all(isinstance(r, Mapping) for r in doc):
        raise _bad('expected a JSON list of sale objects, or {"sales": [...]}')
    return from_records(doc)


def from_records(records: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Build the event table from dicts (chain adapter events or parsed JSON)."""
    rows = list(records)
    cols: dict[str, list[str | None]] = {c: [] for c in (*REQUIRED, *OPTIONAL)}
    for r in rows:
        for c in cols:
            v = r.get(c)
            cols[c].append(None if v is None else str(v))
    present = {c for r in rows for c in r} if rows else set(REQUIRED)
    missing = [c for c in REQUIRED if c not in present and c != "price_cny"]
    if missing:
        raise _bad(f"the events lack the field(s) {', '.join(missing)}")
    return normalise(pl.DataFrame(cols, schema=dict.fromkeys(cols, pl.String)))


def _parse_ts(col: pl.Series) -> pl.Series:
    """Epoch seconds (milliseconds when > 1e12) or ISO 8601 text (UTC when it has no offset)."""
    num = col.str.strip_chars().cast(pl.Float64, strict=False)
    if num.null_count() == col.null_count():
        scale = 1000.0 if float(num.max() or 0.0) > 1e12 else 1.0  # type: ignore[arg-type]
        return (num / scale).alias("ts")
    iso = col.str.strip_chars().str.replace(" ", "T").str.replace("Z$", "+00:00")
    parsed = pl.Series("ts", [None] * len(col), dtype=pl.Datetime("us", "UTC"))
    for fmt in _ISO_WITH_OFFSET:
        got = iso.str.to_datetime(format=fmt, strict=False, time_unit="us")
        parsed = parsed.fill_null(got.dt.convert_time_zone("UTC"))
    for fmt in _ISO_NAIVE:
        got = iso.str.to_datetime(format=fmt, strict=False, time_unit="us")
        parsed = parsed.fill_null(got.dt.replace_time_zone("UTC"))
    if parsed.null_count() > col.null_count():
        bad = int((parsed.is_null() & col.is_not_null()).arg_true()[0])
        raise _bad(f"data row {bad}: ts {col[bad]!r} is neither epoch seconds nor an ISO 8601 time")
    return (parsed.dt.epoch("us").cast(pl.Float64) / 1e6).alias("ts")


def normalise(df: pl.DataFrame) -> pl.DataFrame:
    """Check columns and values, keep only the columns the detectors use, add ``row``."""
    df = df.rename({c: c.strip().lower() for c in df.columns})
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise _bad(
            f"the events lack the column(s) {', '.join(missing)} "
            f"(needed: {', '.join(REQUIRED)}; optional: {', '.join(OPTIONAL)})"
        )
    for c in OPTIONAL:
        if c not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    df = df.select([pl.col(c).cast(pl.String) for c in (*REQUIRED, *OPTIONAL)])
    for c in ("ts", "collection", "token_id", "seller", "buyer"):
        nulls = df[c].is_null() | (df[c].str.strip_chars() == "")
        if nulls.any():
            raise _bad(f"data row {int(nulls.arg_true()[0])}: {c} is empty")
    ts = _parse_ts(df["ts"])
    price_txt = df["price_cny"].str.strip_chars()
    price = price_txt.cast(pl.Float64, strict=False)
    bad_price = (price.is_null() & price_txt.is_not_null() & (price_txt != "")) | (price < 0)
    if bad_price.any():
        n = int(bad_price.arg_true()[0])
        raise _bad(f"data row {n}: price_cny {df['price_cny'][n]!r} is not a non-negative number")
    return pl.DataFrame(
        {
            "row": pl.int_range(0, df.height, eager=True, dtype=pl.Int64),
            "ts": ts,
            "collection": df["collection"].str.strip_chars(),
            "token_id": df["token_id"].str.strip_chars(),
            "seller": df["seller"].str.strip_chars().str.to_lowercase(),
            "buyer": df["buyer"].str.strip_chars().str.to_lowercase(),
            "price_cny": price,
            "seller_first_funder": df["seller_first_funder"]
            .str.strip_chars()
            .str.to_lowercase()
            .fill_null(""),
            "buyer_first_funder": df["buyer_first_funder"]
            .str.strip_chars()
            .str.to_lowercase()
            .fill_null(""),
        }
    )
