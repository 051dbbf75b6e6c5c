"""The reconciler job asks the engines with no database transaction open.

On SQLite a unit of work holds the write lock from its first statement; a pass that called
every engine inside it made every submit wait for the whole pass.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from mingyue.core.db import get_engine
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.uow import unit_of_work
from mingyue.enablers.compute import service
from mingyue.enablers.compute.adapters.local import LocalAdapter

from .helpers import FLAT, add_pool, wait_done


def _write_lock_free(settings: Any) -> bool | None:
    """Tell whether another connection could start writing now (None: not SQLite)."""
    url = get_engine(settings).url
    if url.get_backend_name() != "sqlite":
        return None
    con = sqlite3.connect(str(url.database), timeout=0, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        con.close()


def test_engines_are_polled_outside_the_transaction(
    settings: Any, tenants: Any, actor_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_pool(settings, "local-a", cpus=2, tariff=FLAT)
    with unit_of_work(actor_of(tenants.a.member), settings) as uow:
        job = service.submit_job(uow=uow, spec={"command": "sleep 0.5", "cpus": 1})
    seen: list[bool | None] = []
    real_status, real_capacity = LocalAdapter.status, LocalAdapter.capacity

    def status(self: LocalAdapter, engine_id: str) -> Any:
        seen.append(_write_lock_free(settings))
        return real_status(self, engine_id)

    def capacity(self: LocalAdapter) -> Any:
        seen.append(_write_lock_free(settings))
        return real_capacity(self)

    monkeypatch.setattr(LocalAdapter, "status", status)
    monkeypatch.setattr(LocalAdapter, "capacity", capacity)
    polled = service.poll_engines(settings)
    assert len(seen) == 2 and job.job_id in polled.seen and "local-a" in polled.capacity
    assert all(s is not False for s in seen)  # no write lock held while the engine answered
    with unit_of_work(SYSTEM, settings) as uow:
        out = service.reconcile(uow=uow, polled=polled)
    assert len(seen) == 2  # the pass applied what was polled; it asked no engine again
    assert out.checked == 1 and out.pools_refreshed == 1
    monkeypatch.undo()
    assert wait_done(settings, job.job_id).state == "succeeded"
