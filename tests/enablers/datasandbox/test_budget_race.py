"""The first charges of a budget period, at once (issue 12, item 10): no UniqueViolation.

A select-then-insert let two first charges both insert the period's row; the second failed
with a UniqueViolation and its request stayed ``approved`` forever. The row is upserted now.
Run with MINGYUE_TEST_DB=pg for the real race (SQLite serialises writers at BEGIN IMMEDIATE).
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select

from mingyue.core.uow import unit_of_work
from mingyue.enablers.datasandbox import service
from mingyue.enablers.datasandbox.budget import DbLedger
from mingyue.enablers.datasandbox.models import SandboxBudget, SandboxCharge, SandboxRequest

N = 6


def test_concurrent_first_charges_of_a_period(
    settings: Any, tenants: Any, actor_of: Any, uow_as: Any, demo_files: Any
) -> None:
    owner, bank = actor_of(tenants.a.admin), actor_of(tenants.b.member)
    with uow_as(owner) as uow:
        ds = service.register_dataset(
            uow=uow,
            actor=owner,
            source=demo_files.enterprises,
            name="enterprises",
            identifiers=["uscc"],
            epsilon_per_period=10.0,
            open_to_all=True,
        )
    with uow_as(bank) as uow:
        reqs = [
            SandboxRequest(
                organization_id=bank.organization_id,
                kind="aggregate_sql",
                datasets=["enterprises"],
                status="approved",
            )
            for _ in range(N)
        ]
        uow.session.add_all(reqs)
        uow.flush()
        ids = [r.id for r in reqs]
    barrier = threading.Barrier(N)
    errors: list[BaseException] = []

    def charge(request_id: int) -> None:
        try:
            with unit_of_work(bank, settings) as uow:
                ledger = DbLedger(uow, {"enterprises": ds.id})
                barrier.wait(timeout=30)
                ledger.charge(
                    str(bank.organization_id), "enterprises", "2030-01", 0.5, 10.0, str(request_id)
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=charge, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with uow_as(bank) as uow:
        budget = uow.session.scalars(select(SandboxBudget)).all()
        charges = uow.session.scalars(select(SandboxCharge)).all()
    assert len(budget) == 1 and budget[0].spent == 0.5 * N
    assert sorted(c.request_id for c in charges) == sorted(ids)
