"""Redis mode: the job queue list, and ``mingyue worker`` processes that run jobs from it.

Keys live under one prefix per database (a hash of its URL, unless ``job_queue_prefix`` is set),
so several deployments or test runs can share one Redis without taking each other's jobs:
``<prefix>:queue`` (job ids, LPUSH in / BLMOVE out), ``<prefix>:processing:<worker>`` (what a worker
holds), ``<prefix>:worker:<worker>`` (a key with a TTL; absent means the worker is dead).

A job whose organization already runs its limit of jobs (``max_running_per_org``) is not claimed:
the worker puts it back at the end of the queue, so the jobs of other tenants behind it run first.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from datetime import timedelta
from typing import Any

import redis
from sqlalchemy import select

from mingyue.core.config import Settings
from mingyue.core.db import system_session, utcnow
from mingyue.core.jobs.execution import is_waiting, new_worker_id, reap, run_job
from mingyue.core.jobs.models import Job, _load_registry
from mingyue.core.jobs.queueing import client, prefix, queue_key
from mingyue.core.ledger import audit

log = logging.getLogger(__name__)


def requeue_orphans(settings: Settings, r: redis.Redis) -> list[int]:
    """Re-push queued jobs that sat unclaimed past the heartbeat timeout and are not queued."""
    cutoff = utcnow() - timedelta(seconds=settings.job_heartbeat_timeout_s)
    with system_session(settings, "jobs: orphan scan") as s:
        ids = list(
            s.scalars(
                select(Job.id)
                .where(Job.status == "queued", Job.queued_at < cutoff)
                .order_by(Job.id)
                .limit(1000)
            )
        )
    if not ids:
        return []
    present = set(r.lrange(queue_key(settings), 0, -1))
    orphans = [i for i in ids if str(i) not in present]
    for i in orphans:
        # RPUSH: the consumer takes from the right, so an orphan runs next.
        r.rpush(queue_key(settings), str(i))
    return orphans


def drop_dead_processing(settings: Settings, r: redis.Redis) -> list[str]:
    """Delete processing lists of workers whose liveness key expired; return their ids."""
    p = prefix(settings)
    dead: list[str] = []
    for key in r.scan_iter(match=f"{p}:processing:*", count=100):
        worker = str(key)[len(f"{p}:processing:") :]
        if not r.exists(f"{p}:worker:{worker}"):
            r.delete(key)
            dead.append(worker)
    return dead


class RedisWorker:
    """A worker process's loop: BLMOVE a job id, run it, drop it; reap periodically."""

    def __init__(
        self, settings: Settings, *, worker_id: str | None = None, poll_timeout_s: int = 1
    ) -> None:
        if not settings.redis_url:
            raise ValueError("RedisWorker needs settings.redis_url")
        _load_registry()
        self.settings = settings
        self.worker_id = worker_id or new_worker_id("worker")
        self.poll_timeout_s = poll_timeout_s
        self.redis = client(settings.redis_url)
        p = prefix(settings)
        self.processing_key = f"{p}:processing:{self.worker_id}"
        self.alive_key = f"{p}:worker:{self.worker_id}"
        self.stop_event = threading.Event()
        self.processed = 0

    def _ttl(self) -> int:
        return max(2, self.settings.job_heartbeat_timeout_s)

    def _keepalive(self) -> None:
        while not self.stop_event.wait(self._ttl() / 3):
            try:
                self.redis.set(self.alive_key, str(time.time()), ex=self._ttl())
            except redis.RedisError:
                log.warning("worker %s: keepalive failed", self.worker_id, exc_info=True)

    def reap_once(self) -> dict[str, Any]:
        """Run the reaper: database heartbeats, orphaned queue entries, dead workers' lists."""
        reaped = reap(self.settings)
        orphans = requeue_orphans(self.settings, self.redis)
        dead = drop_dead_processing(self.settings, self.redis)
        return {"reaped": [j.id for j in reaped], "orphans": orphans, "dead_workers": dead}

    def _put_back(self, job_id: int, seen: set[int]) -> None:
        # LPUSH: the consumer takes from the right, so the job goes behind everything queued.
        self.redis.lpush(queue_key(self.settings), str(job_id))
        if job_id in seen:
            # A full turn of the queue found nothing claimable: wait for a job to end.
            seen.clear()
            self.stop_event.wait(min(1.0, self.poll_timeout_s))
        seen.add(job_id)

    def run(self, max_jobs: int | None = None, *, until_empty: bool = False) -> int:
        """Process jobs until stopped, ``max_jobs`` ran or (``until_empty``) the queue is empty."""
        self.redis.set(self.alive_key, str(time.time()), ex=self._ttl())
        keeper = threading.Thread(target=self._keepalive, name="worker-keepalive", daemon=True)
        keeper.start()
        reap_every = max(0.5, self.settings.job_heartbeat_timeout_s / 2)
        next_reap = next_head = 0.0
        put_back: set[int] = set()
        try:
            while not self.stop_event.is_set():
                if max_jobs is not None and self.processed >= max_jobs:
                    break
                if time.monotonic() >= next_reap:
                    try:
                        self.reap_once()
                    except Exception:
                        log.exception("worker %s: reaper failed", self.worker_id)
                    next_reap = time.monotonic() + reap_every
                if time.monotonic() >= next_head:
                    audit.seal_head(self.settings)  # a head at least every HEAD_INTERVAL_S
                    next_head = time.monotonic() + 5.0
                try:
                    raw = self.redis.blmove(
                        queue_key(self.settings),
                        self.processing_key,
                        self.poll_timeout_s,
                        "RIGHT",
                        "LEFT",
                    )
                except redis.RedisError:
                    # Redis restarting or unreachable: wait and retry rather than exit.
                    log.warning("worker %s: Redis unavailable", self.worker_id, exc_info=True)
                    self.stop_event.wait(2)
                    continue
                if raw is None:
                    if until_empty:
                        break
                    continue
                try:
                    job_id = int(str(raw))
                    if run_job(self.settings, job_id, self.worker_id) is not None:
                        self.processed += 1
                        put_back.clear()
                    elif is_waiting(self.settings, job_id):
                        self._put_back(job_id, put_back)  # its organization is at its limit
                except Exception:
                    # A bad entry is dropped; a claimed job left running is the reaper's.
                    log.exception("worker %s: queue entry %r failed", self.worker_id, raw)
                finally:
                    with contextlib.suppress(redis.RedisError):
                        self.redis.lrem(self.processing_key, 1, str(raw))
        finally:
            self.stop_event.set()
            keeper.join(1)
            with contextlib.suppress(redis.RedisError):
                self.redis.delete(self.alive_key)
        return self.processed

    def stop(self) -> None:
        """Stop after the current job."""
        self.stop_event.set()
