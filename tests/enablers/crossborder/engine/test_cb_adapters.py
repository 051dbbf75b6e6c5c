"""The Presidio adapter (same recognizers, offline blank zh pipeline) and the NER backends."""

from __future__ import annotations

import pytest

from mingyue.enablers.crossborder.adapters.presidio import build_analyzer
from mingyue.enablers.crossborder.engine.checksums import luhn_complete
from mingyue.enablers.crossborder.engine.ner import make_ner
from mingyue.enablers.crossborder.engine.pii import PiiDetector

ID = "11010519491231002X"
CARD = luhn_complete("622202123456789012")
TEXT = (f"客户身份证号{ID}，手机13800138000，卡号{CARD}，车牌京A12345，邮箱a@b.cn，"
        f"假号码{ID[:17]}5，信用代码91350100M000100Y43，护照E12345678，IP 10.1.2.3")  # fmt: skip


def _ours() -> set[tuple[str, int, int]]:
    return {(e.type, e.start, e.end) for e in PiiDetector().detect(TEXT)}


@pytest.mark.parametrize("mode", ["patterns", "delegate"])
def test_presidio_adapter_matches_engine(mode: str) -> None:
    pytest.importorskip("presidio_analyzer")
    analyzer = build_analyzer(mode)
    got = {(r.entity_type, r.start, r.end) for r in analyzer.analyze(TEXT, language="zh")}
    assert got == _ours()
    assert ("CN_RESIDENT_ID_LIKE", TEXT.index(ID[:17] + "5"), TEXT.index(ID[:17] + "5") + 18) in got


def test_presidio_adapter_rejects_bad_check_digits() -> None:
    pytest.importorskip("presidio_analyzer")
    analyzer = build_analyzer("patterns")
    bad = f"卡号{CARD[:-1]}{(int(CARD[-1]) + 1) % 10} 代码91350100M000100Y44"
    assert analyzer.analyze(bad, language="zh") == []
    with pytest.raises(ValueError, match="unknown mode"):
        build_analyzer("nope")


@pytest.mark.parametrize("backend", ["hybrid", "jiagu", "jieba"])
def test_ner_backends_find_names_places_orgs(backend: str) -> None:
    ner = make_ner(backend)
    text = "张三在北京市海淀区的华为技术有限公司工作，手机13800138000。"
    ents = list(ner.entities(text))
    for e in ents:
        assert text[e.start : e.end] == e.text
    kinds = {e.type for e in ents}
    assert "PERSON" in kinds and "LOCATION" in kinds
    assert any(e.type == "PERSON" and e.text == "张三" for e in ents)
    det = PiiDetector(ner=ner)
    merged = det.detect(text)
    assert [e.type for e in merged if e.type == "CN_MOBILE"] == ["CN_MOBILE"]
    assert any(e.source == backend for e in merged)


def test_unknown_ner_backend() -> None:
    with pytest.raises(ValueError, match="unknown NER backend"):
        make_ner("hanlp")
