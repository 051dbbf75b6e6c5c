"""Tests of file scanning: streaming text, tables with column verdicts, PDF/DOCX, bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from mingyue.enablers.crossborder.engine.checksums import luhn_complete
from mingyue.enablers.crossborder.engine.pii import PiiDetector
from mingyue.enablers.crossborder.engine.scan import (
    ScanError,
    ScanResult,
    iter_text_chunks,
    scan_chunks,
    scan_file,
)

ID = "11010519491231002X"
CARD = luhn_complete("622202123456789012")


def make_pdf(lines: list[str]) -> bytes:
    """Build a one-page PDF with Helvetica text and a correct xref table."""
    ops = "BT /F1 12 Tf 50 750 Td " + " ".join(f"({s}) Tj 0 -20 Td" for s in lines) + " ET"
    objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            "/Resources << /Font << /F1 5 0 R >> >> >>"
        ),
        f"<< /Length {len(ops)} >>\nstream\n{ops}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n{body}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


@pytest.fixture
def det() -> PiiDetector:
    return PiiDetector()


def test_text_offsets_survive_chunking(tmp_path: Path, det: PiiDetector) -> None:
    line = f"客户张三，身份证{ID}，手机13800138000。\n"
    text = "前言" * 1000 + line * 300
    f = tmp_path / "a.txt"
    f.write_text(text, encoding="utf-8")
    with f.open("rb") as fp:  # tiny chunks: entities must never be split or doubled
        res = scan_chunks(iter_text_chunks(fp, chunk_bytes=97), det, ScanResult("text"))
    assert dict(res.counts) == {"CN_RESIDENT_ID": 300, "CN_MOBILE": 300}
    assert res.chars == len(text)
    for e in res.entities:
        assert text[e.start : e.end] == e.text
    whole = scan_file(f, det)
    assert [(e.start, e.type) for e in whole.entities] == [(e.start, e.type) for e in res.entities]


def test_bad_input_gives_clear_errors(tmp_path: Path, det: PiiDetector) -> None:
    f = tmp_path / "bad.txt"
    f.write_bytes("身份证".encode() + b"\xff\xfe" + b"abc")
    with pytest.raises(ScanError, match="not UTF-8: invalid byte at offset 9"):
        scan_file(f, det)
    f.write_bytes("身份证".encode()[:-1])
    with pytest.raises(ScanError, match="truncated UTF-8"):
        scan_file(f, det)
    f.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(ScanError, match="binary"):
        scan_file(f, det)
    g = tmp_path / "fake.pdf"
    g.write_bytes(b"hello")
    with pytest.raises(ScanError, match="signature"):
        scan_file(g, det)
    h = tmp_path / "broken.docx"
    h.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(ScanError, match="DOCX"):
        scan_file(h, det)
    with pytest.raises(ScanError, match="no such file"):
        scan_file(tmp_path / "missing.txt", det)


def test_csv_column_verdicts_and_sampling(tmp_path: Path, det: PiiDetector) -> None:
    f = tmp_path / "people.csv"
    rows = ["name,id_number,phone,note"]
    rows += [f"张{i},{ID},1380013{i:04d},备注{i}" for i in range(400)]
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    res = scan_file(f, det)
    verdicts = {c.name: c.verdict for c in res.columns}
    assert verdicts == {
        "name": None,
        "id_number": "CN_RESIDENT_ID",
        "phone": "CN_MOBILE",
        "note": None,
    }
    assert next(c for c in res.columns if c.name == "id_number").sensitive_hits == 400
    assert res.rows_total == 400 and not res.sampled
    assert res.counts["CN_RESIDENT_ID"] == 400
    assert all(f.read_text("utf-8")[e.start : e.end] == e.text for e in res.entities)
    sampled = scan_file(f, det, sample_bytes=2000)
    assert sampled.sampled and 0 < sampled.rows_scanned < 400
    assert {c.name: c.verdict for c in sampled.columns}["id_number"] == "CN_RESIDENT_ID"
    out = res.to_dict(b"k")
    assert ID not in json.dumps(out) and out["columns"][1]["verdict"] == "CN_RESIDENT_ID"


def test_json_and_jsonl(tmp_path: Path, det: PiiDetector) -> None:
    doc = [{"user": {"phone": "13800138000", "email": "a@b.cn"}, "cards": [CARD]}] * 3
    f = tmp_path / "d.json"
    f.write_text(json.dumps(doc), encoding="utf-8")
    res = scan_file(f, det)
    v = {c.name: c.verdict for c in res.columns}
    assert v == {"user.phone": "CN_MOBILE", "user.email": "EMAIL", "cards[]": "BANK_CARD"}
    g = tmp_path / "d.jsonl"
    g.write_text("\n".join(json.dumps(d) for d in doc) + "\n{broken\n", encoding="utf-8")
    with pytest.raises(ScanError, match="JSON Lines line 4"):
        scan_file(g, det)


def test_parquet(tmp_path: Path, det: PiiDetector) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"id": [ID] * 50, "n": list(range(50)), "mail": ["x@y.com"] * 50})
    f = tmp_path / "t.parquet"
    pq.write_table(table, f)
    res = scan_file(f, det)
    assert {c.name: c.verdict for c in res.columns} == {
        "id": "CN_RESIDENT_ID",
        "n": None,
        "mail": "EMAIL",
    }
    f.write_bytes(b"PAR1" + b"\x00" * 20)
    with pytest.raises(ScanError, match="Parquet"):
        scan_file(f, det)


def test_pdf_and_docx(tmp_path: Path, det: PiiDetector) -> None:
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(make_pdf([f"ID {ID}", "Tel 13800138000"]))
    res = scan_file(pdf, det)
    assert dict(res.counts) == {"CN_RESIDENT_ID": 1, "CN_MOBILE": 1}
    import docx

    d = docx.Document()
    d.add_paragraph(f"身份证号码：{ID}")
    t = d.add_table(rows=1, cols=2)
    t.cell(0, 0).text = "银行卡号"
    t.cell(0, 1).text = CARD
    path = tmp_path / "a.docx"
    d.save(str(path))
    res = scan_file(path, det)
    assert res.counts["CN_RESIDENT_ID"] == 1 and res.counts["BANK_CARD"] == 1
