"""`mingyue policy ask | eval | ingest | documents`: the JSON contract and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src/mingyue/enablers/policy"
SEED = SRC / "corpus/liangjiang-mingyue-measures-2023.txt"
QUESTIONS = SRC / "eval/questions.jsonl"


def test_ask_the_bundled_corpus(cli) -> None:
    res = cli("policy", "ask", "数据出境申报和标准合同备案有什么服务？", "--json")
    assert res.exit_code == 0, res.stderr
    out = res.json()
    assert {"answer", "citations", "covered"} <= set(out)
    assert out["covered"] is True
    first = out["citations"][0]
    assert {"doc", "clause_id", "text"} <= set(first)
    assert first["clause_id"] == "liangjiang-mingyue-measures-2023@1#四.（十八）"
    assert first["clause_id"] in out["answer"]
    trap = cli("policy", "ask", "个人养老金账户每年缴费上限是多少？", "--json").json()
    assert trap["covered"] is False and trap["citations"] == []
    human = cli("policy", "ask", "人形机器人、协作机器人在政策里怎么支持？")
    assert (
        human.exit_code == 0 and "【机器人】" in human.stdout and "/policy/clauses/" in human.stdout
    )


def test_eval_prints_the_metrics(cli) -> None:
    res = cli("policy", "eval", str(QUESTIONS), "--json")
    assert res.exit_code == 0, res.stderr
    m = res.json()
    assert m["questions"] >= 60
    assert m["recall_at_5"] >= 0.9 and 0 < m["mrr"] <= 1 and m["citation_precision"] >= 0.9
    assert m["trap_accuracy"] >= 0.9 and "calibrated_threshold" in m
    table = cli("policy", "eval", str(QUESTIONS), "--mode", "bm25")
    assert table.exit_code == 0 and "recall_at_5" in table.stdout


def test_ingest_then_ask_the_platform_corpus(cli, settings, tenants) -> None:
    d = str(settings.data_dir)
    reg = tenants.regulator.admin.username
    res = cli("policy", "ingest", str(SEED), "--data-dir", d, "--as", reg, "--json")
    assert res.exit_code == 0, res.stderr
    doc = res.json()
    assert doc["version"] == 1 and doc["clause_count"] == 30
    listed = cli("policy", "documents", "--data-dir", d, "--as", reg, "--json").json()
    assert [x["id"] for x in listed] == [doc["id"]]
    ans = cli("policy", "ask", "卫星互联网终端入网认证去哪里办？", "--data-dir", d, "--json").json()
    assert ans["citations"][0]["clause_id"] == "liangjiang-mingyue-measures-2023@1#四.（十九）"
    m = cli("policy", "eval", str(QUESTIONS), "--data-dir", d, "--json").json()
    assert m["recall_at_5"] >= 0.9  # the same ids: the ingested seed is version 1
    # An enterprise member may not ingest.
    member = tenants.a.member.username
    refused = cli("policy", "ingest", str(SEED), "--data-dir", d, "--as", member)
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1


def test_bad_input_is_one_line_and_exit_2(cli, settings, tenants, tmp_path: Path) -> None:
    short = cli("policy", "ask", "x")
    assert short.exit_code == 2 and short.stderr.count("\n") == 1
    missing = cli("policy", "eval", str(tmp_path / "none.jsonl"))
    assert missing.exit_code == 2 and missing.stderr.count("\n") == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\nnot json\n', encoding="utf-8")
    res = cli("policy", "eval", str(bad))
    assert res.exit_code == 2 and "line 2" in res.stderr and res.stderr.count("\n") == 1
    assert cli("policy", "eval", str(QUESTIONS), "--mode", "magic").exit_code == 2
    d = str(settings.data_dir)
    reg = tenants.regulator.admin.username
    binary = tmp_path / "x.pdf"
    binary.write_bytes(b"%PDF-1.4 not really")
    res = cli("policy", "ingest", str(binary), "--data-dir", d, "--as", reg)
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    res = cli("policy", "ingest", str(tmp_path), "--data-dir", d, "--as", reg)
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    no_user = cli("policy", "ingest", str(SEED), "--data-dir", d)
    assert no_user.exit_code == 2 and "--as" in no_user.stderr
    gen = cli("policy", "ask", "算力补贴有哪些？", "--generate")
    assert gen.exit_code == 2 and "policy.no_model" in gen.stderr
    assert json.loads(cli("policy", "ask", "算力", "--json", "--k", "1").stdout)["retrieved"]
