"""An OpenAI-compatible chat endpoint (``…/v1/chat/completions``) over httpx.

The API key is read from the environment variable the caller names and sent only in the
Authorization header: it is never logged, never part of a reply, an error reason or a repr.
Failures come back as replies with a short reason: ``timeout``, ``connect_error``,
``http_<status>``, ``token_limit`` (the endpoint refused the length), ``malformed`` (not the
OpenAI shape), ``too_large`` (the body passed ``max_bytes``), ``stream_timeout`` (a reply that
streams past ``max_seconds``), ``no_content``.

A streamed request whose answer is not an event stream (a server that ignores ``stream``) is
read as the whole reply, so callers that stream get an answer from either kind of server.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from mingyue.enablers.modeleval.engine.client import Messages, Reply, Scored, Settled
from mingyue.sdk.errors import InvalidInput

_TOKEN_LIMIT = re.compile(
    r"context.length|maximum context|too many tokens|max_tokens|token limit|exceeds? .*tokens",
    re.IGNORECASE,
)


class _Abort(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_base_url(url: str) -> str:
    """Validate an endpoint base URL (http(s), a host); return it without a trailing slash."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            "modeleval.bad_endpoint",
            "the endpoint must be an http(s) base URL such as http://127.0.0.1:8080/v1",
            field="--endpoint",
        )
    if parts.username or parts.password:
        raise InvalidInput(
            "modeleval.bad_endpoint",
            "the endpoint URL must not carry credentials; name the key's variable with --api-key-env",
            field="--endpoint",
        )
    return url.strip().rstrip("/")


