"""Digital-economy indicators: definitions, statistics uploads, target paths, gaps and ranking.

``load_catalogue`` reads the definitions (``rules/indicators.yaml``). ``read_csv`` /
``read_xlsx`` turn an upload into numbered rows (UTF-8 with or without BOM, else GB18030, the
encoding Chinese spreadsheet software writes; the first sheet of a workbook), and ``parse_rows``
reads them defensively: each bad row is reported with its line number and a reason key, good
rows become ``Observation``\\s in the indicator's own unit. ``derive`` fills indicators defined
by a formula (a sum, a ratio) from the others; ``assess`` compares an actual value with the
target path at the period's end; ``rank`` orders districts by completion of their path.

Pure: bytes or a path in, typed results out (openpyxl is imported to read a workbook).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import yaml

Granularity = Literal["yearly", "quarterly", "monthly"]
_GRAIN_RANK = {"yearly": 0, "quarterly": 1, "monthly": 2}
MAX_ERRORS = 200
MAX_CELL = 200

# Units an upload may state, as a factor of the base unit of their family.
_UNITS: dict[str, tuple[str, Decimal]] = {
    "元": ("money", Decimal(1)),
    "万元": ("money", Decimal(10_000)),
    "亿元": ("money", Decimal(100_000_000)),
    "万亿元": ("money", Decimal(10**12)),
    "%": ("ratio", Decimal(1)),
    "％": ("ratio", Decimal(1)),
    "百分比": ("ratio", Decimal(1)),
    "家": ("count", Decimal(1)),
    "个": ("count", Decimal(1)),
}

HEADERS: dict[str, tuple[str, ...]] = {
    "indicator": ("indicator", "指标", "指标名称", "指标代码"),
    "district": ("district", "地区", "区县", "区域", "行政区"),
    "period": ("period", "期间", "年份", "时间", "统计期", "年度"),
    "value": ("value", "数值", "值", "指标值", "实际值"),
    "unit": ("unit", "单位", "计量单位"),
}
REQUIRED = ("indicator", "district", "period", "value")


@dataclass(frozen=True)
class Indicator:
    """One indicator's definition and its yearly targets by district."""

    key: str
    title: dict[str, str]
    unit: str
    measure: Literal["flow", "stock", "ratio"]
    direction: Literal["up", "down"]
    frequency: Granularity
    formula: dict[str, str]
    data_source: dict[str, str]
    responsible: dict[str, str]
    targets: Mapping[str, Mapping[int, Decimal]]
    aliases: tuple[str, ...] = ()
    derive: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Catalogue:
    """Every indicator definition, with the highlands list and the source line."""

    indicators: tuple[Indicator, ...]
    highlands: tuple[Mapping[str, Any], ...]
    source: dict[str, str]

    def get(self, key: str) -> Indicator | None:
        """Return the indicator of this key, if any."""
        return next((i for i in self.indicators if i.key == key), None)

    def find(self, name: str) -> Indicator | None:
        """Return the indicator a cell names: its key, its Chinese or English title, an alias."""
        n = _norm(name)
        for ind in self.indicators:
            names = (ind.key, ind.title["zh"], ind.title["en"], *ind.aliases)
            if n in {_norm(x) for x in names}:
                return ind
        return None


@dataclass(frozen=True, order=True)
class Period:
    """A statistical period: ``2023``, ``2023Q2`` or ``2023-05``; ``point`` is its end in years."""

    point: Decimal
    text: str
    year: int
    grain: Granularity


@dataclass(frozen=True)
class Observation:
    """One value read from an upload (or derived), in the indicator's unit."""

    indicator: str
    district: str
    period: Period
    value: Decimal
    line: int | None = None  # the upload's line (None when derived)


@dataclass(frozen=True)
class RowError:
    """A row of an upload that was not read: its line, a reason key and the English text."""

    line: int
    key: str
    message: str
    column: str | None = None


@dataclass
class Parsed:
    """What an upload yielded: good observations, bad rows, and how many rows were read."""

    observations: list[Observation] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0
    errors_dropped: int = 0

    def error(self, line: int, key: str, message: str, column: str | None = None) -> None:
        """Record a bad row (the first ``MAX_ERRORS`` are kept, the rest counted)."""
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(RowError(line, key, message, column))
        else:
            self.errors_dropped += 1


@dataclass(frozen=True)
class Assessment:
    """An actual value against the target path at its period's end."""

    actual: Decimal
    path: Decimal | None
    gap: Decimal | None  # actual - path (for a "down" indicator: path - actual)
    gap_ratio: Decimal | None  # gap / path
    completion: Decimal | None  # actual / path (down: path / actual)
    lagging: bool


class UploadTooLarge(ValueError):
    """The upload has more rows than allowed."""


# -- definitions ----------------------------------------------------------------------------------


