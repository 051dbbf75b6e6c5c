"""Unit of work: an error rolls everything back; a recorded refusal commits its trace first."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter
from sqlalchemy import func, select

from mingyue.core.db import system_session
from mingyue.core.errors import Forbidden, RecordedRefusal
from mingyue.core.ledger.audit import AuditEntry
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.uow import unit_of_work
from mingyue.web.deps import UoW


def _subjects(settings: Any) -> list[str]:
    with system_session(settings, "test") as s:
        return [e.subject for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]


def test_error_rolls_back_and_recorded_refusal_commits(settings: Any) -> None:
    with pytest.raises(Forbidden), unit_of_work(SYSTEM, settings) as uow:
        uow.audit("core.org.updated", "core_organization:1", {})
        raise Forbidden("core.forbidden", "no")
    assert "core_organization:1" not in _subjects(settings)
    with pytest.raises(RecordedRefusal) as err, unit_of_work(SYSTEM, settings) as uow:
        uow.audit("core.org.updated", "core_organization:2", {})
        raise RecordedRefusal("core.forbidden", "no", status=403, document={"status": "refused"})
    assert "core_organization:2" in _subjects(settings)
    assert err.value.exit_code == 3 and err.value.keep_work


def test_recorded_refusal_is_a_4xx() -> None:
    with pytest.raises(ValueError):
        RecordedRefusal("core.forbidden", status=500, document={})


def test_route_answers_the_document_and_commits(
    settings: Any, app: Any, client: Any, tenants: Any
) -> None:
    router = APIRouter()

    @router.post("/api/test-refusal")
    def refuse(uow: UoW) -> None:
        uow.audit("core.org.updated", "core_organization:refusal", {"n": 1})
        raise RecordedRefusal(
            "core.forbidden",
            "refused here",
            status=429,
            document={"status": "refused", "rule": "test.rule"},
        )

    app.include_router(router)
    r = client.post("/api/test-refusal", headers=tenants.a.headers())
    assert r.status_code == 429
    assert r.json()["status"] == "refused" and r.json()["rule"] == "test.rule"
    assert r.json()["key"] == "core.forbidden"
    assert "core_organization:refusal" in _subjects(settings)


def test_unscoped_read_without_record_leaves_the_ledger_alone(settings: Any) -> None:
    def ledger_length() -> int:
        with unit_of_work(settings=settings) as uow:
            return int(uow.session.scalar(select(func.count()).select_from(AuditEntry)) or 0)

    before = ledger_length()
    with unit_of_work(settings=settings) as uow, uow.unscoped(reason="capacity", record=False):
        pass
    assert ledger_length() == before
    with unit_of_work(settings=settings) as uow, uow.unscoped(reason="billing run"):
        pass
    assert ledger_length() == before + 1
