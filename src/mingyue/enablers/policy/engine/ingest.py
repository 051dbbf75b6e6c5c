"""Read a policy document (text, HTML, PDF, DOCX) into metadata and clauses.

Readers turn each format into lines (HTML block elements, PDF text lines, DOCX paragraphs with
Word's automatic numbering rendered back into the text); :func:`parse_document` finds the front
matter (issuing organ, document number, title, date) and splits the body with
:mod:`.clauses`. Metadata follows GB/T 9704-2012《党政机关公文格式》: 发文机关标志 (``…文件``),
发文字号 (``渝两江管发〔2023〕23号``), 标题, 成文日期, 附注 (``此件公开发布``).
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import PurePath
from typing import Any

from mingyue.enablers.policy.engine.clauses import (
    CN_DIGITS,
    Clause,
    clean_lines,
    cn_number,
    find_marker,
    join_broken_lines,
    segment,
)
from mingyue.enablers.policy.engine.tags import industry_tags
from mingyue.sdk.errors import InvalidInput

FORMATS = ("text", "html", "pdf", "docx")
MAX_PDF_PAGES = 500

_DOC_NO = re.compile(
    r"([\u4e00-\u9fff]{1,16}?)\s*[〔\[［【(（]\s*(\d{4})\s*[〕\]］】)）]\s*(\d{1,4})\s*号"
)
_CN_DATE_CHARS = "〇零一二三四五六七八九十"
_DATE = re.compile(
    rf"(\d{{4}}|[{_CN_DATE_CHARS}]{{4}})\s*年\s*(\d{{1,2}}|[{_CN_DATE_CHARS}]{{1,3}})\s*月"
    rf"\s*(\d{{1,2}}|[{_CN_DATE_CHARS}]{{1,3}})\s*日"
)
_TITLE = re.compile(
    r"(措施|办法|规定|条例|意见|细则|方案|决定|通知|规划|政策|指引|指南|清单|标准|法|公告)"
    r"(（[^）]{1,8}）|\([^)]{1,8}\))?$"
)
_FRONT = re.compile(
    r"(文件$|此件公开发布|^各[^。]{0,80}：$|印发给你们|^抄送|^\(?（?此件|^[^。]{0,30}办公室\s*\d{4}年)"
)
_EFFECTIVE_FROM = re.compile(r"自(.{0,20}?)起(?:施行|实施|执行|生效)")
_EFFECTIVE_TO = re.compile(r"有效期(?:至|到|截至)\s*(.{0,20}?日)")
_VALID_YEARS = re.compile(r"有效期(?:为)?\s*([一二三四五六七八九十两\d]+)\s*年")
_REGION = re.compile(r"^(.+?(?:自治区|新区|省|市|区|县))")


@dataclass(frozen=True)
class DocumentMeta:
    """What a document says about itself."""

    title: str
    issuer: str
    doc_number: str
    issued_on: date | None
    effective_from: date | None
    effective_to: date | None
    validity: str  # formal | trial | interim
    published: bool  # 此件公开发布
    region: str
    industry_tags: tuple[str, ...]


@dataclass(frozen=True)
class ParsedDocument:
    """A document read and split: metadata, clauses, the cleaned text and its fingerprint."""

    meta: DocumentMeta
    clauses: tuple[Clause, ...]
    text: str
    sha256: str
    format: str


def sniff_format(data: bytes, filename: str = "") -> str:
    """Return the format of a document from its first bytes (the name only breaks ties)."""
    head = data[:512].lstrip()
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                if "word/document.xml" in zf.namelist():
                    return "docx"
        except zipfile.BadZipFile:
            pass
        raise InvalidInput("policy.bad_format", "a zip archive that is not a DOCX document")
    lowered = head[:200].lower()
    if lowered.startswith((b"<!doctype html", b"<html")) or (
        PurePath(filename).suffix.lower() in (".html", ".htm") and lowered.startswith(b"<")
    ):
        return "html"
    if b"\x00" in data[:4096]:
        raise InvalidInput(
            "policy.bad_format", "not a text, HTML, PDF or DOCX document (binary data)"
        )
    return "text"


def decode_text(data: bytes) -> str:
    """Decode UTF-8 (with or without BOM) or GB18030, the encodings Chinese sites publish in."""
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("policy.bad_encoding", "text is neither UTF-8 nor GB18030")


_BLOCKS: frozenset[str] = frozenset(
    [
        "p",
        "div",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "table",
        "ul",
        "ol",
        "blockquote",
        "pre",
        "td",
        "th",
        "dd",
        "dt",
    ]
)


def html_lines(data: bytes) -> list[str]:
    """Return the text lines of an HTML page: one per block element and ``<br>``."""
    from lxml import html as lxml_html  # heavy: parsers load only for their format

    # Without a declared charset lxml assumes Latin-1: decode UTF-8 / GB18030 ourselves.
    source: bytes | str = data
    if not re.search(rb"charset\s*=|encoding\s*=", data[:4096], re.IGNORECASE):
        source = decode_text(data)
    try:
        root = lxml_html.document_fromstring(source)
    except Exception as exc:  # lxml raises several types for unreadable input
        raise InvalidInput("policy.bad_html", f"HTML cannot be read: {exc}") from exc
    for bad in root.xpath("//script|//style|//noscript|//template|//head"):
        bad.drop_tree()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.tag == "br":
            el.tail = "\n" + (el.tail or "")
        elif el.tag in _BLOCKS:
            el.text = "\n" + (el.text or "")
            el.tail = "\n" + (el.tail or "")
    return str(root.text_content()).split("\n")


def pdf_lines(data: bytes) -> list[str]:
    """Return the text lines of a PDF (a text layer is needed: scans carry none)."""
    from pypdf import PdfReader  # heavy: parsers load only for their format
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if len(reader.pages) > MAX_PDF_PAGES:
            raise InvalidInput(
                "policy.too_many_pages", f"PDF has {len(reader.pages)} pages (max {MAX_PDF_PAGES})"
            )
        lines: list[str] = []
        for page in reader.pages:
            lines.extend((page.extract_text() or "").split("\n"))
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput("policy.bad_pdf", f"PDF cannot be read: {exc}") from exc
    if not any(line.strip() for line in lines):
        raise InvalidInput(
            "policy.no_text", "the PDF has no text layer (a scan): OCR it first, then ingest"
        )
    return lines


def _cn_count(n: int) -> str:
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    if n < 20:
        return "十" + (digits[n % 10] if n % 10 else "")
    if n < 100:
        return digits[n // 10] + "十" + (digits[n % 10] if n % 10 else "")
    return str(n)


def _render_number(fmt: str, n: int) -> str:
    if fmt in ("chineseCounting", "chineseCountingThousand", "ideographTraditional"):
        return _cn_count(n)
    if fmt in ("decimalEnclosedCircle", "decimalEnclosedCircleChinese") and 1 <= n <= 20:
        return "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"[n - 1]
    return str(n)


def _render_label(pattern: str, fmt: str, nid: str, counters: dict[tuple[str, str], int]) -> str:
    """Render Word's ``lvlText`` (``%1、``, ``（%2）``) with the current counters."""
    return re.sub(
        r"%(\d)",
        lambda m: _render_number(fmt, counters.get((nid, str(int(m.group(1)) - 1)), 1)),
        pattern,
    )