def _pair(node: Any, where: str, what: str) -> dict[str, str]:
    if not isinstance(node, Mapping) or not node.get("zh") or not node.get("en"):
        raise ValueError(f"{where}: {what} needs zh and en")
    return {"zh": str(node["zh"]), "en": str(node["en"])}


def load_catalogue(path: Path) -> Catalogue:
    """Read and check the indicator definitions; ValueError naming the indicator at fault."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, Mapping) or not isinstance(doc.get("indicators"), list):
        raise ValueError(f"{path.name}: expected an 'indicators' list")
    out: list[Indicator] = []
    for node in doc["indicators"]:
        key = str(node.get("key") or "")
        where = f"{path.name}: {key or '?'}"
        if not re.fullmatch(r"[a-z][a-z0-9_]{1,40}", key) or any(i.key == key for i in out):
            raise ValueError(f"{where}: a unique key of a-z, 0-9 and _ is required")
        unit = str(node.get("unit") or "")
        if unit not in _UNITS:
            raise ValueError(f"{where}: unit {unit!r} is not one of {', '.join(_UNITS)}")
        if node.get("measure") not in ("flow", "stock", "ratio"):
            raise ValueError(f"{where}: measure is flow, stock or ratio")
        if node.get("direction", "up") not in ("up", "down"):
            raise ValueError(f"{where}: direction is up or down")
        if node.get("frequency") not in _GRAIN_RANK:
            raise ValueError(f"{where}: frequency is yearly, quarterly or monthly")
        targets: dict[str, dict[int, Decimal]] = {}
        for district, years in (node.get("targets") or {}).items():
            if not isinstance(years, Mapping) or not years:
                raise ValueError(f"{where}: targets of {district} are year: value pairs")
            targets[str(district)] = {int(y): Decimal(str(v)) for y, v in years.items()}
        out.append(
            Indicator(
                key=key,
                title=_pair(node.get("title"), where, "title"),
                unit=unit,
                measure=node["measure"],
                direction=node.get("direction", "up"),
                frequency=node["frequency"],
                formula=_pair(node.get("formula"), where, "formula"),
                data_source=_pair(node.get("data_source"), where, "data_source"),
                responsible=_pair(node.get("responsible"), where, "responsible"),
                targets=targets,
                aliases=tuple(str(a) for a in node.get("aliases") or ()),
                derive=dict(node.get("derive") or {}),
            )
        )
    keys = {i.key for i in out}
    for ind in out:
        refs = list(ind.derive.get("sum") or ()) + list(ind.derive.get("ratio") or ())
        if bad := [r for r in refs if r not in keys]:
            raise ValueError(f"{path.name}: {ind.key} derives from unknown {bad}")
    source = doc.get("source") or {}
    return Catalogue(
        indicators=tuple(out),
        highlands=tuple(doc.get("highlands") or ()),
        source=_pair(source, path.name, "source"),
    )


# -- cells ----------------------------------------------------------------------------------------


def _norm(text: Any) -> str:
    return unicodedata.normalize("NFKC", str(text)).strip().lower().replace(" ", "")


_CN_Q = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}


def parse_period(cell: Any) -> Period:
    """Read a period cell: a year, a quarter or a month, as people write them; ValueError."""
    if isinstance(cell, datetime | date):
        return _month(cell.year, cell.month)
    if isinstance(cell, int | float) and not isinstance(cell, bool) and float(cell).is_integer():
        cell = str(int(cell))
    text = unicodedata.normalize("NFKC", str(cell)).strip().replace(" ", "")
    if m := re.fullmatch(r"(\d{4})(?:年|年度)?", text):
        return _year(int(m.group(1)))
    if m := re.fullmatch(r"(\d{4})(?:年|[-/])?(?:[Qq]([1-4])|第?([一二三四1-4])季度)", text):
        return _quarter(int(m.group(1)), _CN_Q[m.group(2) or m.group(3)])
    if m := re.fullmatch(r"(\d{4})(?:年|[-/.])(\d{1,2})(?:月)?(?:[-/.]\d{1,2}(?:日)?)?", text):
        return _month(int(m.group(1)), int(m.group(2)))
    raise ValueError(f"not a period: {cell!r} (2023, 2023Q2, 2023年二季度, 2023-05)")


def _check_year(year: int) -> None:
    if not 1990 <= year <= 2100:
        raise ValueError(f"year {year} is outside 1990-2100")


def _year(year: int) -> Period:
    _check_year(year)
    return Period(Decimal(year), str(year), year, "yearly")


def _quarter(year: int, q: int) -> Period:
    _check_year(year)
    return Period(Decimal(year - 1) + Decimal(q) / 4, f"{year}Q{q}", year, "quarterly")


def _month(year: int, month: int) -> Period:
    _check_year(year)
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} does not exist")
    return Period(Decimal(year - 1) + Decimal(month) / 12, f"{year}-{month:02d}", year, "monthly")


def parse_value(cell: Any) -> Decimal:
    """Read a number cell (thousands separators, full-width digits, a trailing %); ValueError."""
    if isinstance(cell, bool):
        raise ValueError("not a number")
    if isinstance(cell, int | float | Decimal):
        value = Decimal(str(cell))
    else:
        text = unicodedata.normalize("NFKC", str(cell)).strip().replace(",", "").replace(" ", "")
        text = text.rstrip("%")
        if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", text):
            raise ValueError(f"not a number: {cell!r}")
        try:
            value = Decimal(text)
        except InvalidOperation as exc:
            raise ValueError(f"not a number: {cell!r}") from exc
    if not value.is_finite() or abs(value) >= Decimal(10) ** 15:
        raise ValueError(f"out of range: {cell!r}")
    return value


def convert(value: Decimal, unit: str, to: str) -> Decimal:
    """Convert between units of one family (元 / 万元 / 亿元 / 万亿元; % ; 家 / 个)."""
    src, dst = _UNITS.get(unit.strip()), _UNITS.get(to)
    if src is None:
        raise ValueError(f"unknown unit {unit!r}")
    if dst is None or src[0] != dst[0]:
        raise ValueError(f"unit {unit!r} does not convert to {to!r}")
    return value * src[1] / dst[1]


# -- reading uploads ------------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise ValueError("the file is neither UTF-8 nor GB18030 text")


def read_csv(data: bytes, *, max_rows: int) -> Iterator[tuple[int, list[Any]]]:
    """Yield (line number, cells) of a CSV (comma, tab or semicolon); UploadTooLarge past max."""
    text = _decode(data)
    if "\x00" in text:
        raise ValueError("the file holds binary data, not CSV text")
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    for n, row in enumerate(reader, 1):
        if n > max_rows + 1:
            raise UploadTooLarge(f"more than {max_rows} rows")
        yield reader.line_num, row


def read_xlsx(path: Path, *, max_rows: int) -> Iterator[tuple[int, list[Any]]]:
    """Yield (row number, cells) of a workbook's first sheet, read-only; UploadTooLarge past max."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    with path.open("rb") as fh:  # a handle: the stored file's name has no .xlsx suffix
        try:
            wb = load_workbook(fh, read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, KeyError) as exc:
            raise ValueError(f"not a readable workbook: {exc}") from exc
        try:
            if not wb.worksheets:
                raise ValueError("the workbook has no sheet")
            ws = wb.worksheets[0]
            for n, row in enumerate(ws.iter_rows(values_only=True), 1):
                if n > max_rows + 1:
                    raise UploadTooLarge(f"more than {max_rows} rows")
                yield n, ["" if v is None else v for v in row]
        finally:
            wb.close()


