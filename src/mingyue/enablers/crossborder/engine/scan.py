"""Scan files for personal information: text streams, tables (column verdicts), PDF and DOCX.

Text is read in chunks through an incremental strict UTF-8 decoder, so a 2 GB file never sits in
memory and a bad byte is reported with its offset. Entity offsets are character offsets into the
file's decoded text (for PDF/DOCX: into the extracted text, pages/paragraphs joined by newlines).

A DOCX is a zip: ``scan_file`` calls the caller's ``check_archive`` on it before it is opened (the
platform's check reads only the central directory, so a zip bomb is refused before anything is
inflated), and the text extracted from a DOCX or PDF is capped at ``max_text_chars``.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .pii import Entity, PiiDetector

CHUNK_BYTES = 1 << 20
# Characters that can be part of an entity (see pii._ISLANDS) or precede a plate: a chunk is only
# cut at a character outside this set, so no entity straddles two chunks.
_CUTTABLE_EXCLUDE = frozenset(
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._%+-@: ·挂学警"
    "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
)
_CONTEXT_KEEP = 32
_MAX_CARRY = 4 << 20  # a run this long with no cut point (one huge token) is cut anyway
_NUL = b"\x00"
JSON_WHOLE_LIMIT = 256 << 20
MAX_TEXT_CHARS = 32 << 20  # extracted text of a PDF or DOCX, by default

Progress = Callable[[float], None]  # called with the share of the file scanned so far (0..1)


class ScanError(ValueError):
    """The input cannot be scanned (binary, not UTF-8, truncated, corrupt); says where and why."""


@dataclass
class ColumnVerdict:
    """What one column of a table holds, from the values scanned."""

    name: str
    values: int = 0
    hits: Counter[str] = field(default_factory=Counter)
    sensitive_hits: int = 0

    @property
    def verdict(self) -> str | None:
        """The dominant PII type when it appears in at least 10 % of the non-empty values."""
        if not self.hits or not self.values:
            return None
        type_, n = self.hits.most_common(1)[0]
        return type_ if n * 10 >= self.values else None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return {
            "name": self.name,
            "values_scanned": self.values,
            "hits": dict(self.hits),
            "verdict": self.verdict,
            "sensitive": self.sensitive_hits > 0,
        }


@dataclass
class ScanResult:
    """Entities found in one file, counts per type, and column verdicts for tables."""

    kind: str
    chars: int = 0
    entities: list[Entity] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    columns: list[ColumnVerdict] = field(default_factory=list)
    rows_scanned: int = 0
    rows_total: int | None = None
    sampled: bool = False
    truncated_entities: bool = False
    ner_truncated: bool = False  # the NER budget ran out: names etc. were looked for in part

    def add(self, ent: Entity, max_entities: int) -> None:
        """Count an entity, keeping at most ``max_entities`` of them."""
        self.counts[ent.type] += 1
        if len(self.entities) < max_entities:
            self.entities.append(ent)
        else:
            self.truncated_entities = True

    def to_dict(self, key: bytes, show_values: bool = False) -> dict[str, Any]:
        """Return the report: entities (hashes, not values, by default), counts, columns."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "chars": self.chars,
            "entities": [
                {k: v for k, v in e.to_dict(key, show_values).items() if k != "score"}
                | {"score": e.score}
                for e in self.entities
            ],
            "counts": dict(self.counts),
            "sensitive": any(e.sensitive for e in self.entities),
            "entities_truncated": self.truncated_entities,
            "ner_truncated": self.ner_truncated,
        }
        if self.columns:
            out["columns"] = [c.to_dict() for c in self.columns]
            out["rows_scanned"] = self.rows_scanned
            out["rows_total"] = self.rows_total
            out["sampled"] = self.sampled
        return out


def _check_not_binary(head: bytes) -> None:
    if b"\x00" in head:
        raise ScanError(f"binary data: NUL byte at offset {head.index(_NUL)}")
    if head:
        control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
        if control * 10 > len(head):
            raise ScanError("binary data: more than 10% control bytes in the first block")


