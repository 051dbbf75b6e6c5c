"""Service tests: assessments, filings through their cases (signed record, 3-year validity,
expiry warning), transfers, scans and the flow watcher opening alert cases."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mingyue.core import cases
from mingyue.core.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge
from mingyue.core.ledger import credentials
from mingyue.core.ledger.audit import AuditEntry
from mingyue.enablers.crossborder import service
from mingyue.enablers.crossborder.schemas import FilingIn, TransferIn

FORM: dict[str, Any] = {
    "recipient": {"name": "Partner SG Pte", "country": "SG", "address": "1 Raffles Place"},
    "purpose": "跨境客服",
    "categories": ["姓名", "手机号"],
    "pi_individuals": 150000,
    "sensitive_pi_individuals": 0,
    "important_data": False,
    "retention": "1年，到期删除",
    "security_measures": "加密传输、访问控制",
    "recipient_legal_environment": "新加坡PDPA",
    "risks_and_mitigations": "再转移风险；合同约束",
}


def _actions(uow: Any) -> list[str]:
    return [e.action for e in uow.session.scalars(select(AuditEntry))]


def test_assessment_is_stored_audited_and_metered(tenants: Any, actor_of: Any, uow_as: Any) -> None:
    a = actor_of(tenants.a.member)
    with uow_as(a) as uow:
        out = service.create_assessment(
            uow=uow,
            actor=a,
            scenario={
                "ciio": False,
                "important_data": False,
                "pi_individuals": 150_000,
                "sensitive_pi_individuals": 0,
                "purpose": "other",
                "ftz_negative_list": None,
            },
        )
        assert out.path == "standard_contract_or_certification"
        assert out.result["basis"][0] == "促进和规范数据跨境流动规定 Art. 8"
    with uow_as(a) as uow:
        with pytest.raises(InvalidInput) as info:
            service.create_assessment(uow=uow, actor=a, scenario={"ciio": False})
        assert info.value.field == "important_data"
    with uow_as(actor_of(tenants.a.admin)) as uow:
        assert "crossborder.assessment.created" in _actions(uow)


def test_filing_lifecycle_signed_record_and_expiry(
    tenants: Any, actor_of: Any, uow_as: Any, settings: Any
) -> None:
    a = actor_of(tenants.a.member)
    reviewer = actor_of(tenants.operator.member)
    with uow_as(a) as uow:
        f = service.create_filing(
            uow=uow, actor=a, body=FilingIn(kind="security_assessment", form=FORM)
        )  # type: ignore[arg-type]
        assert f.status == "submitted"
        case = cases.get_case(uow=uow, case_id=f.case_id, actor=a)
        assert case.kind == "crossborder.security_assessment" and case.state == "submitted"
    with uow_as(a) as uow, pytest.raises(Forbidden):
        cases.transition(uow=uow, case_id=f.case_id, name="start_review", actor=a)
    with uow_as(reviewer) as uow:
        cases.transition(uow=uow, case_id=f.case_id, name="start_review", actor=reviewer)
        cases.transition(uow=uow, case_id=f.case_id, name="approve", actor=reviewer, comment="ok")
    with uow_as(a) as uow:
        got = service.get_filing(uow=uow, actor=a, filing_id=f.id)
        assert got.status == "approved" and got.credential_id
        assert got.valid_until is not None and got.decided_at is not None
        assert (got.valid_until - got.decided_at) >= timedelta(days=3 * 365)
        cred = credentials.get_credential(uow=uow, actor=a, credential_id=got.credential_id)
        vc = cred.credential
        assert vc["credentialSubject"]["filingKind"] == "security_assessment"
        assert credentials.verify(vc).ok
        # Not yet within 90 days of expiry; 3 years on, it is.
        assert service.expiring_filings(uow=uow, actor=a) == []
        later = got.valid_until - timedelta(days=30)
        assert [x.id for x in service.expiring_filings(uow=uow, actor=a, now=later)] == [f.id]
    with uow_as(reviewer) as uow:
        warned = service.warn_expiring(
            uow=uow, actor=reviewer, now=got.valid_until - timedelta(days=30)
        )
        assert [w.id for w in warned] == [f.id]
        assert service.warn_expiring(uow=uow, actor=reviewer, now=got.valid_until) == []  # once
    with uow_as(a) as uow:
        detail = cases.get_case(uow=uow, case_id=f.case_id, actor=a)
        assert any(e.kind == "comment" and "到期" in (e.comment or "") for e in detail.events)


def test_return_resubmit_reject(tenants: Any, actor_of: Any, uow_as: Any) -> None:
    a = actor_of(tenants.a.member)
    reviewer = actor_of(tenants.operator.member)
    with uow_as(a) as uow:
        f = service.create_filing(
            uow=uow, actor=a, body=FilingIn(kind="standard_contract", form=FORM)
        )  # type: ignore[arg-type]
    with uow_as(reviewer) as uow:
        cases.transition(uow=uow, case_id=f.case_id, name="start_review", actor=reviewer)
        cases.transition(
            uow=uow, case_id=f.case_id, name="return", actor=reviewer, comment="补充材料"
        )
    with uow_as(a) as uow:
        assert service.get_filing(uow=uow, actor=a, filing_id=f.id).status == "returned"
        cases.transition(uow=uow, case_id=f.case_id, name="resubmit", actor=a)
    with uow_as(reviewer) as uow:
        cases.transition(uow=uow, case_id=f.case_id, name="start_review", actor=reviewer)
        cases.transition(
            uow=uow, case_id=f.case_id, name="reject", actor=reviewer, comment="不符合"
        )
    with uow_as(a) as uow:
        got = service.get_filing(uow=uow, actor=a, filing_id=f.id)
        assert got.status == "rejected" and got.credential_id is None and got.valid_until is None


def test_other_tenant_cannot_see_filing(tenants: Any, actor_of: Any, uow_as: Any) -> None:
    a, b = actor_of(tenants.a.member), actor_of(tenants.b.member)
    with uow_as(a) as uow:
        f = service.create_filing(uow=uow, actor=a, body=FilingIn(kind="pipia", form=FORM))  # type: ignore[arg-type]
    with uow_as(b) as uow:
        assert service.list_filings(uow=uow, actor=b) == []
        with pytest.raises(NotFound):
            service.get_filing(uow=uow, actor=b, filing_id=f.id)


def test_watch_counts_and_opens_alert_cases(
    tenants: Any, actor_of: Any, uow_as: Any, tmp_path: Path
) -> None:
    admin = actor_of(tenants.a.admin)
    with uow_as(admin) as uow:
        service.declare_transfer(
            uow=uow,
            actor=admin,
            body=TransferIn(
                recipient="Partner SG",
                country="SG",
                endpoints=["api.partner.sg"],
                categories=["contact"],
                legal_basis="exempt",
            ),
        )
    geo = tmp_path / "geo.csv"
    geo.write_text("network,country\n198.51.100.0/24,US\n")
    log = tmp_path / "squid.log"
    lines = [
        f"1773122136.{i} 5 10.0.0.5 TCP_MISS/200 99 GET http://api.partner.sg/u?m=139{i:08d} - "
        f"HIER_DIRECT/203.0.113.9 -"
        for i in range(20)
    ]
    lines.append(
        "1773122136.9 5 10.0.0.5 TCP_MISS/200 99 POST http://evil.example/x?id=1 - "
        "HIER_DIRECT/198.51.100.7 -"
    )
    log.write_text("\n".join(lines) + "\n")
    with uow_as(admin) as uow:
        out = service.watch_source(uow=uow, actor=admin, source=log, geoip=geo)
        assert out["lines"] == 21 and len(out["alert_cases"]) == 1
        assert {"recipient": "Partner SG", "year": 2026, "kind": "pi", "individuals": 20} in out[
            "counts"
        ]
    with uow_as(admin) as uow:
        again = service.watch_source(uow=uow, actor=admin, source=log, geoip=geo)
        assert again["alert_cases"] == [] and again["lines"] == 21  # resumed, nothing doubled
        (case,) = cases.list_cases(uow=uow, kind="crossborder.flow_alert", actor=admin)
        assert (
            case.data["kind"] == "undeclared_overseas_endpoint"
            and case.data["detail"]["country"] == "US"
        )
    with uow_as(actor_of(tenants.b.admin)) as uow:
        assert service.flow_counts(uow=uow, actor=actor_of(tenants.b.admin))["counts"] == []


def test_alerts_left_pending_by_a_crash_become_cases_later(
    tenants: Any, actor_of: Any, uow_as: Any, tmp_path: Path
) -> None:
    admin = actor_of(tenants.a.admin)
    geo = tmp_path / "geo.csv"
    geo.write_text("network,country\n198.51.100.0/24,US\n")
    log = tmp_path / "squid.log"
    log.write_text(
        "1773122136.9 5 10.0.0.5 TCP_MISS/200 99 POST http://evil.example/x?id=1 - "
        "HIER_DIRECT/198.51.100.7 -\n"
    )

    class Crash(Exception):
        pass

    # The platform's transaction fails after the monitor stored the alert: no case yet.
    with pytest.raises(Crash), uow_as(admin) as uow:
        service.watch_source(uow=uow, actor=admin, source=log, geoip=geo)
        raise Crash
    with uow_as(admin) as uow:
        assert cases.list_cases(uow=uow, kind="crossborder.flow_alert", actor=admin) == []
    with uow_as(admin) as uow:
        out = service.watch_source(uow=uow, actor=admin, source=log, geoip=geo)
        assert len(out["alert_cases"]) == 1 and out["lines"] == 1
    with uow_as(admin) as uow:
        assert (
            service.watch_source(uow=uow, actor=admin, source=log, geoip=geo)["alert_cases"] == []
        )
        assert len(cases.list_cases(uow=uow, kind="crossborder.flow_alert", actor=admin)) == 1


def test_scan_upload_streams_under_the_cap_and_keeps_no_file(
    tenants: Any, actor_of: Any, uow_as: Any, settings: Any
) -> None:
    a = actor_of(tenants.a.member)
    resident_id = "11010519491231002X"
    with uow_as(a) as uow:
        out = service.scan_upload(
            uow=uow, actor=a, data=io.BytesIO(f"身份证{resident_id}".encode()), filename="../p.txt"
        )
        assert out.counts == {"CN_RESIDENT_ID": 1} and out.filename == "p.txt"
        assert resident_id not in str(out.entities)
    scratch = settings.data_dir / "files" / "tmp"
    assert list(scratch.iterdir()) == []  # scanned, then deleted
    with uow_as(actor_of(tenants.a.admin)) as uow:
        actions = _actions(uow)
        assert "crossborder.scan.completed" in actions and "core.file.stored" not in actions
    settings.max_upload_bytes = 100
    with uow_as(a) as uow, pytest.raises(PayloadTooLarge):
        service.scan_upload(uow=uow, actor=a, data=io.BytesIO(b"x" * 101), filename="big.txt")
    assert list(scratch.iterdir()) == []


def test_case_kinds_load_without_the_engine() -> None:
    code = (
        "import sys, mingyue.enablers.crossborder.cases as c; "
        "assert len(c.FILING_KINDS) == 3; "
        "print(sorted(m for m in sys.modules if m.startswith('mingyue.enablers')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "engine" not in out.stdout and "filings" not in out.stdout
