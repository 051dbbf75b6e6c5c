"""RF and protocol conformance results: instrument exports (CSV, XML) judged against limit tables.

The lab enters the limits (3GPP TS 38.521-5 NTN RF, TS 36.521-1 …); we ship none, we check them.
Each limit names a clause (and optionally a parameter), a unit, a minimum and/or a maximum, a
tolerance and a decision rule:

- ``guard_band`` (default; ILAC-G8:09/2019 "simple acceptance with a guard band"): a value
  further than the tolerance inside the limits passes, further than the tolerance outside fails,
  anything within the tolerance of a limit is ``inconclusive`` (the measurement uncertainty
  cannot decide);
- ``relaxed`` (3GPP TS 38.521-1/-5 Annex F "shared risk"): the test tolerance widens the limits
  (test requirement = minimum requirement relaxed by TT); pass or fail only.

Exports are parsed defensively: size and row caps, no DTD in XML (so no entity expansion and no
external entity), depth and element caps, text only. Pure: no database, no web.
"""

from __future__ import annotations

import csv
import io
import math
import re
import xml.parsers.expat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mingyue.sdk.errors import InvalidInput, PayloadTooLarge

Verdict = Literal["pass", "fail", "inconclusive"]
Rule = Literal["guard_band", "relaxed"]

MAX_ROWS = 100_000
MAX_COLUMNS = 200
MAX_FIELD = 4096
MAX_XML_DEPTH = 64
MAX_XML_ELEMENTS = 500_000
MAX_LIMITS = 5_000

# Units that convert into one another: (family, factor to the family's base, offset kind).
_LINEAR = {
    "hz": ("frequency", 1.0),
    "khz": ("frequency", 1e3),
    "mhz": ("frequency", 1e6),
    "ghz": ("frequency", 1e9),
    "s": ("time", 1.0),
    "ms": ("time", 1e-3),
    "us": ("time", 1e-6),
    "µs": ("time", 1e-6),
    "ns": ("time", 1e-9),
    "%": ("ratio", 1e-2),
    "ppm": ("ratio", 1e-6),
    "ppb": ("ratio", 1e-9),
}
# Absolute power is compared in dBm.
_POWER = {"dbm": 0.0, "dbw": 30.0}
_POWER_LINEAR = {"w": 1e3, "mw": 1.0, "uw": 1e-3, "µw": 1e-3}
_NO_VALUE = {"", "-", "--", "---", "n/a", "na", "nan", "none", "null", "not measured"}

_ALIASES = {
    "clause": ("clause", "test_case", "testcase", "tc", "test_id", "testid", "clause_id"),
    "parameter": ("parameter", "param", "measurement", "item", "name", "meas_name"),
    "value": ("value", "measured", "measured_value", "result", "meas", "reading"),
    "unit": ("unit", "units", "uom"),
}
_NUMBER_UNIT = re.compile(
    r"^\s*([-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s].*)?$"
)


@dataclass(frozen=True)
class Limit:
    """One limit row of the lab's table."""

    clause: str
    unit: str
    parameter: str = ""
    title: str = ""
    min: float | None = None
    max: float | None = None
    tolerance: float = 0.0
    rule: Rule = "guard_band"


@dataclass(frozen=True)
class Measurement:
    """One measured value of an export (``value`` None: the instrument reported none)."""

    clause: str
    parameter: str
    value: float | None
    unit: str
    raw: str = ""


@dataclass
class ClauseVerdict:
    """The verdict on one limit: the value compared, the limits, why."""

    clause: str
    parameter: str
    title: str
    unit: str
    measured: float | None
    min: float | None
    max: float | None
    tolerance: float
    rule: str
    verdict: Verdict
    reason: str
    margin: float | None = None  # distance to the nearest limit, positive inside


