"""The OpenAI-compatible adapter against a real misbehaving server: every failure is a reason."""

from __future__ import annotations

import pytest
from modeleval_fake_openai import FakeOpenAI, base_url

from mingyue.enablers.modeleval.adapters.openai_compat import OpenAICompatible
from mingyue.enablers.modeleval.engine.items import Probe
from mingyue.enablers.modeleval.engine.runner import RunConfig, Runner, model_judge
from mingyue.sdk.errors import InvalidInput


def _ask(client: OpenAICompatible, text: str, *, stream: bool = False):  # type: ignore[no-untyped-def]
    return client.chat([{"role": "user", "content": text}], max_tokens=8, stream=stream)


def test_failures_come_back_as_reasons(fake_openai: FakeOpenAI) -> None:
    client = OpenAICompatible(base_url(fake_openai), "fake", timeout_s=1.0, max_seconds=1.5)
    try:
        assert _ask(client, "hi").text == "The answer is 42."
        assert _ask(client, "[slow]").error == "timeout"
        assert _ask(client, "[malformed]").error == "malformed"
        assert _ask(client, "[toolong]").error == "token_limit"
        assert _ask(client, "[boom]").error == "http_500"
        endless = _ask(client, "[endless]", stream=True)
        assert endless.error in ("stream_timeout", "too_large")
        ok = _ask(client, "hi", stream=True)
        assert ok.ok and ok.text == "The answer is 42." and ok.ttft_ms is not None
        assert ok.completion_tokens == 4  # one per streamed piece: "The ", "answer ", "is ", "42."
    finally:
        client.close()


def test_endless_body_is_cut_by_size(fake_openai: FakeOpenAI) -> None:
    client = OpenAICompatible(base_url(fake_openai), "fake", max_seconds=30, max_bytes=4096)
    try:
        assert _ask(client, "[endless]").error == "too_large"
    finally:
        client.close()


def test_refused_connection_is_a_reason() -> None:
    client = OpenAICompatible("http://127.0.0.1:9/v1", "fake", timeout_s=1.0)
    try:
        assert _ask(client, "hi").error in ("connect_error", "timeout")
    finally:
        client.close()


def test_key_is_sent_and_never_shown(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ME_TEST_KEY", "sk-secret-123456")
    client = OpenAICompatible(base_url(fake_openai), "fake", api_key_env="ME_TEST_KEY")
    try:
        reply = _ask(client, "hi")
        assert fake_openai.seen_auth[-1] == "Bearer sk-secret-123456"
        assert "sk-secret" not in repr(client) and "sk-secret" not in repr(reply)
    finally:
        client.close()


@pytest.mark.parametrize("url", ["ftp://x/v1", "not a url", "http://user:pw@host/v1"])
def test_bad_endpoints_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        OpenAICompatible(url, "m")


def test_missing_key_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ME_ABSENT_KEY", raising=False)
    with pytest.raises(InvalidInput, match="ME_ABSENT_KEY"):
        OpenAICompatible("http://127.0.0.1:1/v1", "m", api_key_env="ME_ABSENT_KEY")


def test_judge_model_overrules_the_rules(fake_openai: FakeOpenAI) -> None:
    # the fake judge answers YES to every question: benign replies now count as refusals
    client = OpenAICompatible(base_url(fake_openai), "fake")
    probes = [Probe("b1", "What is a firework?", "A.5", False)]
    try:
        plain = Runner(client, RunConfig(efficiency=False)).run([], probes)
        judged = Runner(client, RunConfig(efficiency=False), judge=model_judge(client)).run(
            [], probes
        )
    finally:
        client.close()
    assert plain["safety"]["over_refusal_rate"] == 0.0
    assert judged["safety"]["over_refusal_rate"] == 1.0