def docx_lines(data: bytes) -> list[str]:
    """Return a DOCX document's paragraphs (tables row by row), with Word's numbering rendered.

    Word keeps automatic numbering (一、 （一） 1.) out of the paragraph text, in
    ``numbering.xml``; it is rendered back from each level's format and ``lvlText`` so the
    clause splitter sees what a reader sees.
    """
    import docx  # heavy: parsers load only for their format
    from docx.oxml.ns import qn

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several types for unreadable input
        raise InvalidInput("policy.bad_docx", f"DOCX cannot be read: {exc}") from exc
    levels: dict[tuple[str, str], tuple[str, str, int]] = {}
    try:
        numbering = document.part.numbering_part.element
    except (KeyError, NotImplementedError):
        numbering = None
    if numbering is not None:
        abstract = {}
        for an in numbering.findall(qn("w:abstractNum")):
            lv = {}
            for lvl in an.findall(qn("w:lvl")):
                fmt = lvl.find(qn("w:numFmt"))
                text = lvl.find(qn("w:lvlText"))
                start = lvl.find(qn("w:start"))
                lv[lvl.get(qn("w:ilvl"))] = (
                    fmt.get(qn("w:val")) if fmt is not None else "decimal",
                    text.get(qn("w:val")) if text is not None else "",
                    int(start.get(qn("w:val"))) if start is not None else 1,
                )
            abstract[an.get(qn("w:abstractNumId"))] = lv
        for num in numbering.findall(qn("w:num")):
            ref = num.find(qn("w:abstractNumId"))
            if ref is None:
                continue
            for lvl_id, spec in abstract.get(ref.get(qn("w:val")), {}).items():
                levels[(num.get(qn("w:numId")), lvl_id)] = spec
    # A paragraph may take its numbering from its style ("List Number", "标题 2").
    style_num: dict[str, Any] = {}
    for style in document.styles.element.findall(qn("w:style")):
        num = style.find(f"{qn('w:pPr')}/{qn('w:numPr')}")
        if num is not None:
            style_num[style.get(qn("w:styleId"))] = num
    counters: dict[tuple[str, str], int] = {}
    lines: list[str] = []
    body = document.element.body
    for block in body.iterchildren():
        if block.tag == qn("w:tbl"):
            for row in block.iter(qn("w:tr")):
                cells = ["".join(t.text or "" for t in tc.iter(qn("w:t"))) for tc in row]
                lines.append(" ".join(c for c in cells if c))
            continue
        if block.tag != qn("w:p"):
            continue
        text = "".join(t.text or "" for t in block.iter(qn("w:t")))
        num_pr = block.find(f"{qn('w:pPr')}/{qn('w:numPr')}")
        if num_pr is None:
            style = block.find(f"{qn('w:pPr')}/{qn('w:pStyle')}")
            num_pr = style_num.get(style.get(qn("w:val"))) if style is not None else None
        if num_pr is not None and text.strip():
            num_id = num_pr.find(qn("w:numId"))
            ilvl_el = num_pr.find(qn("w:ilvl"))
            nid = num_id.get(qn("w:val")) if num_id is not None else None
            ilvl = ilvl_el.get(qn("w:val")) if ilvl_el is not None else "0"
            level = levels.get((nid or "", ilvl))
            if level is not None:
                fmt, pattern, start = level
                counters[(nid or "", ilvl)] = counters.get((nid or "", ilvl), start - 1) + 1
                for key in [k for k in counters if k[0] == nid and int(k[1]) > int(ilvl)]:
                    del counters[key]
                label = _render_label(pattern, fmt, nid or "", counters)
                text = label + text
        lines.append(text)
    return lines


