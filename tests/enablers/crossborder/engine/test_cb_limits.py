"""Limits of a scan: the NER time budget per document, pieces, extracted-text caps, archive hook."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import docx
import pytest

from mingyue.enablers.crossborder.engine.pii import Entity, PiiDetector, split_pieces
from mingyue.enablers.crossborder.engine.scan import ScanError, extract_docx_text, scan_file

ID = "11010519491231002X"


class SlowNer:
    """A NER backend that takes its time and finds the word 张三 wherever it is."""

    name = "slow"

    def __init__(self, delay: float) -> None:
        self.delay, self.calls = delay, 0

    def entities(self, text: str) -> Iterator[Entity]:
        self.calls += 1
        time.sleep(self.delay)
        at = text.find("张三")
        while at >= 0:
            yield Entity("PERSON", at, at + 2, "张三", 0.8, False, "slow")
            at = text.find("张三", at + 2)


def test_split_pieces_cut_after_a_line_and_cover_the_text() -> None:
    text = ("第一行张三。\n" * 50) + "x" * 300
    pieces = list(split_pieces(text, 64))
    assert "".join(p for _, p in pieces) == text
    assert all(len(p) <= 64 for _, p in pieces)
    assert all(text[start : start + len(p)] == p for start, p in pieces)
    assert pieces[0][1].endswith("\n")  # cut after the line, not inside a name
    assert list(split_pieces("short", 64)) == [(0, "short")]


def test_ner_stops_at_its_budget_and_the_patterns_complete(tmp_path: Path) -> None:
    f = tmp_path / "long.txt"
    f.write_text(("客户张三来访。\n" * 200) * 10 + f"身份证{ID}\n", encoding="utf-8")
    slow = SlowNer(0.05)
    det = PiiDetector(ner=slow, ner_budget_s=0.2, ner_piece_chars=256)
    result = scan_file(f, det)
    assert result.ner_truncated and result.to_dict(b"k")["ner_truncated"] is True
    assert result.counts["CN_RESIDENT_ID"] == 1  # the last line: patterns ran to the end
    assert 0 < result.counts["PERSON"] < 2000 and slow.calls < 20
    # A new document starts a new budget; without a budget NER reads everything.
    det.ner_budget_s = None
    again = scan_file(f, det)
    assert not again.ner_truncated and again.counts["PERSON"] == 2000


def test_short_text_is_one_ner_piece(tmp_path: Path) -> None:
    slow = SlowNer(0)
    det = PiiDetector(ner=slow, ner_budget_s=5)
    ents = det.detect("客户张三，手机13800138000")
    assert {e.type for e in ents} == {"PERSON", "CN_MOBILE"} and slow.calls == 1


def test_docx_text_is_capped_and_checked_before_it_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "memo.docx"
    document = docx.Document()
    for _ in range(20):
        document.add_paragraph("客户张三，电话13800138000。")
    document.save(str(path))
    assert "13800138000" in extract_docx_text(path)
    with pytest.raises(ScanError, match="exceeds 100 characters"):
        extract_docx_text(path, max_chars=100)
    with pytest.raises(ScanError, match="DOCX text exceeds"):
        scan_file(path, PiiDetector(), max_text_chars=100)

    class Refused(Exception):
        pass

    seen: list[Path] = []

    def refuse(p: Path) -> None:
        seen.append(p)
        raise Refused

    with pytest.raises(Refused):
        scan_file(path, PiiDetector(), check_archive=refuse)
    assert seen == [path]
    assert scan_file(path, PiiDetector(), check_archive=seen.append).counts["CN_MOBILE"] == 20


def test_progress_reports_the_share_scanned(tmp_path: Path) -> None:
    f = tmp_path / "t.txt"
    f.write_text("手机13800138000\n" * 200_000, encoding="utf-8")
    shares: list[float] = []
    scan_file(f, PiiDetector(), progress=shares.append)
    assert shares[0] == 0 and shares[-1] == 1.0 and shares == sorted(shares) and len(shares) > 2
