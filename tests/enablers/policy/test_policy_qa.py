"""The corpus and Q&A through the API: ingest, versions, clause ids, answers, permissions."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from mingyue.enablers.policy.adapters.model_endpoint import ChatEndpoint, ModelUnavailable
from mingyue.enablers.policy.engine.retriever import ClauseDoc, HybridRetriever
from mingyue.enablers.policy.models_corpus import PolicyDocument
from mingyue.enablers.policy.schemas_corpus import AskIn
from mingyue.enablers.policy.service import corpus, qa
from mingyue.sdk import SYSTEM, unit_of_work
from mingyue.sdk.errors import InvalidInput

SEED = (
    Path(__file__).resolve().parents[3]
    / "src/mingyue/enablers/policy/corpus/liangjiang-mingyue-measures-2023.txt"
)
SEED_ID = "liangjiang-mingyue-measures-2023@1#"

V1 = """关于支持软件企业发展的若干措施
一、支持企业研发
（一）对首次认定的软件企业一次性奖励 100 万元。
（二）对企业研发投入按 10% 给予补贴。
二、人才保障
（三）为企业引进的人才提供人才公寓。
"""
V2 = V1.replace("一次性奖励 100 万元", "一次性奖励 200 万元").replace(
    "（三）为企业引进的人才提供人才公寓。",
    "（三）为企业引进的人才提供人才公寓。\n（四）对人才给予交通补贴。",
)


def _ingest(client: Any, headers: dict[str, str], name: str, data: bytes, **form: str) -> Any:
    return client.post(
        "/api/policy/documents", headers=headers, files={"file": (name, data)}, data=form
    )


def test_ingest_read_and_ask(client, tenants) -> None:
    reg = tenants.regulator.headers()
    r = _ingest(client, reg, SEED.name, SEED.read_bytes())
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["slug"] == "liangjiang-mingyue-measures-2023" and doc["version"] == 1
    assert doc["doc_number"] == "渝两江管发〔2023〕23号" and doc["clause_count"] == 30
    # The same file again adds nothing.
    again = _ingest(client, reg, SEED.name, SEED.read_bytes())
    assert again.status_code == 201 and again.json()["unchanged"] is True
    assert again.json()["id"] == doc["id"]

    # Any signed-in user reads the public corpus and asks it.
    member = tenants.b.headers()
    listed = client.get("/api/policy/documents", headers=member).json()
    assert [d["id"] for d in listed] == [doc["id"]]
    detail = client.get(f"/api/policy/documents/{doc['id']}", headers=member).json()
    assert detail["clauses"][0]["path"] == "序言" and len(detail["clauses"]) == 30
    cid = SEED_ID + "三.（十二）"
    clause = client.get(f"/api/policy/clauses/{quote(cid, safe='@')}", headers=member)
    assert clause.status_code == 200, clause.text
    assert clause.json()["url"] == "/policy/clauses/" + quote(cid, safe="@")
    assert "500PFLOPS" in clause.json()["text"]

    ans = client.post(
        "/api/policy/ask", headers=member, json={"question": "中小企业能免费使用算力吗？"}
    )
    assert ans.status_code == 200, ans.text
    body = ans.json()
    assert body["covered"] is True and body["citations"][0]["clause_id"] == cid
    assert body["retrieved"][0]["rank"] == 1 and body["mode"] == "extractive"
    nc = client.post(
        "/api/policy/ask", headers=member, json={"question": "个人养老金账户每年缴费上限是多少？"}
    ).json()
    assert nc["covered"] is False and nc["citations"] == []


def test_versions_supersede_and_old_rules_stay_findable(client, tenants) -> None:
    admin = tenants.operator.headers(admin=True)  # the platform admin
    v1 = _ingest(client, admin, "soft.txt", V1.encode(), slug="soft-measures").json()
    v2 = _ingest(client, admin, "soft-2024.txt", V2.encode(), slug="soft-measures").json()
    assert (v1["version"], v2["version"]) == (1, 2)
    detail = client.get(f"/api/policy/documents/{v2['id']}", headers=admin).json()
    assert detail["changes"] == {"一.（一）": "changed", "二.（四）": "added"}
    changes = {c["path"]: c["change"] for c in detail["clauses"]}
    assert changes["一.（二）"] == "unchanged" and changes["一.（一）"] == "changed"
    old = client.get(f"/api/policy/documents/{v1['id']}", headers=admin).json()
    assert old["status"] == "superseded" and old["superseded_by_id"] == v2["id"]
    current = client.get("/api/policy/documents", headers=admin).json()
    assert [d["id"] for d in current] == [v2["id"]]
    both = client.get("/api/policy/documents?include_superseded=true", headers=admin).json()
    assert {d["id"] for d in both} == {v1["id"], v2["id"]}

    ans = client.post(
        "/api/policy/ask",
        headers=tenants.a.headers(),
        json={"question": "首次认定的软件企业奖励多少万元，和原来相比有变化吗？"},
    ).json()
    cited = {c["clause_id"]: c["current"] for c in ans["citations"]}
    assert cited.get("soft-measures@2#一.（一）") is True
    retrieved = [h["clause_id"] for h in ans["retrieved"]]
    assert "soft-measures@1#一.（一）" in retrieved  # the old rule, marked superseded
    assert "soft-measures@1#一.（二）" not in retrieved  # an unchanged old clause is not repeated


def test_who_may_ingest_and_bad_input(client, tenants) -> None:
    data = V1.encode()
    assert _ingest(client, tenants.a.headers(admin=True), "x.txt", data).status_code == 403
    assert _ingest(client, tenants.operator.headers(), "x.txt", data).status_code == 403
    assert client.get("/api/policy/documents").status_code == 401
    reg = tenants.regulator.headers()
    bad_slug = _ingest(client, reg, "x.txt", data, slug="Bad Slug!")
    assert bad_slug.status_code == 422 and bad_slug.json()["key"] == "policy.bad_slug"
    binary = _ingest(client, reg, "x.bin", b"\x00\x01\x02\x03")
    assert binary.status_code == 422 and binary.json()["key"] == "policy.bad_format"
    assert _ingest(client, reg, "e.txt", b"   ").json()["key"] == "policy.empty_document"
    fake_docx = _ingest(client, reg, "m.docx", b"PK\x03\x04garbage")
    assert fake_docx.status_code == 422
    missing = client.get("/api/policy/documents/999999", headers=reg)
    assert missing.status_code == 404
    bad_id = client.get("/api/policy/clauses/no-hash-here", headers=reg)
    assert bad_id.status_code == 422
    short = client.post("/api/policy/ask", headers=reg, json={"question": "x"})
    assert short.status_code == 422
    no_model = client.post(
        "/api/policy/ask", headers=reg, json={"question": "算力补贴", "generate": True}
    )
    assert no_model.status_code == 422 and no_model.json()["key"] == "policy.no_model"


def test_original_file_stays_with_the_ingesting_organization(client, tenants, settings) -> None:
    reg = tenants.regulator.headers()
    doc = _ingest(client, reg, "soft.txt", V1.encode(), slug="soft-measures").json()
    with unit_of_work(SYSTEM, settings) as uow:
        file_id = uow.session.get(PolicyDocument, doc["id"]).file_id
    assert file_id is not None
    assert client.get(f"/api/files/{file_id}", headers=reg).status_code == 200
    # Another tenant reads the public text, never the uploaded original.
    assert client.get(f"/api/files/{file_id}", headers=tenants.b.headers()).status_code == 404


# -- generated answers through a real HTTP endpoint (an OpenAI-compatible stand-in) --------


class _Chat(BaseHTTPRequestHandler):
    reply = ""
    seen: list[dict[str, Any]] = []  # noqa: RUF012 - the test reads what the server received

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), **body}
        )
        if type(self).reply == "!500":
            self.send_response(500)
            self.end_headers()
            return
        out = json.dumps(
            {"choices": [{"message": {"role": "assistant", "content": type(self).reply}}]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def chat_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Chat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_generated_answer_keeps_only_cited_sentences(chat_server) -> None:
    r = HybridRetriever(
        [
            ClauseDoc("m@1#一", "某措施", "一", "对首次认定的软件企业一次性奖励 100 万元。"),
            ClauseDoc("m@1#二", "某措施", "二", "为企业引进的人才提供人才公寓。"),
        ]
    )
    _Chat.seen.clear()
    _Chat.reply = (
        "首次认定的软件企业可获一次性奖励 100 万元。[m@1#一] 另外还有税收优惠。"
        "人才可申请人才公寓[m@1#二]。编造的条款[x@9#九]。"
    )
    model = ChatEndpoint(chat_server, model="test-model", api_key="sk-test")
    body = AskIn(question="首次认定的软件企业有什么奖励？引进的人才有人才公寓吗？", generate=True)
    out = qa.answer_with(r, body, threshold=0.2, model=model)
    assert out.covered and out.mode == "generative"
    assert out.answer == (
        "首次认定的软件企业可获一次性奖励 100 万元。[m@1#一]人才可申请人才公寓[m@1#二]。"
    )
    assert [c.clause_id for c in out.citations] == ["m@1#一", "m@1#二"]
    assert (
        "另外还有税收优惠。" in out.dropped_sentences
        and "编造的条款[x@9#九]。" in out.dropped_sentences
    )
    sent = _Chat.seen[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sk-test"
    assert sent["model"] == "test-model" and "[m@1#一]" in sent["messages"][1]["content"]

    _Chat.reply = "NOT_COVERED"
    assert not qa.answer_with(r, body, threshold=0.2, model=model).covered
    _Chat.reply = "这是一句没有引用的话。"
    assert not qa.answer_with(r, body, threshold=0.2, model=model).covered
    _Chat.reply = "!500"
    with pytest.raises(ModelUnavailable) as exc:
        qa.answer_with(r, body, threshold=0.2, model=model)
    assert "sk-test" not in exc.value.message


def test_model_endpoint_hosts_are_allow_listed() -> None:
    with pytest.raises(InvalidInput) as exc:
        ChatEndpoint("https://llm.example.com/v1", model="m")
    assert exc.value.key == "policy.model_host_refused"
    assert ChatEndpoint("https://llm.example.com/v1", model="m", allowed_hosts=("llm.example.com",))
    with pytest.raises(InvalidInput):
        ChatEndpoint("file:///etc/passwd", model="m")
    with pytest.raises(InvalidInput):
        ChatEndpoint("http://user:pw@127.0.0.1/v1", model="m")


def test_model_from_settings(settings, chat_server) -> None:
    assert qa.model_for(settings) is None
    configured = settings.model_copy(
        update={"policy": {"model_url": chat_server, "model_name": "m", "covered_threshold": 0.5}}
    )
    assert isinstance(qa.model_for(configured), ChatEndpoint)
    assert qa.threshold_of(configured) == 0.5
    broken = settings.model_copy(update={"policy": {"covered_threshold": 3}})
    with pytest.raises(InvalidInput) as exc:
        qa.threshold_of(broken)
    assert "MINGYUE_POLICY__COVERED_THRESHOLD" in exc.value.message


def test_seed_corpus_as_the_system(settings) -> None:
    with unit_of_work(SYSTEM, settings) as uow:
        docs = corpus.seed_corpus(uow=uow, actor=SYSTEM)
    assert [d.slug for d in docs] == ["liangjiang-mingyue-measures-2023"]
    assert docs[0].version == 1 and not docs[0].unchanged
    with unit_of_work(SYSTEM, settings) as uow:
        again = corpus.seed_corpus(uow=uow, actor=SYSTEM)
        assert again[0].unchanged and again[0].id == docs[0].id
        assert uow.session.get(PolicyDocument, docs[0].id).file_id is None  # no owner, no upload
        out = qa.ask(uow=uow, actor=SYSTEM, body=AskIn(question="数据出境安全评估分中心"))
    assert out.citations[0].clause_id == SEED_ID + "四.（十八）"