def _columns(header: Sequence[Any]) -> dict[str, int]:
    found: dict[str, int] = {}
    for i, cell in enumerate(header):
        name = _norm(cell)
        for col, names in HEADERS.items():
            if name in {_norm(x) for x in names} and col not in found:
                found[col] = i
    return found


def parse_rows(rows: Iterable[tuple[int, list[Any]]], catalogue: Catalogue) -> Parsed:
    """Read a table with a header row into observations; report each bad row by its line."""
    out = Parsed()
    it = iter(rows)
    cols: dict[str, int] | None = None
    header_line = 0
    for line, header in it:
        if any(str(c).strip() for c in header):
            cols, header_line = _columns(header), line
            break
    if cols is None:
        out.error(1, "policy.indicator.empty", "the file has no header row")
        return out
    if missing := [c for c in REQUIRED if c not in cols]:
        out.error(
            header_line,
            "policy.indicator.header",
            f"header lacks {', '.join(missing)} (指标, 地区, 期间, 数值)",
            ",".join(missing),
        )
        return out
    seen: dict[tuple[str, str, str], int] = {}
    for line, cells in it:
        if not any(str(c).strip() for c in cells):
            continue
        out.rows += 1

        def cell(col: str, cells: list[Any] = cells) -> Any:
            i = cols.get(col) if cols else None
            return cells[i] if i is not None and i < len(cells) else ""

        name = str(cell("indicator")).strip()[:MAX_CELL]
        ind = catalogue.find(name) if name else None
        if ind is None:
            out.error(line, "policy.indicator.unknown", f"unknown indicator {name!r}", "indicator")
            continue
        district = unicodedata.normalize("NFKC", str(cell("district"))).strip()
        if not district or len(district) > 40:
            out.error(
                line, "policy.indicator.bad_district", "district is empty or too long", "district"
            )
            continue
        try:
            period = parse_period(cell("period"))
        except ValueError as exc:
            out.error(line, "policy.indicator.bad_period", str(exc), "period")
            continue
        if _GRAIN_RANK[period.grain] > _GRAIN_RANK[ind.frequency]:
            out.error(
                line,
                "policy.indicator.too_fine",
                f"{ind.key} is kept {ind.frequency}; {period.text} is finer",
                "period",
            )
            continue
        try:
            value = parse_value(cell("value"))
            unit = str(cell("unit")).strip() or ind.unit
            value = convert(value, unit, ind.unit)
        except ValueError as exc:
            out.error(line, "policy.indicator.bad_value", str(exc), "value")
            continue
        if value < 0 and ind.measure != "ratio":
            out.error(line, "policy.indicator.negative", f"{ind.key} cannot be negative", "value")
            continue
        k = (ind.key, district, period.text)
        if k in seen:
            out.error(
                line,
                "policy.indicator.duplicate",
                f"same indicator, district and period as line {seen[k]}",
            )
            continue
        seen[k] = line
        out.observations.append(Observation(ind.key, district, period, value, line))
    return out


