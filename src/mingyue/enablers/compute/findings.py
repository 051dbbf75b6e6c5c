"""Re-verification of compute findings from the enabler's own job records.

The organization's unfinished jobs are first brought up to date with their engines (a job that
broke its limit a moment ago is recorded now, and raised as usual); then any job of the
organization that broke the same limit after the finding was last seen keeps it present (counted
as seen again, so that the next check starts from there), and none makes it fixed.
"""

from __future__ import annotations

from sqlalchemy import select

from mingyue.sdk import (
    EvidenceRef,
    FindingOut,
    FindingVerifier,
    UnitOfWork,
    observe_subject,
    raise_finding,
)

from .breaches import POLICY_VIOLATION, breach_of, job_evidence
from .models import ComputeJob
from .service.pools import OPEN
from .service.reconcile import reconcile_jobs


def reverify(*, uow: UnitOfWork, finding: FindingOut, evidence: list[EvidenceRef]) -> None:
    """Check the organization's jobs: a breach of the limit since last seen keeps the finding."""
    org = finding.organization_id
    since = finding.last_seen
    open_jobs = uow.session.scalars(
        select(ComputeJob).where(ComputeJob.organization_id == org, ComputeJob.state.in_(OPEN))
    ).all()
    before = {j.id: j.state for j in open_jobs}
    reconcile_jobs(uow, open_jobs)
    ended = uow.session.scalars(
        select(ComputeJob)
        .where(ComputeJob.organization_id == org, ComputeJob.state == "failed")
        .order_by(ComputeJob.id)
    ).all()
    again = [
        j
        for j in ended
        if breach_of(j.reason) == finding.subject
        and ((j.ended_at is not None and j.ended_at > since) or before.get(j.id) in OPEN)
    ]
    if again:
        proof = [job_evidence(j) for j in again[-5:]]
        if not any(before.get(j.id) in OPEN for j in again):  # reconcile raised the new ones
            raise_finding(
                uow=uow,
                organization_id=org,
                rule=POLICY_VIOLATION,
                subject=finding.subject,
                evidence=proof,
            )
    else:
        proof = [
            EvidenceRef(
                kind="compute.job_log",
                ref=f"{finding.subject}@{since.isoformat()}"[:200],
                label=f"自 {since.isoformat()} 起无该限额违规 / no {finding.subject} breach "
                f"since {since.isoformat()}"[:200],
            )
        ]
    observe_subject(
        uow=uow,
        organization_id=org,
        enabler="compute",
        subject=finding.subject,
        present_rules=[POLICY_VIOLATION] if again else [],
        evidence=proof,
    )


# The verifier named in the declaration, checked against the sdk's protocol by mypy.
_REVERIFY: FindingVerifier = reverify
