"""Trial chat against a real (fake) OpenAI-compatible server: replies stored and audited with
personal information redacted, tokens metered from the endpoint's usage and priced by the
model's tariff, the monthly quota per organization, endpoint failures shown as replies,
sealed keys sent only to the endpoint, conversations private to their user, a resent console
form that sends nothing twice."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from modeleval_fake_openai import FakeOpenAI, base_url
from sqlalchemy import select

from mingyue.core.db import system_session
from mingyue.core.ledger.audit import AuditEntry
from mingyue.core.metering.models import UsageRecord
from mingyue.enablers.modeleval.engine.trial import estimate_tokens, reply_cost
from mingyue.enablers.modeleval.models import ModelevalMessage
from mingyue.sdk import Settings

ID_CARD = "11010519491231002X"
PHONE = "13812345678"
KEY = "sk-trial-sealed-9d2c"


def _model(client: Any, headers: dict[str, str], url: str, **kw: Any) -> dict[str, Any]:
    doc = {
        "name": "district-llm",
        "version": "v1",
        "provider": "明月湖智能",
        "licence": "Apache-2.0",
        "endpoint": url,
        "served_model": "fake-model",
        "price_1k": "0.02",
        "visibility": "district",
    }
    doc.update(kw)
    res = client.post("/api/modeleval/models", json=doc, headers=headers)
    assert res.status_code == 201, res.text
    return dict(res.json())


def _start(client: Any, headers: dict[str, str], model_id: int) -> int:
    res = client.post("/api/modeleval/conversations", json={"model_id": model_id}, headers=headers)
    assert res.status_code == 201, res.text
    return int(res.json()["id"])


def _send(client: Any, headers: dict[str, str], conv: int, text: str) -> Any:
    return client.post(
        f"/api/modeleval/conversations/{conv}/messages", json={"text": text}, headers=headers
    )


def test_exchange_is_redacted_metered_priced_and_audited(
    client: Any, tenants: Any, settings: Settings, fake_openai: FakeOpenAI
) -> None:
    model = _model(client, tenants.b.headers(), base_url(fake_openai))
    a = tenants.a.headers()  # organization a tries b's shared model
    conv = _start(client, a, model["id"])
    res = _send(client, a, conv, f"我叫李雷，证件{ID_CARD}，手机{PHONE}，帮我算 6 乘 7")
    assert res.status_code == 201, res.text
    reply = res.json()
    assert reply["status"] == "ok" and reply["content"] == "The answer is 42."
    assert (reply["prompt_tokens"], reply["completion_tokens"]) == (10, 5)  # the endpoint's usage
    assert Decimal(reply["cost"]) == Decimal("0.0003")  # 15 tokens at 0.02 CNY per 1k

    got = client.get(f"/api/modeleval/conversations/{conv}", headers=a).json()
    question = got["messages"][0]["content"]
    assert question == "我叫李雷，证件[ID_CARD]，手机[PHONE]，帮我算 6 乘 7"
    assert got["tokens"] == 15 and got["model_name"] == "district-llm"

    with system_session(settings, "test reads ledger and usage") as s:
        (entry,) = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "modeleval.trial.message")
        ).all()
        (usage,) = s.scalars(
            select(UsageRecord).where(UsageRecord.meter == "modeleval.tokens")
        ).all()
        stored = " ".join(m.content for m in s.scalars(select(ModelevalMessage)))
    dumped = json.dumps(entry.payload, ensure_ascii=False)
    assert ID_CARD not in dumped and PHONE not in dumped and "[ID_CARD]" in dumped
    assert ID_CARD not in stored and PHONE not in stored
    assert entry.organization_id == tenants.a.org.id
    assert entry.subject == f"modeleval_conversation:{conv}"
    assert usage.organization_id == tenants.a.org.id and usage.quantity == Decimal(15)
    assert usage.ref == f"modeleval_message:{reply['id']}" and usage.amount == Decimal("0.0003")
    quota = client.get("/api/modeleval/quota", headers=a).json()
    assert quota["used"] == 15 and quota["limit"] == 200_000 and not quota["overridden"]
    assert client.get("/api/modeleval/quota", headers=tenants.b.headers()).json()["used"] == 0


def test_quota_refuses_past_the_month_and_the_operator_sets_it(
    client: Any, tenants: Any, fake_openai: FakeOpenAI
) -> None:
    model = _model(client, tenants.a.headers(), base_url(fake_openai))
    a = tenants.a.headers()
    org = tenants.a.org.id
    denied = client.put(
        f"/api/modeleval/quota/{org}", json={"tokens_per_month": 20}, headers=tenants.a.headers()
    )
    assert denied.status_code == 403
    ok = client.put(
        f"/api/modeleval/quota/{org}",
        json={"tokens_per_month": 20},
        headers=tenants.operator.headers(admin=True),
    )
    assert ok.status_code == 200 and ok.json()["limit"] == 20 and ok.json()["overridden"]
    conv = _start(client, a, model["id"])
    assert _send(client, a, conv, "first").json()["status"] == "ok"  # 15 of 20
    assert _send(client, a, conv, "second").json()["status"] == "ok"  # 30: over after this one
    refused = _send(client, a, conv, "third")
    assert refused.status_code == 429
    body = refused.json()
    assert body["key"] == "modeleval.quota_exceeded" and "20" in body["detail"]
    msgs = client.get(f"/api/modeleval/conversations/{conv}", headers=a).json()["messages"]
    assert len(msgs) == 4  # the refused question was not kept
    # Organization b's quota is its own.
    b = tenants.b.headers()
    assert _send(client, b, _start(client, b, model["id"]), "hello").json()["status"] == "ok"


def test_endpoint_failures_are_replies_not_errors(
    client: Any, tenants: Any, settings: Settings, fake_openai: FakeOpenAI
) -> None:
    model = _model(client, tenants.a.headers(), base_url(fake_openai), visibility="private")
    a = tenants.a.headers()
    conv = _start(client, a, model["id"])
    boom = _send(client, a, conv, "[boom] hello")
    assert boom.status_code == 201 and boom.json()["status"] == "failed"
    assert boom.json()["error"] == "http_500"
    bad = _send(client, a, conv, "[malformed] hello")
    assert bad.json()["error"] == "malformed"
    long = _send(client, a, conv, "[toolong] hello")
    assert long.json()["error"] == "token_limit"
    with system_session(settings, "test") as s:
        assert (
            s.scalars(select(UsageRecord).where(UsageRecord.meter == "modeleval.tokens")).all()
            == []
        )
        failures = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "modeleval.trial.message")
        ).all()
    assert [e.payload["error"] for e in failures] == ["http_500", "malformed", "token_limit"]
    empty = _send(client, a, conv, "   ")
    assert empty.status_code == 422


def test_keys_reach_only_the_endpoint(
    client: Any, tenants: Any, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = tenants.a.headers()
    sealed = _model(client, a, base_url(fake_openai), api_key=KEY)
    conv = _start(client, a, sealed["id"])
    assert _send(client, a, conv, "hi").json()["status"] == "ok"
    assert fake_openai.seen_auth[-1] == f"Bearer {KEY}"
    by_env = _model(client, a, base_url(fake_openai), version="v2", api_key_env="ME_TRIAL_KEY")
    conv2 = _start(client, a, by_env["id"])
    missing = _send(client, a, conv2, "hi").json()
    assert missing["status"] == "failed" and missing["error"] == "no_api_key"
    monkeypatch.setenv("ME_TRIAL_KEY", "sk-from-env")
    assert _send(client, a, conv2, "hi").json()["status"] == "ok"
    assert fake_openai.seen_auth[-1] == "Bearer sk-from-env"


def test_conversations_belong_to_their_user(
    client: Any, tenants: Any, fake_openai: FakeOpenAI
) -> None:
    model = _model(client, tenants.a.headers(), base_url(fake_openai))
    mine = tenants.a.headers()
    conv = _start(client, mine, model["id"])
    assert _send(client, mine, conv, "hello").status_code == 201
    for other in (tenants.b.headers(), tenants.a.headers(admin=True)):
        assert client.get(f"/api/modeleval/conversations/{conv}", headers=other).status_code == 404
        assert _send(client, other, conv, "hijack").status_code == 404
        assert client.get("/api/modeleval/conversations", headers=other).json() == []
    private = _model(
        client, tenants.a.headers(), base_url(fake_openai), version="p", visibility="private"
    )
    res = client.post(
        "/api/modeleval/conversations",
        json={"model_id": private["id"]},
        headers=tenants.b.headers(),
    )
    assert res.status_code == 404


def _login(client: Any, username: str) -> None:
    res = client.post(
        "/login", data={"username": username, "password": "password123", "next": "/"},
        follow_redirects=False,
    )  # fmt: skip
    assert res.status_code in (302, 303), res.text


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


def test_console_resend_sends_nothing_twice(
    client: Any, tenants: Any, settings: Settings, fake_openai: FakeOpenAI
) -> None:
    model = _model(client, tenants.a.headers(), base_url(fake_openai))
    _login(client, tenants.a.member.username)
    card = client.get(f"/modeleval/models/{model['id']}?lang=zh_CN")
    assert card.status_code == 200 and "开始试用" in card.text
    key = re.search(r'name="form_key" value="([^"]+)"', card.text)
    assert key
    start = client.post(
        "/modeleval/trial",
        data={"csrf_token": _csrf(card.text), "form_key": key.group(1), "model_id": model["id"]},
        follow_redirects=False,
    )
    assert start.status_code == 303
    page = client.get(start.headers["location"])
    assert "还没有消息" in page.text
    form = {"csrf_token": _csrf(page.text), "form_key": "k" * 32, "text": f"电话 {PHONE}"}
    url = start.headers["location"] + "/send"
    first = client.post(url, data=form, follow_redirects=False)
    second = client.post(url, data=form, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert fake_openai.requests == 1
    shown = client.get(first.headers["location"].split("#")[0])
    assert "The answer is 42." in shown.text and "电话 [PHONE]" in shown.text
    assert PHONE not in shown.text
    with system_session(settings, "test") as s:
        assert len(s.scalars(select(ModelevalMessage)).all()) == 2
    # Over quota the page says so in Chinese (429), it is no error page.
    client.put(
        f"/api/modeleval/quota/{tenants.a.org.id}",
        json={"tokens_per_month": 1},
        headers=tenants.operator.headers(admin=True),
    )
    refused = client.post(url, data={**form, "form_key": "q" * 32}, follow_redirects=False)
    assert refused.status_code == 429 and "试用额度" in refused.text


def test_token_estimate_and_cost() -> None:
    assert estimate_tokens("你好，世界") == 5
    assert estimate_tokens("Hello, wonderful world!") == 2 + 1 + 3 + 2 + 1
    assert estimate_tokens("") == 0
    assert reply_cost(1500, Decimal("0.02")) == Decimal("0.03")
    assert reply_cost(10, None) is None
