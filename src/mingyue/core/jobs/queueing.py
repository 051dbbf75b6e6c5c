"""Redis mode, producer side: the queue's keys and the push of a job id once its row commits.

Kept apart from the worker (``redis_queue``) so that enqueueing needs neither the executor nor
the job table's module to know about Redis workers.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import redis
from sqlalchemy import event
from sqlalchemy.orm import Session

from mingyue.core.config import Settings

log = logging.getLogger(__name__)


def prefix(settings: Settings) -> str:
    """Return the Redis key prefix of this deployment's job queue."""
    explicit = getattr(settings, "job_queue_prefix", None)
    if explicit:
        return str(explicit)
    digest = hashlib.sha256(settings.sqlalchemy_url.encode()).hexdigest()[:12]
    return f"mingyue:jobs:{digest}"


def queue_key(settings: Settings) -> str:
    """Return the Redis list that holds queued job ids."""
    return f"{prefix(settings)}:queue"


@lru_cache(maxsize=8)
def client(url: str) -> redis.Redis:
    """Return a (shared, thread-safe) Redis client for the URL."""
    return redis.Redis.from_url(
        url, decode_responses=True, socket_connect_timeout=5, health_check_interval=30
    )


def push_ids(items: Iterable[tuple[str, str, int]]) -> None:
    """Push (redis_url, key, job_id) onto their queues; a failure is left to the reaper."""
    for url, key, job_id in items:
        try:
            client(url).lpush(key, str(job_id))
        except redis.RedisError:
            # The job row is committed as queued; a worker's reaper re-pushes orphans.
            log.warning("could not push job %s to Redis %s", job_id, key, exc_info=True)


def queue_key_of(settings: Settings) -> str:
    """Return the queue key of the deployment these settings describe."""
    return queue_key(settings)


def push_after_commit(session: Session, redis_url: str, key: str, job_id: int) -> None:
    """Push the job id onto the Redis queue once (and only if) the session commits."""
    pending: list[tuple[str, str, int]] = session.info.setdefault("jobs_to_push", [])
    if not session.info.get("jobs_push_hooked"):
        session.info["jobs_push_hooked"] = True
        event.listen(session, "after_commit", _push_pending)
        event.listen(session, "after_soft_rollback", _drop_pending)
    pending.append((redis_url, key, job_id))


def _push_pending(session: Session) -> None:
    items = session.info.pop("jobs_to_push", [])
    if items:
        push_ids(items)


def _drop_pending(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the outermost transaction rolled back
        session.info.pop("jobs_to_push", None)
