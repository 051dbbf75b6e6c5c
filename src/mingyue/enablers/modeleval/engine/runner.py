"""One evaluation run over four dimensions: generality, efficiency, robustness, safety.

Every request goes through one thread pool of ``concurrency`` workers, identical requests are
asked once (a perturbation that leaves a prompt as it was waits for the request already in
flight) and successful replies come from the cache when a previous run asked the same. A request
that fails (timeout, HTTP error, malformed reply, token limit) is recorded with its reason and
scored wrong; the run goes on.

A multiple-choice reply is read as a stream and cut short once the option it picks can no longer
change (``letter_settled``): the tokens after "Answer: B." are never decoded, and the score is the
one the whole reply would get.

The run's configuration lives in ``config``, the per-request trace and the dimensions' sums in
``scorecard``, the speed and cost measurements in ``efficiency``, the cut rule in ``settle``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from mingyue.enablers.modeleval.engine import efficiency as eff
from mingyue.enablers.modeleval.engine import perturb as pert
from mingyue.enablers.modeleval.engine import scorecard as sc
from mingyue.enablers.modeleval.engine.client import (
    LoglikelihoodClient,
    MemoryCache,
    ModelClient,
    Reply,
    ReplyCache,
    Scored,
    StreamingClient,
    request_key,
)
from mingyue.enablers.modeleval.engine.config import Progress, RunConfig
from mingyue.enablers.modeleval.engine.items import Item, Probe
from mingyue.enablers.modeleval.engine.refusal import Judge, model_judge, refuses
from mingyue.enablers.modeleval.engine.sandbox import run_python
from mingyue.enablers.modeleval.engine.scorecard import Record
from mingyue.enablers.modeleval.engine.scoring import (
    LETTERS,
    code_program,
    exact_correct,
    extract_letter,
    prompt_for,
)
from mingyue.enablers.modeleval.engine.settle import letter_settled, settler

__all__ = ["Progress", "Record", "RunConfig", "Runner", "letter_settled", "model_judge"]


class Runner:
    """Ask a model every item and probe, score them, and measure its speed."""

    def __init__(
        self,
        client: ModelClient,
        config: RunConfig | None = None,
        *,
        cache: ReplyCache | None = None,
        judge: Judge | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.client = client
        self.config = config or RunConfig()
        self.cache: ReplyCache = cache if cache is not None else MemoryCache()
        self.judge = judge
        self.progress = progress
        self.tokens = {"prompt": 0, "completion": 0}
        self.latencies: list[float] = []
        self._in_flight: dict[str, Future[Reply]] = {}
        self._flight_lock = threading.Lock()

    def ask(self, prompt: str, max_tokens: int, *, choices: int | None = None) -> Reply:
        """Send one user message (from the cache when asked before); failures are replies.

        ``choices``: the prompt is a multiple-choice question with that many options, so the reply
        may be cut once its option is settled (when the client streams and the config allows).
        """
        messages = [{"role": "user", "content": prompt}]
        scope = str(getattr(self.client, "cache_scope", self.client.model))
        cut = (
            choices is not None
            and self.config.early_stop
            and isinstance(self.client, StreamingClient)
        )
        until = f"choice-letter/{choices}" if cut else None
        key = request_key(scope, messages, max_tokens=max_tokens, temperature=0.0, until=until)
        hit = self.cache.get(key)
        if hit is not None:
            return _as_cached(hit)
        with self._flight_lock:
            pending = self._in_flight.get(key)
            if pending is None:
                mine: Future[Reply] = Future()
                self._in_flight[key] = mine
        if pending is not None:  # the same request is being asked: share its answer
            reply = pending.result()
            return _as_cached(reply) if reply.ok else reply
        try:
            if cut and choices is not None and isinstance(self.client, StreamingClient):
                reply = self.client.chat_until(
                    messages, max_tokens=max_tokens, settled=settler(choices), temperature=0.0
                )
            else:
                reply = self.client.chat(messages, max_tokens=max_tokens, temperature=0.0)
            if reply.ok:
                self.cache.put(key, reply)
            with self._flight_lock:
                if reply.ok:
                    self.latencies.append(reply.latency_ms)
                self.tokens["prompt"] += reply.prompt_tokens or 0
                self.tokens["completion"] += reply.completion_tokens or 0
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        finally:
            with self._flight_lock:
                del self._in_flight[key]
        mine.set_result(reply)
        return reply

    def loglikelihood(self, client: LoglikelihoodClient, context: str, continuation: str) -> Scored:
        """Score a continuation (from the cache when scored before); failures are results."""
        scope = str(getattr(client, "cache_scope", client.model))
        messages = [
            {"role": "context", "content": context},
            {"role": "next", "content": continuation},
        ]
        key = request_key(scope, messages, max_tokens=0, temperature=0.0, until="loglikelihood")
        hit = self.cache.get(key)
        if hit is not None:
            doc = json.loads(hit.text)
            return Scored(doc["logprob"], None, hit.latency_ms, doc["greedy"])
        scored = client.loglikelihood(context, continuation)
        if scored.ok:
            text = json.dumps({"logprob": scored.logprob, "greedy": scored.greedy})
            self.cache.put(key, Reply(text, None, scored.latency_ms))
        return scored

    def _score_choice_ll(self, client: LoglikelihoodClient, item: Item, dimension: str) -> Record:
        prompt = prompt_for(item)
        results = [
            self.loglikelihood(client, prompt, f" {LETTERS[i]}") for i in range(len(item.choices))
        ]
        failed = next((r for r in results if not r.ok), None)
        latency = round(sum(r.latency_ms for r in results), 1)
        extra: dict[str, Any] = {"scoring": "loglikelihood"}
        if failed is not None:
            return Record(
                dimension, item.id, item.kind, _sha(prompt), "", 0.0, failed.error, latency, extra
            )
        logprobs = [r.logprob if r.logprob is not None else float("-inf") for r in results]
        picked = max(range(len(logprobs)), key=logprobs.__getitem__)
        extra["picked"] = item.choices[picked]
        extra["logprobs"] = [round(v, 4) for v in logprobs]
        score = float(picked == item.answer_index)
        return Record(
            dimension,
            item.id,
            item.kind,
            _sha(prompt),
            LETTERS[picked],
            score,
            None,
            latency,
            extra,
        )

    def _budget(self, item: Item) -> int:
        c = self.config
        return {"choice": c.choice_max_tokens, "exact": c.exact_max_tokens}.get(
            item.kind, c.code_max_tokens
        )

    def score_item(self, item: Item, dimension: str) -> Record:
        """Ask and score one generality (or perturbed) item."""
        if (
            item.kind == "choice"
            and self.config.scoring == "loglikelihood"
            and isinstance(self.client, LoglikelihoodClient)
        ):
            return self._score_choice_ll(self.client, item, dimension)
        prompt = prompt_for(item)
        choices = len(item.choices) if item.kind == "choice" else None
        reply = self.ask(prompt, self._budget(item), choices=choices)
        extra: dict[str, Any] = {"cached": reply.cached}
        if reply.stopped_early:
            extra["stopped_early"] = True
        score = 0.0
        if reply.ok:
            if item.kind == "choice":
                picked = extract_letter(reply.text, len(item.choices))
                extra["picked"] = None if picked is None else item.choices[picked]
                score = float(picked == item.answer_index)
            elif item.kind == "exact":
                score = float(exact_correct(reply.text, item.answer_text or ""))
            else:
                result = run_python(code_program(item, reply.text), self.config.sandbox)
                extra["sandbox"] = result.reason
                score = float(result.passed)
        return Record(
            dimension,
            item.id,
            item.kind,
            _sha(prompt),
            reply.text,
            score,
            reply.error,
            round(reply.latency_ms, 1),
            extra,
        )

    def score_probe(self, probe: Probe) -> Record:
        """Ask one safety probe and judge whether the reply refuses."""
        reply = self.ask(probe.prompt, self.config.probe_max_tokens)
        refused = refuses(probe.prompt, reply.text, self.judge) if reply.ok else None
        # score: 1 when the model did the right thing (refused harmful, answered benign)
        score = None if refused is None else float(refused == probe.harmful)
        return Record(
            "safety",
            probe.id,
            "probe",
            _sha(probe.prompt),
            reply.text,
            score,
            reply.error,
            round(reply.latency_ms, 1),
            {
                "category": probe.category,
                "harmful": probe.harmful,
                "refused": refused,
                "cached": reply.cached,
            },
        )

    def run(self, items: Sequence[Item], probes: Sequence[Probe]) -> dict[str, Any]:
        """Run all four dimensions; return the scorecard with its per-item records."""
        variants = [
            pert.perturb(item, kind)
            for item in items
            for kind in pert.applicable(item)
            if self.config.robustness and kind in self.config.perturbations
        ]
        jobs: list[tuple[str, Item | Probe]] = [("generality", i) for i in items]
        jobs += [("robustness", v) for v in variants]
        jobs += [("safety", p) for p in probes]
        total, done = len(jobs), 0
        records: list[Record] = []
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, self.config.concurrency)) as pool:
            futures = [
                pool.submit(self.score_probe, obj)
                if isinstance(obj, Probe)
                else pool.submit(self.score_item, obj, dim)
                for dim, obj in jobs
            ]
            for fut in futures:
                records.append(fut.result())
                done += 1
                if self.progress:
                    self.progress(done, total, records[-1].dimension)
        eval_seconds = time.perf_counter() - started
        card: dict[str, Any] = {"model": self.client.model}
        card["generality"] = sc.generality(records)
        card["robustness"] = sc.robustness(records, card["generality"]["accuracy"])
        card["safety"] = sc.safety(records)
        card["efficiency"] = self.efficiency()
        card["run"] = {
            "requests": total,
            "seconds": round(eval_seconds, 2),
            "items_per_s": round(total / eval_seconds, 2) if eval_seconds else None,
            "cached": sum(1 for r in records if r.extra.get("cached")),
            "scoring": "loglikelihood"
            if any(r.extra.get("scoring") == "loglikelihood" for r in records)
            else "generate",
            "tokens": dict(self.tokens),
        }
        card["records"] = [r.__dict__ for r in records]
        return card

    def efficiency(self) -> dict[str, Any]:
        """Measure TTFT, latency and tokens/s by streaming at each concurrency level."""
        return eff.measure(self.client, self.config, self.tokens)


def _as_cached(reply: Reply) -> Reply:
    return Reply(
        reply.text,
        None,
        reply.latency_ms,
        reply.ttft_ms,
        reply.prompt_tokens,
        reply.completion_tokens,
        cached=True,
        stopped_early=reply.stopped_early,
    )


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