class _Reporting:
    """A binary file that reports, before each read, the share of it already read (and so
    already scanned: the scan reads the next block only after scanning the previous one)."""

    def __init__(self, fp: IO[bytes], size: int, progress: Progress) -> None:
        self._fp, self._size, self._progress = fp, max(size, 1), progress

    def read(self, n: int = -1) -> bytes:
        self._progress(min(1.0, self._fp.tell() / self._size))
        return self._fp.read(n)


def _reporting(fp: IO[bytes], path: Path, progress: Progress | None) -> IO[bytes]:
    if progress is None:
        return fp
    return _Reporting(fp, path.stat().st_size, progress)  # type: ignore[return-value]


def iter_text_chunks(fp: IO[bytes], chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """Decode a byte stream as strict UTF-8 (BOM dropped), chunk by chunk; errors name the byte."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    consumed = 0
    first = True
    while True:
        block = fp.read(chunk_bytes)
        if first:
            _check_not_binary(block[:8192])
            first = False
        final = not block
        try:
            text = decoder.decode(block, final=final)
        except UnicodeDecodeError as exc:
            where = consumed + exc.start
            if final:
                raise ScanError(f"truncated UTF-8 sequence at end of input (byte {where})") from exc
            raise ScanError(f"not UTF-8: invalid byte at offset {where}") from exc
        if b"\x00" in block:
            raise ScanError(f"binary data: NUL byte at offset {consumed + block.index(_NUL)}")
        consumed += len(block)
        if text:
            yield text
        if final:
            return


def scan_chunks(
    chunks: Iterable[str],
    detector: PiiDetector,
    result: ScanResult,
    max_entities: int = 100_000,
) -> ScanResult:
    """Detect entities across text chunks without splitting an entity or its context."""
    carry = ""
    context = ""
    base = 0  # character offset of carry[0] in the whole text
    for chunk in chunks:
        buf = carry + chunk
        cut = len(buf) - 64
        while cut > 0 and buf[cut - 1] in _CUTTABLE_EXCLUDE:
            cut -= 1
        if cut <= 0 and len(buf) < _MAX_CARRY:
            carry = buf
            continue
        if cut <= 0:
            cut = len(buf) - 64
        _emit(context + buf[:cut], len(context), base, detector, result, max_entities)
        context = buf[max(0, cut - _CONTEXT_KEEP) : cut]
        base += cut
        carry = buf[cut:]
    if carry:
        _emit(context + carry, len(context), base, detector, result, max_entities)
    result.chars = base + len(carry)
    return result


def _emit(
    text: str, skip: int, base: int, detector: PiiDetector, result: ScanResult, max_entities: int
) -> None:
    for ent in detector.detect(text):
        if ent.start < skip:
            continue
        ent.start += base - skip
        ent.end += base - skip
        result.add(ent, max_entities)


def scan_text_file(
    path: Path,
    detector: PiiDetector,
    max_entities: int = 100_000,
    progress: Progress | None = None,
) -> ScanResult:
    """Scan a UTF-8 text file as a stream."""
    with path.open("rb") as fp:
        chunks = iter_text_chunks(_reporting(fp, path, progress))
        return scan_chunks(chunks, detector, ScanResult("text"), max_entities)


def _column_update(col: ColumnVerdict, value: Any, detector: PiiDetector) -> None:
    if value is None:
        return
    text = value if isinstance(value, str) else str(value)
    if not text.strip():
        return
    col.values += 1
    seen = set()
    for ent in detector.detect(text):
        if ent.type not in seen:
            col.hits[ent.type] += 1
            seen.add(ent.type)
        if ent.sensitive:
            col.sensitive_hits += 1


def _sample_step(size: int, sample_bytes: int | None) -> int:
    if not sample_bytes or size <= sample_bytes:
        return 1
    return max(1, -(-size // sample_bytes))


def scan_csv(
    path: Path,
    detector: PiiDetector,
    sample_bytes: int | None = 64 << 20,
    max_entities: int = 100_000,
    progress: Progress | None = None,
) -> ScanResult:
    """Scan a CSV: entities with offsets in the text, and per-column verdicts (sampled rows when big)."""
    with path.open("rb") as fp:
        chunks = iter_text_chunks(_reporting(fp, path, progress))
        result = scan_chunks(chunks, detector, ScanResult("csv"), max_entities)
    step = _sample_step(path.stat().st_size, sample_bytes)
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            return result
        except csv.Error as exc:
            raise ScanError(f"CSV: {exc}") from exc
        cols = [ColumnVerdict(name or f"column_{i + 1}") for i, name in enumerate(header)]
        total = 0
        try:
            for i, row in enumerate(reader):
                total += 1
                if i % step:
                    continue
                result.rows_scanned += 1
                for col, value in zip(cols, row, strict=False):
                    _column_update(col, value, detector)
        except csv.Error as exc:
            raise ScanError(f"CSV line {reader.line_num}: {exc}") from exc
    result.columns = cols
    result.rows_total = total
    result.sampled = step > 1
    return result


def _flatten(obj: Any, prefix: str, out: dict[str, list[Any]]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(obj, list):
        for v in obj:
            _flatten(v, f"{prefix}[]", out)
    else:
        out[prefix or "$"].append(obj)


def scan_json(
    path: Path,
    detector: PiiDetector,
    sample_bytes: int | None = 64 << 20,
    max_entities: int = 100_000,
    progress: Progress | None = None,
) -> ScanResult:
    """Scan JSON or JSON Lines: text entities plus a verdict per key path."""
    size = path.stat().st_size
    lines = path.suffix.lower() in (".jsonl", ".ndjson")
    if not lines and size > JSON_WHOLE_LIMIT:
        raise ScanError(
            f"JSON document of {size} bytes is larger than {JSON_WHOLE_LIMIT}; use JSON Lines"
        )
    with path.open("rb") as fp:
        chunks = iter_text_chunks(_reporting(fp, path, progress))
        result = scan_chunks(chunks, detector, ScanResult("json"), max_entities)
    values: dict[str, list[Any]] = defaultdict(list)
    cols: dict[str, ColumnVerdict] = {}
    if lines:
        step = _sample_step(size, sample_bytes)
        total = 0
        with path.open("r", encoding="utf-8-sig") as fp:
            for lineno, line in enumerate(fp, 1):
                if not line.strip():
                    continue
                total += 1
                if (total - 1) % step:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ScanError(f"JSON Lines line {lineno}: {exc.msg}") from exc
                result.rows_scanned += 1
                _flatten(record, "", values)
                for name, vals in values.items():
                    col = cols.setdefault(name, ColumnVerdict(name))
                    for v in vals:
                        _column_update(col, v, detector)
                values.clear()
        result.rows_total = total
        result.sampled = step > 1
    else:
        try:
            doc = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as exc:
            raise ScanError(f"JSON line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
        records = doc if isinstance(doc, list) else [doc]
        result.rows_total = len(records)
        for record in records:
            result.rows_scanned += 1
            _flatten(record, "", values)
        for name, vals in values.items():
            col = cols.setdefault(name, ColumnVerdict(name))
            for v in vals:
                _column_update(col, v, detector)
    result.columns = list(cols.values())
    return result


def scan_parquet(
    path: Path, detector: PiiDetector, sample_rows: int | None = 200_000
) -> ScanResult:
    """Scan a Parquet file column by column (row batches; at most ``sample_rows`` rows)."""
    import pyarrow.parquet as pq  # lazy: crossborder extra, heavy; only for Parquet files

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError subclasses
        raise ScanError(f"not a readable Parquet file: {exc}") from exc
    result = ScanResult("parquet")
    names = pf.schema_arrow.names
    cols = [ColumnVerdict(n) for n in names]
    result.rows_total = pf.metadata.num_rows
    try:
        for batch in pf.iter_batches(batch_size=8192):
            take = batch.num_rows
            if sample_rows is not None:
                take = min(take, sample_rows - result.rows_scanned)
            if take <= 0:
                result.sampled = True
                break
            for col, array in zip(cols, batch.columns, strict=True):
                for value in array.slice(0, take).to_pylist():
                    _column_update(col, value, detector)
            result.rows_scanned += take
    except OSError as exc:
        raise ScanError(f"corrupt Parquet data: {exc}") from exc
    result.sampled = result.sampled or result.rows_scanned < (result.rows_total or 0)
    for col in cols:
        for type_, n in col.hits.items():
            result.counts[type_] += n
    result.columns = cols
    return result


class _TextCap:
    """Joins extracted pieces with newlines; refuses the document past ``limit`` characters."""

    def __init__(self, kind: str, limit: int) -> None:
        self.kind, self.limit, self.size = kind, limit, 0
        self.parts: list[str] = []

    def add(self, text: str) -> None:
        self.size += len(text) + (1 if self.parts else 0)
        if self.size > self.limit:
            raise ScanError(
                f"{self.kind} text exceeds {self.limit} characters; refused (cap of extracted text)"
            )
        self.parts.append(text)

    def text(self) -> str:
        return "\n".join(self.parts)


def extract_pdf_text(path: Path, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Extract the text of every page (pypdf), pages joined by newlines, up to ``max_chars``."""
    from pypdf import PdfReader  # lazy: crossborder extra, only for PDF files
    from pypdf.errors import PdfReadError  # lazy: as above

    cap = _TextCap("PDF", max_chars)
    try:
        reader = PdfReader(str(path))
        for page in reader.pages:
            cap.add(page.extract_text() or "")
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise ScanError(f"not a readable PDF: {exc}") from exc
    return cap.text()


def extract_docx_text(path: Path, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Extract paragraph and table-cell text from a DOCX (python-docx), up to ``max_chars``.

    Open a DOCX only after an archive check (``scan_file``'s ``check_archive``): python-docx
    inflates and parses every XML part in memory.
    """
    import docx  # lazy: crossborder extra, only for DOCX files
    from docx.opc.exceptions import PackageNotFoundError  # lazy: as above

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ScanError(f"not a readable DOCX: {exc}") from exc
    cap = _TextCap("DOCX", max_chars)
    for p in document.paragraphs:
        cap.add(p.text)
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                cap.add(cell.text)
    return cap.text()


def detect_kind(path: Path) -> str:
    """Tell the file kind from its first bytes, then its extension."""
    with path.open("rb") as fp:
        head = fp.read(8)
    suffix = path.suffix.lower()
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        if suffix == ".docx":
            return "docx"
        raise ScanError("ZIP archive that is not a DOCX document")
    if suffix in (".pdf", ".docx", ".parquet"):
        raise ScanError(f"{suffix[1:].upper()} file does not start with its signature (corrupt)")
    if suffix == ".csv":
        return "csv"
    if suffix in (".json", ".jsonl", ".ndjson"):
        return "json"
    return "text"


def scan_file(
    path: str | Path,
    detector: PiiDetector | None = None,
    sample_bytes: int | None = 64 << 20,
    max_entities: int = 100_000,
    *,
    check_archive: Callable[[Path], object] | None = None,
    max_text_chars: int = MAX_TEXT_CHARS,
    progress: Progress | None = None,
) -> ScanResult:
    """Scan one file of any supported kind and return its entities, counts and columns.

    ``check_archive`` judges a zip-based document (DOCX) before it is opened and raises to
    refuse it; ``max_text_chars`` caps the text extracted from a PDF or DOCX; ``progress``
    hears the share of a text, CSV or JSON file scanned so far. The detector's NER budget
    (``PiiDetector.ner_budget_s``) counts from this document's first NER call.
    """
    p = Path(path)
    if not p.is_file():
        raise ScanError(f"no such file: {p}")
    det = detector or PiiDetector()
    det.start_document()
    result = _scan_kind(p, det, sample_bytes, max_entities, check_archive, max_text_chars, progress)
    result.ner_truncated = det.ner_truncated
    return result


def _scan_kind(
    p: Path,
    det: PiiDetector,
    sample_bytes: int | None,
    max_entities: int,
    check_archive: Callable[[Path], object] | None,
    max_text_chars: int,
    progress: Progress | None,
) -> ScanResult:
    kind = detect_kind(p)
    if kind == "csv":
        return scan_csv(p, det, sample_bytes, max_entities, progress)
    if kind == "json":
        return scan_json(p, det, sample_bytes, max_entities, progress)
    if kind == "parquet":
        return scan_parquet(p, det)
    if kind == "pdf":
        text = extract_pdf_text(p, max_text_chars)
        return scan_chunks([text], det, ScanResult(kind), max_entities)
    if kind == "docx":
        if check_archive is not None:
            check_archive(p)
        text = extract_docx_text(p, max_text_chars)
        return scan_chunks([text], det, ScanResult(kind), max_entities)
    return scan_text_file(p, det, max_entities, progress)