def read_lines(data: bytes, fmt: str) -> list[str]:
    """Return the raw lines of a document of a known format."""
    if fmt == "pdf":
        return pdf_lines(data)
    if fmt == "docx":
        return docx_lines(data)
    if fmt == "html":
        return html_lines(data)
    return decode_text(data).splitlines()


def parse_date(text: str) -> date | None:
    """Return the first date written ``2023年8月23日`` or ``二〇二三年八月二十三日`` in ``text``."""
    m = _DATE.search(text)
    if not m:
        return None
    try:
        y = m.group(1)
        year = int(y) if y.isdigit() else int("".join(str(_CN_YEAR[c]) for c in y))
        return date(year, cn_number(m.group(2)), cn_number(m.group(3)))
    except (ValueError, KeyError):
        return None


_CN_YEAR = {**CN_DIGITS, "〇": 0, "零": 0}


def _is_date_line(line: str) -> bool:
    return bool(_DATE.fullmatch(line.strip()))


def _title_at(lines: list[str], end: int) -> tuple[int, int, str] | None:
    """Return (first, last, title) of the last title-like line before ``end``."""
    for i in range(end - 1, -1, -1):
        line = lines[i]
        if "。" in line or len(line) > 90 or not _TITLE.search(line):
            continue
        inner = re.search(r"《([^》]{4,80})》", line)
        if inner and inner.group(1) != line.strip("《》"):
            title = inner.group(1)
            return i, i, title
        first = i
        # A title the layout broke in two: the first half starts it and ends unpunctuated.
        if i > 0 and not line.startswith("关于") and lines[i - 1].startswith("关于"):
            prev = lines[i - 1]
            if len(prev) <= 60 and not re.search(r"[。；：，]$", prev):
                first = i - 1
        return first, i, "".join(lines[first : i + 1])
    return None


