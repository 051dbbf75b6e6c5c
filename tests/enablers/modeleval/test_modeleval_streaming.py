"""Trial replies streamed: the client asks ``stream: true``, the console shows the reply while it
arrives (the pending row holds the redacted part so far), the quota is checked before, tokens
are metered and the exchange audited once after the stream ends, a reload sends nothing, and an
endpoint that does not stream gives its whole reply."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from modeleval_fake_openai import FakeOpenAI, base_url
from sqlalchemy import select

from mingyue.core.db import system_session
from mingyue.core.ledger.audit import AuditEntry
from mingyue.core.metering.models import UsageRecord
from mingyue.enablers.modeleval.adapters.openai_compat import OpenAICompatible
from mingyue.enablers.modeleval.service.trial import shown_so_far
from mingyue.sdk import Settings

PHONE = "13812345678"


def _model(client: Any, headers: dict[str, str], url: str) -> int:
    doc = {
        "name": "stream-llm",
        "version": "v1",
        "provider": "明月湖智能",
        "licence": "Apache-2.0",
        "endpoint": url,
        "served_model": "fake-model",
        "price_1k": "0.02",
        "visibility": "private",
    }
    res = client.post("/api/modeleval/models", json=doc, headers=headers)
    assert res.status_code == 201, res.text
    return int(res.json()["id"])


def _login(client: Any, username: str) -> None:
    res = client.post(
        "/login", data={"username": username, "password": "password123", "next": "/"},
        follow_redirects=False,
    )  # fmt: skip
    assert res.status_code in (302, 303), res.text


def _field(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert m, name
    return m.group(1)


def test_adapter_hands_on_pieces_as_they_arrive(fake_openai: FakeOpenAI) -> None:
    client = OpenAICompatible(base_url(fake_openai), "fake")
    msgs = [{"role": "user", "content": "hi"}]
    try:
        pieces: list[str] = []
        reply = client.chat_streamed(msgs, max_tokens=16, on_text=pieces.append)
        assert pieces == ["The ", "answer ", "is ", "42."] and reply.text == "".join(pieces)
        assert (reply.prompt_tokens, reply.completion_tokens) == (10, 5)  # the stream's usage
        assert fake_openai.bodies[-1]["stream"] is True
        assert fake_openai.bodies[-1]["stream_options"] == {"include_usage": True}
        # a server that ignores "stream" answers one JSON body: the whole reply, one piece
        whole: list[str] = []
        reply = client.chat_streamed(
            [{"role": "user", "content": "[nostream] hi"}], max_tokens=16, on_text=whole.append
        )
        assert reply.ok and whole == ["The answer is 42."] and reply.completion_tokens == 5
        failed: list[str] = []
        reply = client.chat_streamed(
            [{"role": "user", "content": "[boom]"}], max_tokens=16, on_text=failed.append
        )
        assert reply.error == "http_500" and failed == []
    finally:
        client.close()


def test_a_number_being_written_is_held_back_until_it_can_be_redacted() -> None:
    assert shown_so_far("电话 1381234") == "电话"  # "138 1234 5678" may follow
    assert shown_so_far(f"电话 {PHONE}，请") == "电话 [PHONE]，请"
    assert shown_so_far("邮箱：li@exa") == "邮箱："
    assert shown_so_far("Hello there, world") == "Hello there, world"  # no digit: all shown
    assert shown_so_far("你好") == "你好"


def test_console_shows_the_reply_while_it_streams(
    client: Any, tenants: Any, settings: Settings, fake_openai: FakeOpenAI
) -> None:
    model_id = _model(client, tenants.a.headers(), base_url(fake_openai))
    _login(client, tenants.a.member.username)
    card = client.get(f"/modeleval/models/{model_id}?lang=zh_CN")
    start = client.post(
        "/modeleval/trial",
        data={
            "csrf_token": _field(card.text, "csrf_token"),
            "form_key": _field(card.text, "form_key"),
            "model_id": model_id,
        },
        follow_redirects=False,
    )
    conv_url = start.headers["location"]
    page = client.get(conv_url)
    words = "one two three four five six seven eight"
    form = {
        "csrf_token": _field(page.text, "csrf_token"),
        "form_key": "s" * 32,
        "text": f"[slowstream] [echo] {words}",
    }
    sent: dict[str, Any] = {}

    def post() -> None:
        sent["res"] = client.post(f"{conv_url}/send", data=form, follow_redirects=False)

    thread = threading.Thread(target=post)
    thread.start()
    seen: list[str] = []
    deadline = time.monotonic() + 20
    while thread.is_alive() and time.monotonic() < deadline:
        frag = client.get(f"{conv_url}/messages?lang=zh_CN").text
        if "模型仍在输出" in frag:
            seen.append(frag)
        time.sleep(0.05)
    thread.join(timeout=20)
    assert sent["res"].status_code == 303
    # while it streamed the page showed a part of the reply, polling on
    assert seen, "no partial reply was shown"
    assert 'hx-trigger="every 1s"' in seen[0]
    shown = re.search(r'class="content streaming"[^>]*>([^<]*)<', seen[0])
    assert shown and words.startswith(shown.group(1)) and shown.group(1).strip() != words
    done = client.get(f"{conv_url}?lang=zh_CN").text
    assert words in done and "模型仍在输出" not in done and "hx-trigger" not in done
    assert fake_openai.requests == 1 and fake_openai.bodies[0]["stream"] is True
    # a reload and a resent form ask the model nothing more
    client.get(conv_url)
    again = client.post(f"{conv_url}/send", data=form, follow_redirects=False)
    assert again.status_code == 303 and fake_openai.requests == 1
    with system_session(settings, "test reads ledger and usage") as s:
        entries = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "modeleval.trial.message")
        ).all()
        usage = s.scalars(select(UsageRecord).where(UsageRecord.meter == "modeleval.tokens")).all()
    assert len(entries) == 1 and len(usage) == 1
    assert usage[0].quantity == 15  # the endpoint's streamed usage: 10 + 5


def test_quota_is_checked_before_and_the_api_streams_too(
    client: Any, tenants: Any, fake_openai: FakeOpenAI
) -> None:
    headers = tenants.a.headers()
    model_id = _model(client, headers, base_url(fake_openai))
    conv = client.post("/api/modeleval/conversations", json={"model_id": model_id}, headers=headers)
    url = f"/api/modeleval/conversations/{conv.json()['id']}/messages"
    res = client.post(url, json={"text": f"[nostream] 我的电话 {PHONE}"}, headers=headers)
    assert res.status_code == 201 and res.json()["content"] == "The answer is 42."
    assert fake_openai.bodies[-1]["stream"] is True  # asked to stream; answered whole
    assert fake_openai.bodies[-1]["messages"][-1]["content"] == "[nostream] 我的电话 [PHONE]"
    client.put(
        f"/api/modeleval/quota/{tenants.a.org.id}",
        json={"tokens_per_month": 1},
        headers=tenants.operator.headers(admin=True),
    )
    asked = fake_openai.requests
    refused = client.post(url, json={"text": "again"}, headers=headers)
    assert refused.status_code == 429 and fake_openai.requests == asked