@dataclass
class RfReport:
    """What an import found: one verdict per limit, the counts, the overall verdict."""

    standard: str
    format: str
    verdicts: list[ClauseVerdict] = field(default_factory=list)
    unmatched: int = 0  # measurements no limit names (kept out of the verdict)
    rows: int = 0

    @property
    def counts(self) -> dict[str, int]:
        """Return how many limits passed, failed and stayed inconclusive."""
        out = {"pass": 0, "fail": 0, "inconclusive": 0}
        for v in self.verdicts:
            out[v.verdict] += 1
        out["unmatched"] = self.unmatched
        out["rows"] = self.rows
        return out

    @property
    def verdict(self) -> Verdict:
        """Return fail if any limit failed, else inconclusive if any did, else pass."""
        c = self.counts
        if c["fail"]:
            return "fail"
        if c["inconclusive"] or not self.verdicts:
            return "inconclusive"
        return "pass"

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain data."""
        return {
            "standard": self.standard,
            "format": self.format,
            "verdict": self.verdict,
            "counts": self.counts,
            "verdicts": [asdict(v) for v in self.verdicts],
        }


# -- limits ----------------------------------------------------------------------------------


def _bad(field_name: str, message: str) -> InvalidInput:
    text = f"{field_name}: {message}"
    return InvalidInput("satcert.rf.bad_limits", text, field=field_name, reason=text)


def _number(value: Any, where: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _bad(where, "must be a number")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise _bad(where, f"must be a number, not {str(value)[:40]!r}") from None
    if not math.isfinite(out):
        raise _bad(where, "must be a finite number")
    return out


def parse_limits(rows: Any) -> list[Limit]:
    """Validate a limit table (a list of objects); InvalidInput names the bad row and field."""
    if not isinstance(rows, list) or not rows:
        raise _bad("limits", "a non-empty list of limit rows is required")
    if len(rows) > MAX_LIMITS:
        raise _bad("limits", f"at most {MAX_LIMITS} rows")
    out: list[Limit] = []
    seen: set[tuple[str, str]] = set()
    for i, row in enumerate(rows):
        at = f"limits[{i}]"
        if not isinstance(row, Mapping):
            raise _bad(at, "each row is an object")
        unknown = set(row) - {
            "clause",
            "parameter",
            "title",
            "unit",
            "min",
            "max",
            "tolerance",
            "rule",
        }
        if unknown:
            raise _bad(f"{at}.{sorted(unknown)[0]}", "unknown field")
        clause = str(row.get("clause") or "").strip()
        if not clause or len(clause) > 80:
            raise _bad(f"{at}.clause", "a clause (1-80 characters) is required")
        unit = str(row.get("unit") or "").strip()
        if not unit or len(unit) > 20:
            raise _bad(f"{at}.unit", "a unit is required (dBm, dB, Hz, ppm, %, s …)")
        lo, hi = _number(row.get("min"), f"{at}.min"), _number(row.get("max"), f"{at}.max")
        if lo is None and hi is None:
            raise _bad(f"{at}.min", "a minimum, a maximum or both are required")
        if lo is not None and hi is not None and lo > hi:
            raise _bad(f"{at}.max", "the maximum is below the minimum")
        tol = _number(row.get("tolerance"), f"{at}.tolerance") or 0.0
        if tol < 0:
            raise _bad(f"{at}.tolerance", "must not be negative")
        rule = str(row.get("rule") or "guard_band")
        if rule not in ("guard_band", "relaxed"):
            raise _bad(f"{at}.rule", "guard_band or relaxed")
        param = str(row.get("parameter") or "").strip()[:80]
        key = (clause.lower(), param.lower())
        if key in seen:
            raise _bad(f"{at}.clause", f"clause {clause} {param} is listed twice")
        seen.add(key)
        out.append(
            Limit(
                clause=clause,
                unit=unit,
                parameter=param,
                title=str(row.get("title") or "")[:200],
                min=lo,
                max=hi,
                tolerance=tol,
                rule=rule,  # type: ignore[arg-type]
            )
        )
    return out


# -- units -----------------------------------------------------------------------------------


def convert(value: float, unit: str, to: str) -> float | None:
    """Convert a value between compatible units (None when they are not)."""
    a, b = unit.strip().lower(), to.strip().lower()
    if a == b:
        return value
    if a in _LINEAR and b in _LINEAR and _LINEAR[a][0] == _LINEAR[b][0]:
        return value * _LINEAR[a][1] / _LINEAR[b][1]
    if a in _POWER_LINEAR and value > 0:
        a, value = "dbm", 10 * math.log10(value * _POWER_LINEAR[a])
    if a in _POWER and b in _POWER:
        return value + _POWER[a] - _POWER[b]
    if a in _POWER and b in _POWER_LINEAR:
        return float(10 ** ((value + _POWER[a]) / 10) / _POWER_LINEAR[b])
    return None


# -- judging ---------------------------------------------------------------------------------


def judge_value(limit: Limit, value: float) -> tuple[Verdict, str, float]:
    """Judge one value (already in the limit's unit) against one limit."""
    lo, hi, tol = limit.min, limit.max, limit.tolerance
    margins = [
        m
        for m in (
            (value - lo) if lo is not None else None,
            (hi - value) if hi is not None else None,
        )
        if m is not None
    ]
    margin = min(margins)
    if limit.rule == "relaxed":
        if margin >= -tol:
            return "pass", "within the limits relaxed by the test tolerance", margin
        return "fail", "outside the limits even with the test tolerance", margin
    if margin > tol:
        return "pass", "inside the limits by more than the tolerance", margin
    if margin < -tol:
        return "fail", "outside the limits by more than the tolerance", margin
    return "inconclusive", "within the tolerance band of a limit", margin


def _cv(
    limit: Limit,
    *,
    measured: float | None,
    verdict: Verdict,
    reason: str,
    margin: float | None = None,
) -> ClauseVerdict:
    return ClauseVerdict(
        clause=limit.clause,
        parameter=limit.parameter,
        title=limit.title,
        unit=limit.unit,
        measured=measured,
        min=limit.min,
        max=limit.max,
        tolerance=limit.tolerance,
        rule=limit.rule,
        verdict=verdict,
        reason=reason,
        margin=margin,
    )


def judge(
    limits: Sequence[Limit], measurements: Iterable[Measurement], *, standard: str, fmt: str
) -> RfReport:
    """Judge the measurements against the limit table: one verdict per limit."""
    by_key: dict[tuple[str, str], list[Measurement]] = {}
    rows = 0
    for m in measurements:
        rows += 1
        by_key.setdefault((m.clause.lower(), m.parameter.lower()), []).append(m)
    report = RfReport(standard=standard, format=fmt, rows=rows)
    used: set[tuple[str, str]] = set()
    for limit in limits:
        key = (limit.clause.lower(), limit.parameter.lower())
        found = by_key.get(key)
        if found is None and not limit.parameter:
            # A limit without parameter takes the clause's only measurement.
            cands = [k for k in by_key if k[0] == key[0]]
            if len(cands) == 1:
                key = cands[0]
                found = by_key[key]
        if not found:
            report.verdicts.append(
                _cv(limit, measured=None, verdict="inconclusive", reason="not measured")
            )
            continue
        used.add(key)
        if len(found) > 1:
            report.verdicts.append(
                _cv(
                    limit,
                    measured=None,
                    verdict="inconclusive",
                    reason=f"{len(found)} measurements for one limit: name the parameter",
                )
            )
            continue
        m = found[0]
        if m.value is None:
            report.verdicts.append(
                _cv(limit, measured=None, verdict="inconclusive", reason="no value reported")
            )
            continue
        value = convert(m.value, m.unit or limit.unit, limit.unit)
        if value is None:
            report.verdicts.append(
                _cv(
                    limit,
                    measured=None,
                    verdict="inconclusive",
                    reason=f"unit {m.unit!r} does not convert to {limit.unit!r}",
                )
            )
            continue
        verdict, reason, margin = judge_value(limit, value)
        report.verdicts.append(
            _cv(
                limit,
                measured=round(value, 9),
                verdict=verdict,
                reason=reason,
                margin=round(margin, 9),
            )
        )
    report.unmatched = sum(len(v) for k, v in by_key.items() if k not in used)
    return report


# -- parsing ---------------------------------------------------------------------------------


def _bad_file(message: str, fmt: str) -> InvalidInput:
    text = f"{fmt}: {message}"
    return InvalidInput("satcert.rf.bad_export", text, field="file", reason=text)


def _decode(data: bytes, fmt: str) -> str:
    if b"\x00" in data[:65536]:
        raise _bad_file("binary data, not a text export", fmt)
    for enc in ("utf-8-sig", "gb18030"):  # Chinese instrument software often writes GBK
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise _bad_file("not UTF-8 or GB18030 text", fmt)


def _value(raw: str, decimal_comma: bool) -> tuple[float | None, str]:
    text = raw.strip()
    if text.lower() in _NO_VALUE:
        return None, ""
    m = _NUMBER_UNIT.match(text)
    if m is None:
        raise ValueError(f"not a number: {text[:40]!r}")
    num = m.group(1)
    if "," in num:
        if not decimal_comma:
            raise ValueError(f"not a number: {text[:40]!r}")
        num = num.replace(",", ".")
    value = float(num)
    if not math.isfinite(value):
        return None, ""
    return value, (m.group(2) or "").strip()


def _column(header: list[str], name: str) -> int | None:
    norm = [re.sub(r"[\s\-]+", "_", h.strip().lower()) for h in header]
    for alias in _ALIASES[name]:
        if alias in norm:
            return norm.index(alias)
    return None


def parse_csv(data: bytes, *, max_bytes: int) -> list[Measurement]:
    """Read a CSV export: a header (clause, value, optional parameter and unit) after any preamble.

    Lines before the header (instrument metadata, ``#`` comments) are skipped; ``;`` or tab
    delimiters and decimal commas (with ``;``) are accepted. Every data row must parse.
    """
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            "satcert.rf.too_large", f"export exceeds {max_bytes} bytes", field="file"
        )
    text = _decode(data, "csv")
    lines = text.splitlines()
    start = None
    delim = ","
    for i, line in enumerate(lines[:200]):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        for d in (",", ";", "\t"):
            cells = next(csv.reader([line], delimiter=d))
            if (
                len(cells) >= 2
                and _column(cells, "clause") is not None
                and _column(cells, "value") is not None
            ):
                start, delim = i, d
                break
        if start is not None:
            break
    if start is None:
        raise _bad_file("no header with a clause and a value column in the first 200 lines", "csv")
    reader = csv.reader(io.StringIO("\n".join(lines[start:])), delimiter=delim, strict=True)
    try:
        header = next(reader)
        if len(header) > MAX_COLUMNS:
            raise _bad_file(f"more than {MAX_COLUMNS} columns", "csv")
        ci, vi = _column(header, "clause"), _column(header, "value")
        pi, ui = _column(header, "parameter"), _column(header, "unit")
        if ci is None or vi is None:  # found above; kept for the type checker
            raise _bad_file("no clause or value column", "csv")
        out: list[Measurement] = []
        for n, row in enumerate(reader, start=start + 2):
            if not row or all(not c.strip() for c in row):
                continue
            if row[0].lstrip().startswith("#"):
                continue
            if len(out) >= MAX_ROWS:
                raise _bad_file(f"more than {MAX_ROWS} rows", "csv")
            if any(len(c) > MAX_FIELD for c in row):
                raise _bad_file(f"line {n}: a field longer than {MAX_FIELD} characters", "csv")
            if len(row) <= max(ci, vi):
                raise _bad_file(f"line {n}: {len(row)} fields, the header has {len(header)}", "csv")
            clause = row[ci].strip()
            if not clause:
                raise _bad_file(f"line {n}: no clause", "csv")
            try:
                value, unit = _value(row[vi], decimal_comma=delim == ";")
            except ValueError as exc:
                raise _bad_file(f"line {n}: {exc}", "csv") from None
            if ui is not None and ui < len(row) and row[ui].strip():
                unit = row[ui].strip()
            param = row[pi].strip() if pi is not None and pi < len(row) else ""
            out.append(Measurement(clause[:80], param[:80], value, unit[:20], row[vi][:80]))
    except csv.Error as exc:
        raise _bad_file(f"line {reader.line_num + start}: {exc}", "csv") from None
    if not out:
        raise _bad_file("no measurement rows", "csv")
    return out