# -- formulas, paths, ranking ---------------------------------------------------------------------


def derive(
    catalogue: Catalogue, values: Mapping[tuple[str, str, Period], Decimal]
) -> list[Observation]:
    """Return the values formulas give where the data lack them (sums first, then ratios)."""
    have = dict(values)
    out: list[Observation] = []
    ordered = sorted(catalogue.indicators, key=lambda i: "ratio" in i.derive)
    points = {(d, p) for (_, d, p) in have}
    for ind in ordered:
        spec = ind.derive
        for district, period in sorted(points, key=lambda x: (x[0], x[1])):
            if (ind.key, district, period) in have:
                continue
            value: Decimal | None = None
            if spec.get("sum"):
                parts = [have.get((k, district, period)) for k in spec["sum"]]
                if all(v is not None for v in parts):
                    value = sum((v for v in parts if v is not None), Decimal(0))
            elif spec.get("ratio"):
                num, den = (have.get((k, district, period)) for k in spec["ratio"])
                if num is not None and den:
                    value = num / den * Decimal(str(spec.get("scale", 1)))
            if value is not None:
                value = value.quantize(Decimal("0.0001"))
                have[(ind.key, district, period)] = value
                out.append(Observation(ind.key, district, period, value))
    return out


def path_value(indicator: Indicator, district: str, period: Period) -> Decimal | None:
    """Return the target path's value at the period's end (None: no path there).

    A flow indicator is compared on yearly totals only; before the first target year there is
    no path; after the last, its value holds.
    """
    years = indicator.targets.get(district)
    if not years:
        return None
    if indicator.measure == "flow" and period.grain != "yearly":
        return None
    anchors = sorted((Decimal(y), v) for y, v in years.items())
    t = period.point
    if t < anchors[0][0]:
        return None
    if t >= anchors[-1][0]:
        return anchors[-1][1]
    for (t0, v0), (t1, v1) in pairwise(anchors):
        if t0 <= t <= t1:
            return (v0 + (v1 - v0) * (t - t0) / (t1 - t0)).quantize(Decimal("0.0001"))
    return None


def assess(
    indicator: Indicator, district: str, period: Period, actual: Decimal, tolerance: Decimal
) -> Assessment:
    """Compare an actual value with the path; lagging when behind by more than ``tolerance``."""
    path = path_value(indicator, district, period)
    if path is None or path == 0:
        return Assessment(actual, path, None, None, None, False)
    completion: Decimal | None
    if indicator.direction == "up":
        gap = actual - path
        completion = actual / path
    else:
        gap = path - actual
        completion = path / actual if actual else None
    ratio = (gap / path).quantize(Decimal("0.0001"))
    return Assessment(
        actual=actual,
        path=path,
        gap=gap.quantize(Decimal("0.0001")),
        gap_ratio=ratio,
        completion=completion.quantize(Decimal("0.0001")) if completion is not None else None,
        lagging=ratio < -tolerance,
    )


@dataclass(frozen=True)
class Ranked:
    """One district's place for an indicator and period."""

    rank: int
    district: str
    assessment: Assessment


def rank(
    indicator: Indicator,
    period: Period,
    actuals: Mapping[str, Decimal],
    tolerance: Decimal,
) -> list[Ranked]:
    """Order districts by completion of their path (then by value); districts without a path last."""
    rows = [(d, assess(indicator, d, period, v, tolerance)) for d, v in actuals.items()]
    sign = 1 if indicator.direction == "up" else -1

    def key(row: tuple[str, Assessment]) -> tuple[int, Decimal, Decimal, str]:
        d, a = row
        has = a.completion is not None
        return (0 if has else 1, -(a.completion or Decimal(0)), -sign * a.actual, d)

    return [Ranked(i, d, a) for i, (d, a) in enumerate(sorted(rows, key=key), 1)]
