"""What the runner needs of a model endpoint: one chat call that never raises for the endpoint's
own failures (they come back as a Reply with ``error``), and a cache of replies.

An endpoint that streams may also offer ``chat_until``: it stops reading the reply (and so the
server's decoding: llama.cpp's and vLLM's servers stop a stream whose client hung up) once the
caller's ``settled`` test says the rest of the reply cannot change its score.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

Messages = Sequence[Mapping[str, str]]
Settled = Callable[[str], bool]


@dataclass(frozen=True)
class Reply:
    """One answer of the endpoint, or the reason it has none."""

    text: str
    error: str | None = None  # timeout | http_<status> | malformed | too_long | token_limit | …
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached: bool = False
    stopped_early: bool = False  # the reader stopped once the reply's score was settled

    @property
    def ok(self) -> bool:
        """Say whether the request succeeded."""
        return self.error is None


class ModelClient(Protocol):
    """A chat model: an OpenAI-compatible endpoint, a local server, an in-process model."""

    model: str

    def chat(
        self, messages: Messages, *, max_tokens: int, temperature: float = 0.0, stream: bool = False
    ) -> Reply:
        """Answer the conversation; endpoint failures return a Reply with ``error`` set."""
        ...


@dataclass(frozen=True)
class Scored:
    """The log-probability of a continuation after a context, or the reason there is none."""

    logprob: float | None
    error: str | None = None
    latency_ms: float = 0.0
    greedy: bool | None = None  # every continuation token was the most likely one

    @property
    def ok(self) -> bool:
        """Say whether the request succeeded."""
        return self.error is None


@runtime_checkable
class LoglikelihoodClient(ModelClient, Protocol):
    """An endpoint that scores a given continuation (``/v1/completions`` with echo + logprobs)."""

    def loglikelihood(self, context: str, continuation: str) -> Scored:
        """Return log P(continuation | context) summed over the continuation's tokens."""
        ...


@runtime_checkable
class StreamingClient(ModelClient, Protocol):
    """A chat model whose reply can be cut short once the part read settles its score."""

    def chat_until(
        self, messages: Messages, *, max_tokens: int, settled: Settled, temperature: float = 0.0
    ) -> Reply:
        """Stream the answer; stop reading once ``settled(text so far)`` holds."""
        ...


class ReplyCache(Protocol):
    """Successful replies by request key (model + messages + decoding parameters)."""

    def get(self, key: str) -> Reply | None:
        """Return the cached reply, or None."""
        ...

    def put(self, key: str, reply: Reply) -> None:
        """Store a successful reply."""
        ...


def request_key(
    model: str,
    messages: Messages,
    *,
    max_tokens: int,
    temperature: float,
    until: str | None = None,
) -> str:
    """Return the cache key of a request (a SHA-256 of its canonical JSON).

    ``until`` names the rule a reply was cut short by (a cut reply is not the whole reply, so it
    gets its own key); keys of whole replies are those of earlier versions, so caches stay valid.
    """
    doc: dict[str, object] = {
        "model": model,
        "messages": [dict(m) for m in messages],
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
    if until is not None:
        doc["until"] = until
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class MemoryCache:
    """A reply cache for one process."""

    def __init__(self) -> None:
        self._data: dict[str, Reply] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Reply | None:
        """Return the cached reply, or None."""
        with self._lock:
            return self._data.get(key)

    def put(self, key: str, reply: Reply) -> None:
        """Store a successful reply."""
        if reply.ok:
            with self._lock:
                self._data[key] = reply