class KeyTransport(httpx.HTTPTransport):
    """Sends a key held in memory (a sealed one, unsealed for this client) in the Authorization
    header; the client itself reads keys only from variables."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self._auth = f"Bearer {key}"

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["Authorization"] = self._auth
        return super().handle_request(request)


class OpenAICompatible:
    """Chat with an OpenAI-compatible endpoint; every failure is a recorded reason."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = None,
        timeout_s: float = 60.0,
        max_seconds: float = 120.0,
        max_bytes: int = 2 * 1024 * 1024,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self.model = model
        self.cache_scope = f"{self.base_url}#{model}"  # cached replies are per endpoint and model
        headers = {"Content-Type": "application/json"}
        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise InvalidInput(
                    "modeleval.no_api_key",
                    f"environment variable {api_key_env} is not set (it should hold the API key)",
                    field="--api-key-env",
                )
            headers["Authorization"] = f"Bearer {key}"
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            headers=headers,
            transport=transport,
            follow_redirects=False,
            trust_env=False,
        )

    def __repr__(self) -> str:
        return f"OpenAICompatible({self.base_url!r}, {self.model!r})"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def chat(
        self, messages: Messages, *, max_tokens: int, temperature: float = 0.0, stream: bool = False
    ) -> Reply:
        """Answer the conversation (streamed when asked, for the time to first token)."""
        return self._chat(messages, max_tokens=max_tokens, temperature=temperature, stream=stream)

    def chat_until(
        self, messages: Messages, *, max_tokens: int, settled: Settled, temperature: float = 0.0
    ) -> Reply:
        """Stream the answer and hang up once ``settled(text so far)`` holds.

        Hanging up is what saves the time: llama.cpp's and vLLM's servers stop decoding a stream
        whose client has gone, so the tokens after the settled part are never generated.
        """
        return self._chat(
            messages, max_tokens=max_tokens, temperature=temperature, stream=True, settled=settled
        )

    def chat_streamed(
        self,
        messages: Messages,
        *,
        max_tokens: int,
        on_text: Callable[[str], None],
        temperature: float = 0.0,
    ) -> Reply:
        """Stream the answer, handing each new piece of text to ``on_text`` as it arrives.

        The request asks for the usage in the stream (``stream_options.include_usage``) so the
        tokens metered are the endpoint's; a server that answers with one JSON body instead of
        an event stream gives its whole reply to ``on_text`` at once.
        """
        return self._chat(
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            stream=True,
            on_text=on_text,
            usage=True,
        )

    def _chat(
        self,
        messages: Messages,
        *,
        max_tokens: int,
        temperature: float,
        stream: bool,
        settled: Settled | None = None,
        on_text: Callable[[str], None] | None = None,
        usage: bool = False,
    ) -> Reply:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": stream,
        }
        if stream and usage:
            body["stream_options"] = {"include_usage": True}
        t0 = time.perf_counter()
        try:
            with self._http.stream("POST", f"{self.base_url}/chat/completions", json=body) as resp:
                if resp.status_code >= 400:
                    raw = self._read(resp.iter_bytes(), t0)
                    return self._fail(_http_reason(resp.status_code, raw), t0)
                ctype = resp.headers.get("content-type", "").lower()
                if stream and ctype.startswith("text/event-stream"):
                    return self._streamed(resp.iter_lines(), t0, settled, on_text)
                raw = self._read(resp.iter_bytes(), t0)
                reply = self._whole(raw, t0)
                if stream and reply.error == "malformed" and b"data:" in raw:
                    # an event stream under another content type: read it all the same
                    lines = raw.decode("utf-8", "replace").splitlines()
                    return self._streamed(lines, t0, settled, on_text)
                if on_text is not None and reply.ok and reply.text:
                    on_text(reply.text)
                return reply
        except _Abort as exc:
            return self._fail(exc.reason, t0)
        except httpx.TimeoutException:
            return self._fail("timeout", t0)
        except httpx.HTTPError:
            return self._fail("connect_error", t0)

    def loglikelihood(self, context: str, continuation: str) -> Scored:
        """Score a continuation through ``/v1/completions`` with ``echo`` and ``logprobs``.

        As lm-eval's ``local-completions`` does: the prompt is context + continuation, echoed
        with per-token log-probabilities; the continuation's tokens are those whose text offset
        falls inside it (a token that straddles the boundary fails as ``token_boundary``).
        """
        body = {
            "model": self.model,
            "prompt": context + continuation,
            "max_tokens": 1,  # 0 means "no limit" to some servers (llama.cpp)
            "temperature": 0.0,
            "logprobs": 1,
            "echo": True,
        }
        t0 = time.perf_counter()
        try:
            with self._http.stream("POST", f"{self.base_url}/completions", json=body) as resp:
                raw = self._read(resp.iter_bytes(), t0)
                status = resp.status_code
        except _Abort as exc:
            return Scored(None, exc.reason, _ms(t0))
        except httpx.TimeoutException:
            return Scored(None, "timeout", _ms(t0))
        except httpx.HTTPError:
            return Scored(None, "connect_error", _ms(t0))
        if status >= 400:
            return Scored(None, _http_reason(status, raw), _ms(t0))
        return _scored(raw, len(context), len(context) + len(continuation), _ms(t0))

    def _read(self, chunks: Iterator[bytes], t0: float) -> bytes:
        buf = bytearray()
        for chunk in chunks:
            buf += chunk
            if len(buf) > self.max_bytes:
                raise _Abort("too_large")
            if time.perf_counter() - t0 > self.max_seconds:
                raise _Abort("stream_timeout")
        return bytes(buf)

    def _fail(self, reason: str, t0: float) -> Reply:
        return Reply("", reason, (time.perf_counter() - t0) * 1000)

    def _whole(self, raw: bytes, t0: float) -> Reply:
        latency = (time.perf_counter() - t0) * 1000
        try:
            doc = json.loads(raw)
            choice = doc["choices"][0]
            text = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            return Reply("", "malformed", latency)
        if text is None:
            text = ""
        if not isinstance(text, str):
            return Reply("", "malformed", latency)
        usage = doc.get("usage") if isinstance(doc, dict) else None
        pt, ct = _usage(usage)
        return Reply(text, None, latency, None, pt, ct)

    def _streamed(
        self,
        lines: Iterable[str],
        t0: float,
        settled: Settled | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Reply:
        parts: list[str] = []
        ttft: float | None = None
        size = 0
        pieces = 0
        pt = ct = None
        done = False
        for line in lines:
            size += len(line) + 1
            if size > self.max_bytes:
                raise _Abort("too_large")
            if time.perf_counter() - t0 > self.max_seconds:
                raise _Abort("stream_timeout")
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            try:
                doc = json.loads(data)
                if doc.get("usage"):
                    pt, ct = _usage(doc["usage"])
                if not doc.get("choices"):
                    continue
                delta = doc["choices"][0].get("delta") or {}
                piece = delta.get("content") or ""
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                raise _Abort("malformed") from None
            if not isinstance(piece, str):
                raise _Abort("malformed")
            if piece:
                if ttft is None:
                    ttft = (time.perf_counter() - t0) * 1000
                parts.append(piece)
                pieces += 1
                if on_text is not None:
                    on_text(piece)
                if settled is not None and settled("".join(parts)):
                    # leaving the ``with`` closes the connection: the server stops decoding
                    latency = (time.perf_counter() - t0) * 1000
                    text = "".join(parts)
                    return Reply(text, None, latency, ttft, pt, pieces, stopped_early=True)
        latency = (time.perf_counter() - t0) * 1000
        if not done and not parts:
            return Reply("", "malformed", latency)
        # Servers that send no usage in a stream: one content chunk is one token (llama.cpp,
        # vLLM and OpenAI stream token by token).
        return Reply("".join(parts), None, latency, ttft, pt, ct if ct is not None else pieces)


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def _scored(raw: bytes, start: int, end: int, latency: float) -> Scored:
    try:
        lp = json.loads(raw)["choices"][0]["logprobs"]
        offsets, values = lp["text_offset"], lp["token_logprobs"]
        tops = lp.get("top_logprobs") or [None] * len(values)
        picked = [i for i, off in enumerate(offsets) if start <= off < end]
        if not picked:
            return Scored(None, "malformed", latency)
        if picked[0] > 0 and offsets[picked[0]] != start:
            return Scored(None, "token_boundary", latency)
        total = 0.0
        greedy = True
        for i in picked:
            value = values[i]
            if not isinstance(value, (int, float)):
                return Scored(None, "malformed", latency)
            total += float(value)
            top = tops[i]
            if isinstance(top, dict) and top and value < max(top.values()):
                greedy = False
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return Scored(None, "malformed", latency)
    return Scored(total, None, latency, greedy)


def _usage(usage: Any) -> tuple[int | None, int | None]:
    if not isinstance(usage, dict):
        return None, None
    pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return (pt if isinstance(pt, int) else None, ct if isinstance(ct, int) else None)


def _http_reason(status: int, raw: bytes) -> str:
    text = raw[:4000].decode("utf-8", "replace")
    if status in (400, 413, 422) and _TOKEN_LIMIT.search(text):
        return "token_limit"
    return f"http_{status}"
