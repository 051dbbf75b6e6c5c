"""A declared ``Schedule`` checked and turned into an APScheduler trigger.

Pure apart from APScheduler's trigger classes: ``problems`` is what ``mingyue dev check`` and
the scheduler report for a bad declaration; ``trigger_of`` builds the trigger the scheduler
stores; ``fingerprint`` tells when a declaration changed (the stored schedule is then replaced).
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from apscheduler.abc import Trigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from mingyue.core.declaration import Schedule

MISFIRE_POLICIES = ("skip", "run_once")
NAME_MAX = 160


def problems(name: str, schedule: Schedule, job_kinds: set[str] | None = None) -> list[str]:
    """Return what is wrong with a declared schedule (empty when it is sound)."""
    out: list[str] = []
    if len(name) > NAME_MAX:
        out.append(f"schedule {name}: name longer than {NAME_MAX} characters")
    if (schedule.cron is None) == (schedule.every_s is None):
        out.append(f"schedule {name}: set exactly one of cron and every_s")
    if schedule.cron is not None:
        try:
            CronTrigger.from_crontab(schedule.cron, timezone="UTC")
        except (ValueError, TypeError) as exc:
            out.append(f"schedule {name}: cron {schedule.cron!r} does not parse: {exc}")
    if schedule.every_s is not None and (
        not isinstance(schedule.every_s, int) or isinstance(schedule.every_s, bool)
    ):
        out.append(f"schedule {name}: every_s must be a whole number of seconds")
    elif schedule.every_s is not None and schedule.every_s < 1:
        out.append(f"schedule {name}: every_s must be at least 1")
    if schedule.misfire not in MISFIRE_POLICIES:
        out.append(f"schedule {name}: misfire must be one of {', '.join(MISFIRE_POLICIES)}")
    if job_kinds is not None and schedule.job_kind not in job_kinds:
        out.append(f"schedule {name}: job kind {schedule.job_kind!r} is not declared")
    try:
        json.dumps(dict(schedule.params))
    except (TypeError, ValueError) as exc:
        out.append(f"schedule {name}: params must be JSON: {exc}")
    return out


def describe(schedule: Schedule) -> str:
    """Return the trigger as people read it: ``cron */15 * * * *`` or ``every 60s``."""
    return f"cron {schedule.cron}" if schedule.cron is not None else f"every {schedule.every_s}s"


def trigger_of(schedule: Schedule, tz: str, now: datetime | None = None) -> Trigger:
    """Build the APScheduler trigger: cron in the platform's zone, or an interval on the epoch grid.

    Interval due times are multiples of ``every_s`` since the epoch, so every scheduler process
    computes the same due times whatever moment it started.
    """
    at_dt = now or datetime.now(UTC)
    if schedule.cron is not None:
        zone = ZoneInfo(tz)
        # The start time must be given in the trigger's zone: APScheduler 4.0.0a6 reads the
        # fields of a UTC start time as local ones and skips a day east of UTC (ADR "scheduler").
        return CronTrigger.from_crontab(
            schedule.cron, timezone=zone, start_time=at_dt.astimezone(zone)
        )
    every = int(schedule.every_s or 0)
    at = at_dt.timestamp()
    start = datetime.fromtimestamp(math.ceil(at / every) * every, UTC)
    return IntervalTrigger(seconds=every, start_time=start)


def fingerprint(schedule: Schedule, tz: str) -> str:
    """Return a digest of what decides the due times and the job (not the description)."""
    doc = {
        "job_kind": schedule.job_kind,
        "cron": schedule.cron,
        "every_s": schedule.every_s,
        "misfire": schedule.misfire,
        "params": dict(schedule.params),
        "tz": tz if schedule.cron is not None else None,
    }
    raw = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]
