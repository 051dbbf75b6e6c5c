"""Hybrid retrieval: jieba BM25, corpus-trained dense vectors, reciprocal-rank fusion, expansion."""

from __future__ import annotations

import pytest

from mingyue.enablers.policy.engine.answer import (
    COVERED_THRESHOLD,
    extractive_answer,
    highlight_spans,
    mark,
)
from mingyue.enablers.policy.engine.bm25 import BM25
from mingyue.enablers.policy.engine.dense import LsaEmbedder
from mingyue.enablers.policy.engine.fusion import rrf
from mingyue.enablers.policy.engine.retriever import (
    ClauseDoc,
    HybridRetriever,
    default_tokenizer,
)
from mingyue.enablers.policy.engine.thesaurus import expand
from mingyue.enablers.policy.service.qa import bundled_retriever

SEED = "liangjiang-mingyue-measures-2023@1#"


def test_tokenizer_keeps_domain_words_and_drops_question_words() -> None:
    words = default_tokenizer()("中小企业能免费使用算力吗？")
    assert "算力" in words and "中小企业" in words and "免费" in words
    assert "吗" not in words and "能" not in words and "？" not in words
    assert default_tokenizer()("Web3 与 IPv6") == ["web3", "ipv6"]


def test_bm25_ranks_and_measures_coverage() -> None:
    tok = default_tokenizer()
    docs = [tok(t) for t in ("企业数据出境安全评估", "人才公寓租房补贴", "算力资源免费开放")]
    index = BM25(docs)
    top = index.top(tok("数据出境怎么评估"), 3)
    assert top[0].index == 0 and all(h.score > 0 for h in top)
    assert index.top(tok("契税"), 3) == []  # a word the corpus never uses finds nothing
    assert index.coverage(tok("人才公寓"), 1) == pytest.approx(1.0)
    assert index.coverage(tok("人才公寓契税"), 1) < 0.7  # an unknown word weighs heavily


def test_rrf_adds_reciprocal_ranks_deterministically() -> None:
    fused = rrf([[1, 2, 3], [3, 1]], k=60)
    assert [i for i, _ in fused] == [1, 3, 2]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    # A tie keeps the document the first list ranked higher.
    assert [i for i, _ in rrf([[5, 6], [6, 5]])] == [5, 6]


def test_expansion_maps_everyday_words_to_administrative_terms() -> None:
    assert "境外" in expand("用户数据传到海外总部")
    assert "子女" in expand("外籍专家的孩子上学")
    assert expand("smart 城市") == "smart 城市"  # "ar" inside a Latin word is not expanded
    assert "增强现实" in expand("做 AR 眼镜的企业")


def test_dense_vectors_are_unit_length_and_semantic_on_ngrams() -> None:
    texts = ["对企业研发给予补贴。", "建设人才公寓保障安居。", "开展数据出境安全评估。"]
    emb = LsaEmbedder(texts, dims=8)
    vecs = emb.encode(["数据出境评估", "人才住房公寓"])
    assert vecs.shape[0] == 2
    assert abs(float((vecs[0] ** 2).sum()) - 1.0) < 1e-5
    docs = emb.encode(texts)
    assert int((docs @ vecs[0]).argmax()) == 2 and int((docs @ vecs[1]).argmax()) == 1


def test_hybrid_retriever_on_the_seed_corpus() -> None:
    r = bundled_retriever()
    assert len(r.docs) == 30  # preamble, 5 parts, 24 measures
    hits = r.search("App 违规收集个人信息、过度索权，区里能提供什么检测服务？", k=5)
    assert hits[0].clause.clause_id == SEED + "四.（十六）"
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert hits[0].bm25 > 0 and hits[0].cosine > 0 and 0 < hits[0].coverage <= 1
    # The same question through one ranker alone.
    assert r.search("数据出境申报和标准合同备案", k=1, mode="bm25")[0].clause.path == "四.（十八）"
    assert r.search("数据出境申报和标准合同备案", k=1, mode="dense")[0].clause.path == "四.（十八）"
    with pytest.raises(ValueError):
        r.search("x", mode="magic")


def test_extractive_answer_cites_highlights_and_refuses_the_uncovered() -> None:
    r = bundled_retriever()
    q = "境外高精尖缺人才的子女入学有什么支持？"
    ans = extractive_answer(r.search(q), r.words(q), threshold=COVERED_THRESHOLD)
    assert ans.covered and ans.citations[0].clause_id == SEED + "五.（二十三）"
    assert f"[{SEED}五.（二十三）]" in ans.answer
    c = ans.citations[0]
    marked = {c.text[a:b] for a, b in c.highlights}
    assert {"子女", "入学"} <= marked
    trap = "个人养老金账户每年缴费上限是多少？"
    refused = extractive_answer(r.search(trap), r.words(trap), threshold=COVERED_THRESHOLD)
    assert not refused.covered and refused.citations == () and "not covered" in refused.answer


def test_highlight_spans_do_not_overlap() -> None:
    spans = highlight_spans("数据出境安全评估分中心", ["数据出境", "数据", "评估"])
    assert spans == ((0, 4), (6, 8))
    assert mark("数据出境安全评估", spans[:1]) == "【数据出境】安全评估"


def test_superseded_clause_is_marked_in_the_answer() -> None:
    docs = [
        ClauseDoc("m@2#一", "某措施", "一", "对首次认定的企业奖励 200 万元。"),
        ClauseDoc("m@1#一", "某措施", "一", "对首次认定的企业奖励 100 万元。", current=False),
        ClauseDoc("m@2#二", "某措施", "二", "建设人才公寓保障安居。"),
    ]
    r = HybridRetriever(docs)
    q = "首次认定的企业奖励多少万元，和原来相比有什么变化？"
    ans = extractive_answer(r.search(q), r.words(q), threshold=0.2)
    ids = [c.clause_id for c in ans.citations]
    assert ids[:2] == ["m@2#一", "m@1#一"] or ids[:2] == ["m@1#一", "m@2#一"]
    assert "（该条已被新版本修订）" in ans.answer
    assert {c.clause_id: c.current for c in ans.citations}["m@1#一"] is False


def test_empty_corpus_answers_nothing() -> None:
    r = HybridRetriever([])
    assert r.search("任何问题") == []
    assert not extractive_answer([], [], threshold=0.1).covered