def split_front(lines: list[str]) -> tuple[list[str], str, list[str], list[str]]:
    """Split cleaned lines into (front matter, title, body, signature lines after the body)."""
    first_marker = next(
        (i for i, line in enumerate(lines) if (m := find_marker(line)) and m.number == 1),
        len(lines),
    )
    found = _title_at(lines, first_marker)
    if found is not None:
        _, last, title = found
        front, body = lines[: last + 1], lines[last + 1 :]
    else:
        title = ""
        start = 0
        while start < first_marker and (
            _FRONT.search(lines[start])
            or _is_date_line(lines[start])
            or _DOC_NO.search(lines[start])
        ):
            start += 1
        front, body = lines[:start], lines[start:]
    tail: list[str] = []
    while body and (
        _is_date_line(body[-1])
        or _FRONT.search(body[-1])
        or (
            len(body[-1]) <= 30
            and re.search(r"(委员会|人民政府|办公室|办公厅|局|厅|部)$", body[-1])
        )
    ):
        tail.insert(0, body.pop())
    return front, title, body, tail


def _issuer(front: list[str], tail: list[str], title: str) -> str:
    for line in front:
        m = re.match(r"^(.{2,40}?)(?:文件|公报)$", line)
        if m:
            return m.group(1)
    for lines in (tail, front):
        for i, line in enumerate(lines):
            if _is_date_line(line) and i > 0 and not _is_date_line(lines[i - 1]):
                cand = lines[i - 1]
                if len(cand) <= 40 and "。" not in cand:
                    return cand
    for line in front:
        m = re.match(r"^(.{2,40}?)(?:关于)?印发", line)
        if m:
            return m.group(1).strip()
    return ""


def slugify(name: str, fallback: str) -> str:
    """Return a URL-safe slug (``a-z0-9-``) of a file name, or ``fallback`` when none is left."""
    stem = PurePath(name).stem.lower() if name else ""
    slug = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")[:80]
    return slug if len(slug) >= 3 else fallback


def parse_document(data: bytes, *, filename: str = "", fmt: str | None = None) -> ParsedDocument:
    """Read a document and split it into metadata and clauses (InvalidInput when unreadable)."""
    if not data.strip():
        raise InvalidInput("policy.empty_document", "the document is empty")
    fmt = fmt or sniff_format(data, filename)
    if fmt not in FORMATS:
        raise InvalidInput("policy.bad_format", f"unknown format {fmt!r}; one of {FORMATS}")
    lines = clean_lines(read_lines(data, fmt))
    front, title, body, tail = split_front(lines)
    body = join_broken_lines(body)
    clauses = tuple(segment(body))
    if not clauses:
        raise InvalidInput("policy.no_clauses", "the document has no text to split into clauses")
    all_text = "\n".join([*front, *body, *tail])
    m = _DOC_NO.search("\n".join(front) or all_text)
    doc_number = f"{m.group(1)}〔{m.group(2)}〕{m.group(3)}号" if m else ""
    issuer = _issuer(front, tail, title)
    issued_on = next((d for line in [*front, *tail] if (d := parse_date(line))), None)
    effective_from = effective_to = None
    body_text = "\n".join(c.text for c in clauses)
    if fm := _EFFECTIVE_FROM.search(body_text):
        effective_from = issued_on if "印发之日" in fm.group(1) else parse_date(fm.group(1))
    if tm := _EFFECTIVE_TO.search(body_text):
        effective_to = parse_date(tm.group(1))
    elif (ym := _VALID_YEARS.search(body_text)) and (effective_from or issued_on):
        base = effective_from or issued_on or date.min
        years = cn_number(ym.group(1).replace("两", "二"))
        try:
            effective_to = base.replace(year=base.year + years)
        except ValueError:  # 29 February
            effective_to = base.replace(year=base.year + years, day=28)
    validity = "trial" if "试行" in title else "interim" if "暂行" in title else "formal"
    region_m = _REGION.match(issuer)
    if not title:
        title = clauses[0].heading or clauses[0].text[:40]
    meta = DocumentMeta(
        title=title,
        issuer=issuer,
        doc_number=doc_number,
        issued_on=issued_on,
        effective_from=effective_from or issued_on,
        effective_to=effective_to,
        validity=validity,
        published="此件公开发布" in "\n".join(front + tail),
        region=region_m.group(1) if region_m else "",
        industry_tags=industry_tags(body_text),
    )
    text = "\n".join(c.text for c in clauses)
    return ParsedDocument(
        meta=meta,
        clauses=clauses,
        text=text,
        sha256=hashlib.sha256(data).hexdigest(),
        format=fmt,
    )
