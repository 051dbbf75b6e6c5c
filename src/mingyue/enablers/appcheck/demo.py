"""Demo data for appcheck: two scans of the shared corpus for ent2, one accepted and signed.

Uses ``$MINGYUE_APPCHECK_DEMO_APKS`` or the checkout's ``../shared/data/apks``; seeds nothing when
neither exists (the demo then simply shows an empty scan list).
"""

from __future__ import annotations

import os
from pathlib import Path

from mingyue.sdk import (
    SYSTEM,
    Actor,
    Settings,
    actor_of_user,
    run_job_now,
    transition,
    unit_of_work,
)

from . import service

DEMO_FILES = ("jpush__hbuilder-hello.apk", "bugly__upgrade-demo.apk")


def _apk_dir() -> Path | None:
    env = os.environ.get("MINGYUE_APPCHECK_DEMO_APKS")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[4].parent / "shared" / "data" / "apks")
    return next((c for c in candidates if c.is_dir()), None)


def _actor(settings: Settings, username: str) -> Actor:
    """Return the demo user's actor, or the system actor when the demo has no such user."""
    with unit_of_work(SYSTEM, settings) as uow:
        return actor_of_user(uow=uow, username=username) or SYSTEM


def seed(settings: Settings, org_ids: dict[str, int]) -> None:
    """Submit and scan two corpus APKs for ent2; accept (sign) the first report."""
    d = _apk_dir()
    if d is None:
        return
    files = [d / f for f in DEMO_FILES if (d / f).is_file()]
    if not files:
        return
    submitter, reviewer = _actor(settings, "ent2_member"), _actor(settings, "op_member")
    job_ids: list[int] = []
    with unit_of_work(submitter, settings) as uow:
        for i, apk in enumerate(files):
            out = service.submit_scan(
                uow=uow,
                actor=submitter,
                data=apk.read_bytes(),
                filename=apk.name,
                app_type="news" if i == 0 else None,
                organization_id=org_ids["ent2"],
            )
            if out.job_id is not None:
                job_ids.append(out.job_id)
    for job_id in job_ids:
        run_job_now(settings, job_id)
    with unit_of_work(reviewer, settings) as uow:
        scans = service.list_scans(uow=uow, actor=reviewer)
        first = min(
            (s for s in scans if s.case_id and s.organization_id == org_ids["ent2"]),
            key=lambda s: s.id,
            default=None,
        )
        if first is not None and first.case_id is not None:
            transition(uow=uow, actor=reviewer, case_id=first.case_id, name="accept")
