"""Demo data for appcheck: two scans of the shared corpus for ent2, one accepted and signed.

Uses ``$MINGYUE_APPCHECK_DEMO_APKS`` or the checkout's ``../shared/data/apks``; seeds nothing when
neither exists (the demo then simply shows an empty scan list).
"""

from __future__ import annotations

import os
from pathlib import Path

from mingyue.core.config import Settings
from mingyue.core.tenancy.access import SYSTEM

DEMO_FILES = ("jpush__hbuilder-hello.apk", "bugly__upgrade-demo.apk")


def _apk_dir() -> Path | None:
    env = os.environ.get("MINGYUE_APPCHECK_DEMO_APKS")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[4].parent / "shared" / "data" / "apks")
    return next((c for c in candidates if c.is_dir()), None)


def seed(settings: Settings, org_ids: dict[str, int]) -> None:
    """Submit and scan two corpus APKs for ent2; accept (sign) the first report."""
    from mingyue.core.cases import service as case_service
    from mingyue.core.jobs.execution import run_job_now
    from mingyue.core.uow import unit_of_work

    from . import service

    d = _apk_dir()
    if d is None:
        return
    files = [d / f for f in DEMO_FILES if (d / f).is_file()]
    if not files:
        return
    job_ids: list[int] = []
    with unit_of_work(SYSTEM, settings) as uow:
        for i, apk in enumerate(files):
            out = service.submit_scan(
                uow=uow,
                actor=SYSTEM,
                data=apk.read_bytes(),
                filename=apk.name,
                app_type="news" if i == 0 else None,
                organization_id=org_ids["ent2"],
            )
            if out.job_id is not None:
                job_ids.append(out.job_id)
    for job_id in job_ids:
        run_job_now(settings, job_id)
    with unit_of_work(SYSTEM, settings) as uow:
        scans = service.list_scans(uow=uow, actor=SYSTEM)
        first = min((s for s in scans if s.case_id), key=lambda s: s.id, default=None)
        if first is not None and first.case_id is not None:
            case_service.transition(uow=uow, actor=SYSTEM, case_id=first.case_id, name="accept")
