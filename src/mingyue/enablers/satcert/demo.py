"""Demo data for `mingyue demo`: ent1 brings its terminal; the lab tests and certifies it.

The shipped plan ``ntn-terminal-basic`` is published by the lab (op_member, a reviewer), ent1
registers a sample, a bench run on the simulated module (a pty pair) passes, and the lab
approves it: one certificate, one line in the registry. Idempotent.
"""

from __future__ import annotations

from sqlalchemy import select

from mingyue.sdk import SYSTEM, Settings, actor_of_user, run_job_now, unit_of_work

from . import service
from .models import SatcertSample
from .plans import PLANS_DIR
from .schemas import RunIn, SampleIn


def seed(settings: Settings, org_ids: dict[str, int]) -> None:
    """Create the demo once (idempotent)."""
    with unit_of_work(SYSTEM, settings) as uow:
        if uow.session.scalars(select(SatcertSample.id).limit(1)).first() is not None:
            return
        lab = actor_of_user(uow=uow, username="op_member")
        maker = actor_of_user(uow=uow, username="ent1_admin")
    if lab is None or maker is None:
        return
    text = (PLANS_DIR / "ntn-terminal-basic.yaml").read_text(encoding="utf-8")
    with unit_of_work(lab, settings) as uow:
        plan = service.publish_plan(uow=uow, actor=lab, text=text)
    with unit_of_work(maker, settings) as uow:
        sample = service.submit_sample(
            uow=uow,
            actor=maker,
            body=SampleIn(
                manufacturer="Mingyue Lab",
                model="NTN-SIM-1",
                terminal_kind="combo",
                notes="演示样品：卫星物联网终端（含北斗/GPS 接收机）",
            ),
        )
    with unit_of_work(lab, settings) as uow:
        run = service.start_run(
            uow=uow,
            actor=lab,
            body=RunIn(
                sample_id=sample.id, plan_id=plan.id, port="sim", idempotency_key="demo-run-1"
            ),
        )
    if run.job_id is not None:
        run_job_now(settings, run.job_id)
    with unit_of_work(lab, settings) as uow:
        done = service.get_run(uow=uow, actor=lab, run_id=run.id)
        if done.status != "passed":
            return  # the run's page says why; nothing is certified on a failed run
        service.decide(
            uow=uow, actor=lab, sample_id=sample.id, action="submit_review", comment_text=None
        )
        service.decide(
            uow=uow,
            actor=lab,
            sample_id=sample.id,
            action="approve",
            comment_text="演示：检测合格，准予发证",
        )