class _XmlRefused(Exception):
    pass


_CLAUSE_ATTRS = ("clause", "testcase", "test_case", "tc", "id")
_PARAM_ATTRS = ("parameter", "name", "param", "measurement")


def parse_xml(data: bytes, *, max_bytes: int) -> list[Measurement]:
    """Read an XML export: ``Result``/``Measurement`` elements with a value, in clause context.

    A value is the ``value`` attribute or the element's text; the clause is the element's own
    ``clause`` attribute or that of its nearest ancestor (``<TestCase id="6.2.2">`` counts). A
    DTD is refused outright: no entity is ever declared, so none can expand or reach out.
    """
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            "satcert.rf.too_large", f"export exceeds {max_bytes} bytes", field="file"
        )
    if b"\x00" in data[:65536]:
        raise _bad_file("binary data, not a text export", "xml")
    parser = xml.parsers.expat.ParserCreate()
    stack: list[dict[str, str]] = []
    texts: list[list[str]] = []
    out: list[Measurement] = []
    count = 0

    def refuse_dtd(*_: Any) -> None:
        raise _XmlRefused(
            "a DTD or entity declaration is refused (entity expansion is not allowed)"
        )

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal count
        count += 1
        if count > MAX_XML_ELEMENTS:
            raise _XmlRefused(f"more than {MAX_XML_ELEMENTS} elements")
        if len(stack) >= MAX_XML_DEPTH:
            raise _XmlRefused(f"nesting deeper than {MAX_XML_DEPTH}")
        low = {k.lower(): v for k, v in attrs.items()}
        low["#name"] = name.lower()
        stack.append(low)
        texts.append([])

    def chars(data_: str) -> None:
        if texts:
            texts[-1].append(data_)
            if sum(len(t) for t in texts[-1]) > MAX_FIELD:
                raise _XmlRefused(f"text longer than {MAX_FIELD} characters")

    def end(name: str) -> None:
        attrs = stack.pop()
        text = "".join(texts.pop()).strip()
        if attrs["#name"] not in ("result", "measurement", "meas", "value"):
            return
        raw = attrs.get("value", text)
        own = next((attrs[k] for k in _CLAUSE_ATTRS[:-1] if attrs.get(k)), "")
        clause = own or next((a[k] for a in reversed(stack) for k in _CLAUSE_ATTRS if a.get(k)), "")
        if not clause:
            raise _XmlRefused(f"a <{name}> element has no clause (attribute or ancestor)")
        param = next((attrs[k] for k in _PARAM_ATTRS if attrs.get(k)), "")
        try:
            value, unit = _value(raw, decimal_comma=False)
        except ValueError as exc:
            raise _XmlRefused(f"clause {clause[:40]}: {exc}") from None
        if len(out) >= MAX_ROWS:
            raise _XmlRefused(f"more than {MAX_ROWS} measurements")
        out.append(
            Measurement(
                clause.strip()[:80],
                param.strip()[:80],
                value,
                (attrs.get("unit") or unit).strip()[:20],
                raw[:80],
            )
        )

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.UnparsedEntityDeclHandler = refuse_dtd
    parser.ExternalEntityRefHandler = refuse_dtd  # type: ignore[assignment]
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except _XmlRefused as exc:
        raise _bad_file(str(exc), "xml") from None
    except xml.parsers.expat.ExpatError as exc:
        raise _bad_file(
            f"malformed XML: {xml.parsers.expat.errors.messages[exc.code]} (line {exc.lineno})",
            "xml",
        ) from None
    if not out:
        raise _bad_file("no <Result> or <Measurement> element with a value", "xml")
    return out


def sniff_format(data: bytes, filename: str) -> str:
    """Return ``xml`` or ``csv`` from the name, else from the first bytes."""
    name = filename.lower()
    if name.endswith(".xml"):
        return "xml"
    if name.endswith((".csv", ".txt", ".tsv")):
        return "csv"
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    return "xml" if head.startswith(b"<") else "csv"


def import_results(
    data: bytes, *, filename: str, limits: Any, standard: str, max_bytes: int
) -> RfReport:
    """Parse an export and judge it against the limit table (InvalidInput on bad input)."""
    table = parse_limits(limits)
    fmt = sniff_format(data, filename)
    rows = (
        parse_xml(data, max_bytes=max_bytes)
        if fmt == "xml"
        else parse_csv(data, max_bytes=max_bytes)
    )
    return judge(table, rows, standard=standard, fmt=fmt)
