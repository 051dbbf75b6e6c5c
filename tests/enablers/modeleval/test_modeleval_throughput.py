"""What makes the runner fast without changing a score: a multiple-choice reply cut once its
option is settled (the server stops decoding), and identical requests asked once."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mingyue.enablers.modeleval.adapters.openai_compat import OpenAICompatible
from mingyue.enablers.modeleval.engine.client import MemoryCache, request_key
from mingyue.enablers.modeleval.engine.items import parse_item
from mingyue.enablers.modeleval.engine.runner import RunConfig, Runner, letter_settled
from mingyue.enablers.modeleval.engine.scoring import extract_letter

# Replies of the shapes small models give to "…\nAnswer:" (SmolLM2, Gemma, Qwen runs).
REPLIES = [
    "答案：B。因为火星表面富含氧化铁。",
    "The answer is (C) because the nucleus holds the DNA.",
    "Answer: d",
    "I think A. Actually the Answer: B, since",
    "B. Mars is called the Red Planet",
    "The correct answer is: A) Central Processing Unit",
    "正确答案是 D，太平洋",
    "Answer: E is not right; Answer: C",
    "Answer: Th",
    "answers: B",
    "答案：Ｂ。",  # fullwidth letter, NFKC folds it
]


@pytest.mark.parametrize("reply", REPLIES)
def test_a_settled_prefix_reads_as_the_whole_reply(reply: str) -> None:
    for n in (2, 4, 5):
        whole = extract_letter(reply, n)
        for cut in range(len(reply) + 1):
            if letter_settled(reply[:cut], n):
                assert extract_letter(reply[:cut], n) == whole, (reply[:cut], n)


def test_what_settles_and_what_does_not() -> None:
    assert letter_settled("答案：B。因为", 4)
    assert not letter_settled("答案：B", 4)  # "答案：Blue…" would not be B
    assert letter_settled("答案：B。", 4)
    assert not letter_settled("Answer: C\u0323", 4)  # a U+0301 to come would make it Ć
    assert not letter_settled("B. Mars is the red planet", 4)  # an "Answer: C" may follow
    assert not letter_settled("Answer: E is wrong", 4)  # E is not one of four options
    assert letter_settled("Answer: E is wrong", 5)


# Replies built from the pieces the extractor looks at, so that marks, letters and what may
# follow them meet often (a combining accent and a dot below included, for NFKC).
_PIECES = ["Answer", "answer", "答案", "正确答案", "is", "是", "选", ":", "：", " ", "(", "（"]
_PIECES += ["A", "B", "C", "D", "E", "a", "Ｂ", "he", "s", ".", "。", "\n", "\u0301", "\u0323"]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=12).map("".join)


@settings(max_examples=400, deadline=None)
@given(head=_TEXT, tail=_TEXT, n=st.integers(min_value=2, max_value=5))
def test_no_continuation_changes_a_settled_pick(head: str, tail: str, n: int) -> None:
    if letter_settled(head, n):
        assert extract_letter(head + tail, n) == extract_letter(head, n)


class _Streamer(ThreadingHTTPServer):
    """Streams a fixed reply a token a time (as llama.cpp does) and notes what it decoded."""

    daemon_threads = True
    tokens: list[str]
    delay_s: float
    decoded: list[int]  # tokens written per request before the client hung up or the end
    requests: int

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up is the point of the test


class _Handler(BaseHTTPRequestHandler):
    server: _Streamer

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        doc = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self.server.requests += 1
        if self.path.endswith("/v1/completions"):
            self._echo_logprobs(doc)
            return
        tokens = self.server.tokens[: doc["max_tokens"]]
        if not doc.get("stream"):
            time.sleep(self.server.delay_s * len(tokens))
            self.server.decoded.append(len(tokens))
            body = json.dumps(
                {"choices": [{"message": {"role": "assistant", "content": "".join(tokens)}}]}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        sent = 0
        try:
            for tok in tokens:
                time.sleep(self.server.delay_s)
                chunk = {"choices": [{"delta": {"content": tok}}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                sent += 1
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except OSError:
            pass
        self.server.decoded.append(sent)

    def _echo_logprobs(self, doc: dict[str, Any]) -> None:
        # llama.cpp's shape: one token per character here, the prompt echoed, then one more
        # token; "C" is the likely letter, and the first token has no log-probability
        text = doc["prompt"] + "\n"
        values: list[float | None] = [-0.1 if ch == "C" else -2.0 for ch in text]
        values[0] = None
        body = json.dumps(
            {
                "choices": [
                    {
                        "text": text,
                        "logprobs": {
                            "tokens": list(text),
                            "text_offset": list(range(len(text))),
                            "token_logprobs": values,
                            "top_logprobs": [None if v is None else {"x": v} for v in values],
                        },
                    }
                ]
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def streamer() -> Iterator[_Streamer]:
    server = _Streamer(("127.0.0.1", 0), _Handler)
    server.tokens = ["Answer", ":", " C", ".", " The", " nucleus", " holds", " the", " DNA", "."]
    server.tokens += [" It"] * 6
    server.delay_s = 0.02
    server.decoded = []
    server.requests = 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: _Streamer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


RAW = {"id": "bio", "question": "Which part holds the DNA?", "choices": list("wxyz"), "answer": 2}
ITEM = parse_item(RAW)


def _run(server: _Streamer, **cfg: Any) -> dict[str, Any]:
    client = OpenAICompatible(_url(server), "m")
    try:
        config = RunConfig(robustness=False, efficiency=False, **cfg)
        return Runner(client, config).run([ITEM], [])
    finally:
        client.close()


def test_a_cut_reply_scores_as_the_whole_one_and_decodes_less(streamer: _Streamer) -> None:
    whole = _run(streamer)
    cut = _run(streamer, early_stop=True)
    assert whole["generality"]["accuracy"] == cut["generality"]["accuracy"] == 1.0
    full, short = whole["records"][0], cut["records"][0]
    assert full["output"].startswith(short["output"]) and short["output"] == "Answer: C."
    assert short["extra"]["stopped_early"] is True and "stopped_early" not in full["extra"]
    time.sleep(0.2)  # the server notices the hang-up at its next write
    assert streamer.decoded[0] == 16 and streamer.decoded[1] <= 5


def test_a_cut_reply_has_its_own_cache_key() -> None:
    msgs = [{"role": "user", "content": "q"}]
    plain = request_key("m", msgs, max_tokens=16, temperature=0.0)
    assert plain == request_key("m", msgs, max_tokens=16, temperature=0.0, until=None)
    assert plain != request_key("m", msgs, max_tokens=16, temperature=0.0, until="choice-letter/4")


def test_identical_requests_in_flight_are_asked_once(streamer: _Streamer) -> None:
    twins = [parse_item({**RAW, "id": f"twin-{i}"}) for i in (1, 2)]
    client = OpenAICompatible(_url(streamer), "m")
    try:
        runner = Runner(client, RunConfig(robustness=False, efficiency=False, concurrency=4))
        card = runner.run([ITEM, *twins], [])
    finally:
        client.close()
    assert streamer.requests == 1
    assert card["generality"]["accuracy"] == 1.0
    assert card["run"]["cached"] == 2  # two of three waited for the one in flight


def test_identical_prompts_hit_the_cache_across_runs(streamer: _Streamer) -> None:
    cache = MemoryCache()
    client = OpenAICompatible(_url(streamer), "m")
    try:
        cfg = RunConfig(robustness=False, efficiency=False, early_stop=True)
        Runner(client, cfg, cache=cache).run([ITEM], [])
        again = Runner(client, cfg, cache=cache).run([ITEM], [])
    finally:
        client.close()
    assert streamer.requests == 1 and again["run"]["cached"] == 1
    assert again["records"][0]["extra"]["stopped_early"] is True


def _streamer() -> _Streamer:
    server = _Streamer(("127.0.0.1", 0), _Handler)
    server.tokens = ["Answer", ":", " C", ".", *[" It"] * 12]
    server.delay_s = 0.05
    server.decoded = []
    server.requests = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def pool() -> Iterator[tuple[str, list[_Streamer]]]:
    backends = [_streamer(), _streamer()]
    port = _free_port()
    argv = [sys.executable, "-m", "mingyue.enablers.modeleval.adapters.llama_pool"]
    argv += ["--port", str(port)]
    for b in backends:
        argv += ["--backend", f"http://127.0.0.1:{b.server_address[1]}"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.post(f"{url}/chat/completions", json={"max_tokens": 0}, timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        for b in backends:  # the readiness probe above reached one of them
            b.requests, b.decoded = 0, []
        yield url, backends
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for b in backends:
            b.shutdown()
            b.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_pool_spreads_requests_and_passes_hang_ups_on(
    pool: tuple[str, list[_Streamer]],
) -> None:
    url, backends = pool
    client = OpenAICompatible(url, "m", timeout_s=30)
    msgs = [{"role": "user", "content": "q"}]
    try:
        with ThreadPoolExecutor(2) as ex:
            replies = list(ex.map(lambda _: client.chat(msgs, max_tokens=16), range(2)))
        assert [r.text for r in replies] == ["Answer: C." + " It" * 12] * 2
        assert [b.requests for b in backends] == [1, 1]  # one each, not both on one
        cut = client.chat_until(msgs, max_tokens=16, settled=lambda t: letter_settled(t, 4))
        assert cut.text == "Answer: C." and cut.stopped_early
        streamed = client.chat(msgs, max_tokens=16, stream=True)
        assert streamed.text == replies[0].text and streamed.completion_tokens == 16
    finally:
        client.close()
    time.sleep(0.5)
    decoded = sorted(d for b in backends for d in b.decoded)
    assert decoded[0] <= 6 and decoded[1:] == [16, 16, 16]  # the hang-up reached the backend


def test_multiple_choice_by_loglikelihood(streamer: _Streamer) -> None:
    card = _run(streamer, scoring="loglikelihood")
    record = card["records"][0]
    assert record["output"] == "C" and record["score"] == 1.0
    assert record["extra"]["logprobs"] == [-4.0, -4.0, -2.1, -4.0]  # " " (-2) + the letter
    assert streamer.requests == 4 and card["run"]["scoring"] == "loglikelihood"


def test_loglikelihood_failures_are_reasons() -> None:
    client = OpenAICompatible("http://127.0.0.1:9/v1", "m", timeout_s=1.0)
    try:
        assert client.loglikelihood("Answer:", " A").error in ("connect_error", "timeout")
    finally:
        client.close()
