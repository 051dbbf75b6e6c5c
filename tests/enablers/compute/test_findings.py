"""compute feeds the core findings register: a job that breaks its enforced limit raises
``compute.policy_violation`` on that limit (once, counted again after), visible to the
organization and its regulator only; re-verification reads the job records (after asking the
engines about unfinished jobs): no breach since the finding was last seen makes it fixed."""

from __future__ import annotations

import time
from typing import Any

import pytest

from mingyue.core.errors import NotFound
from mingyue.core.uow import unit_of_work
from mingyue.enablers.compute import service
from mingyue.enablers.compute.breaches import breach_of
from mingyue.sdk import list_findings, request_reverification

from .helpers import add_pool, wait_done

SLOW = {"command": "sleep 30", "max_runtime_s": 2}


def _submit(settings: Any, actor: Any, spec: dict[str, Any]) -> int:
    with unit_of_work(actor, settings) as uow:
        return service.submit_job(uow=uow, spec=spec).job_id


def _findings(settings: Any, actor: Any) -> list[Any]:
    with unit_of_work(actor, settings) as uow:
        return list_findings(uow=uow, actor=actor, enabler="compute")


def test_breach_of_reads_the_recorded_reasons() -> None:
    assert breach_of("time limit reached (2 s)") == "runtime_limit"
    assert breach_of("Ray: FAILED (time limit reached)") == "runtime_limit"
    assert breach_of("Slurm: TIMEOUT") == "runtime_limit"
    assert breach_of("CPU time limit reached (SIGXCPU)") == "cpu_limit"
    assert breach_of("Slurm: OUT_OF_MEMORY") == "memory_limit"
    for other in (None, "exit code 1", "killed inside the engine: Slurm: TIMEOUT", "lost"):
        assert breach_of(other) is None


def test_time_limit_breach_raises_and_verifies_from_records(
    settings: Any, tenants: Any, actor_of: Any
) -> None:
    add_pool(settings, "local-a", cpus=2)
    member = actor_of(tenants.a.member)
    with unit_of_work(member, settings) as uow:
        (pool,) = service.list_pools(uow=uow)
    if not pool.isolated:
        pytest.skip(f"no job isolation here, tenants' jobs are refused: {pool.isolation}")
    first = wait_done(settings, _submit(settings, member, SLOW))
    assert first.state == "failed" and first.reason == "time limit reached (2 s)"
    # a job that ends on its own raises nothing
    assert wait_done(settings, _submit(settings, member, {"command": "true"})).state == "succeeded"
    (finding,) = _findings(settings, member)
    assert finding.rule == "compute.policy_violation" and finding.subject == "runtime_limit"
    assert finding.organization_id == tenants.a.org.id and finding.severity == "low"
    (ev,) = finding.evidence
    assert ev.kind == "compute.job" and ev.ref == str(first.job_id)
    assert ev.path == f"/compute/jobs/{first.job_id}"
    assert finding.detail["reason"] == "time limit reached (2 s)"
    second = wait_done(settings, _submit(settings, member, SLOW))
    (again,) = _findings(settings, member)
    assert again.id == finding.id and again.occurrences == 2
    assert [e.ref for e in again.evidence] == [str(first.job_id), str(second.job_id)]
    # the regulator sees it; another enterprise does not, nor may it ask to re-verify it
    assert [f.id for f in _findings(settings, actor_of(tenants.regulator.member))] == [again.id]
    other = actor_of(tenants.b.admin)
    assert _findings(settings, other) == []
    with pytest.raises(NotFound), unit_of_work(other, settings) as uow:
        request_reverification(uow=uow, actor=other, finding_id=again.id, evidence=[])
    # no breach since: fixed
    admin = actor_of(tenants.a.admin)
    with unit_of_work(admin, settings) as uow:
        request_reverification(uow=uow, actor=admin, finding_id=again.id, evidence=[])
    (fixed,) = _findings(settings, member)
    assert fixed.status == "fixed" and fixed.verification["state"] == "fixed"
    # a job that broke its limit but was not reconciled yet: the check asks the engine first
    third = _submit(settings, member, SLOW)
    time.sleep(4)
    with unit_of_work(admin, settings) as uow:
        request_reverification(uow=uow, actor=admin, finding_id=again.id, evidence=[])
    (present,) = _findings(settings, member)
    assert present.verification["state"] == "still_present"
    assert present.status == "open" and present.occurrences == 3
    assert str(third) in [e.ref for e in present.evidence]
