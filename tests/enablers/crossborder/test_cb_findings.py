"""crossborder feeds the core findings register: the flow monitor's undeclared-endpoint and
uncovered-threshold alerts raise findings (once), visible to the organization and its regulator
only; every watch run observes what it saw, so a declaration that now covers the traffic turns
the findings fixed — on the next run, or at once with a log given as re-verification evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mingyue.enablers.crossborder import service
from mingyue.enablers.crossborder.schemas import TransferIn
from mingyue.sdk import (
    EvidenceRef,
    InvalidInput,
    list_findings,
    request_reverification,
    store_upload,
)

RESIDENT_ID = "11010519491231002X"
PARTNER = "1773122136.{i} 5 10.0.0.5 TCP_MISS/200 99 GET http://api.partner.sg/u?id={id} - HIER_DIRECT/203.0.113.9 -"
EVIL = "1773122137.{i} 5 10.0.0.5 TCP_MISS/200 99 POST http://evil.example/x?n={i} - HIER_DIRECT/198.51.100.7 -"


def _declare(
    uow_as: Any, admin: Any, recipient: str, country: str, endpoints: list[str], basis: str
) -> None:
    with uow_as(admin) as uow:
        service.declare_transfer(
            uow=uow,
            actor=admin,
            body=TransferIn(
                recipient=recipient,
                country=country,
                endpoints=endpoints,
                categories=["contact"],
                legal_basis=basis,
            ),
        )


def _findings(uow_as: Any, actor: Any) -> dict[str, Any]:
    with uow_as(actor) as uow:
        return {f.rule: f for f in list_findings(uow=uow, actor=actor, enabler="crossborder")}


def _append(log: Path, *lines: str) -> None:
    with log.open("a") as fh:
        fh.write("\n".join(lines) + "\n")


@pytest.fixture
def geo(tmp_path: Path, settings: Any) -> Path:
    path = tmp_path / "geo.csv"
    path.write_text("network,country\n198.51.100.0/24,US\n")
    settings.crossborder = {"geoip": str(path)}  # for the watch job
    return path


def test_alerts_raise_findings_and_the_next_run_verifies_them(
    tenants: Any, actor_of: Any, uow_as: Any, tmp_path: Path, geo: Path
) -> None:
    admin = actor_of(tenants.a.admin)
    _declare(uow_as, admin, "Partner SG", "SG", ["api.partner.sg"], "exempt")
    log = tmp_path / "squid.log"
    _append(log, PARTNER.format(i=1, id=RESIDENT_ID), EVIL.format(i=1))
    with uow_as(admin) as uow:
        out = service.watch_source(uow=uow, actor=admin, source=log, geoip=geo)
        assert len(out["alert_cases"]) == 2
    found = _findings(uow_as, admin)
    assert set(found) == {"crossborder.undeclared_endpoint", "crossborder.threshold_exceeded"}
    undeclared, threshold = (
        found["crossborder.undeclared_endpoint"],
        found["crossborder.threshold_exceeded"],
    )
    assert undeclared.subject == "evil.example" and undeclared.severity == "high"
    assert undeclared.detail["alert"]["detail"]["country"] == "US"
    assert threshold.subject == "Partner SG" and threshold.occurrences == 1
    assert threshold.detail["alert"]["kind"] == "sensitive_standard_contract_threshold"
    (ev,) = undeclared.evidence
    assert ev.kind == "core.case" and ev.path == f"/cases/{ev.ref}"
    assert int(ev.ref) in out["alert_cases"]
    # the regulator sees them, another enterprise does not
    assert len(_findings(uow_as, actor_of(tenants.regulator.member))) == 2
    assert _findings(uow_as, actor_of(tenants.b.admin)) == {}
    # the same source again: nothing new read, nothing raised twice
    with uow_as(admin) as uow:
        assert (
            service.watch_source(uow=uow, actor=admin, source=log, geoip=geo)["alert_cases"] == []
        )
    assert _findings(uow_as, admin)["crossborder.undeclared_endpoint"].occurrences == 1
    # more traffic to the same endpoint: seen again, still present, no new alert case
    _append(log, EVIL.format(i=2))
    with uow_as(admin) as uow:
        assert (
            service.watch_source(uow=uow, actor=admin, source=log, geoip=geo)["alert_cases"] == []
        )
    again = _findings(uow_as, admin)["crossborder.undeclared_endpoint"]
    assert again.id == undeclared.id and again.occurrences == 2 and again.status == "open"
    assert again.verification["state"] == "still_present"
    # rectified: both transfers declared; the next run sees the endpoint on a declared route
    _declare(
        uow_as, admin, "Evil Corp", "US", ["evil.example"], "standard_contract_or_certification"
    )
    _declare(
        uow_as, admin, "Partner SG", "SG", ["api.partner.sg"], "standard_contract_or_certification"
    )
    _append(log, EVIL.format(i=3), PARTNER.format(i=3, id=RESIDENT_ID))
    with uow_as(admin) as uow:
        service.watch_source(uow=uow, actor=admin, source=log, geoip=geo)
    now = _findings(uow_as, admin)
    assert {f.status for f in now.values()} == {"fixed"}
    assert now["crossborder.undeclared_endpoint"].verification["evidence"][0]["kind"] == (
        "crossborder.flow_source"
    )


def test_reverification_with_a_log_runs_the_watch_job(
    tenants: Any, actor_of: Any, uow_as: Any, tmp_path: Path, geo: Path, run_jobs: Any
) -> None:
    admin = actor_of(tenants.a.admin)
    log = tmp_path / "squid.log"
    _append(log, EVIL.format(i=1))
    with uow_as(admin) as uow:
        service.watch_source(uow=uow, actor=admin, source=log, geoip=geo)
    finding = _findings(uow_as, admin)["crossborder.undeclared_endpoint"]
    # without a log it waits for the next watch run
    with uow_as(admin) as uow:
        waiting = request_reverification(uow=uow, actor=admin, finding_id=finding.id, evidence=[])
        assert waiting.verification and waiting.verification["state"] == "pending"
    # a regulator may ask, but cannot make the enterprise's monitor read a file
    reg = actor_of(tenants.regulator.member)
    with uow_as(admin) as uow:
        stored = store_upload(
            uow=uow, upload=(EVIL.format(i=5) + "\n").encode(), filename="after.log"
        )
    ref = EvidenceRef(kind="core.file", ref=str(stored.id), label="after.log")
    with pytest.raises(InvalidInput) as info, uow_as(reg) as uow:
        request_reverification(uow=uow, actor=reg, finding_id=finding.id, evidence=[ref])
    assert info.value.key == "crossborder.reverify_watch_forbidden"
    # declared now; the log the organization gives is watched by a job, which verifies it
    _declare(
        uow_as, admin, "Evil Corp", "US", ["evil.example"], "standard_contract_or_certification"
    )
    with uow_as(admin) as uow:
        request_reverification(uow=uow, actor=admin, finding_id=finding.id, evidence=[ref])
    run_jobs()
    after = _findings(uow_as, admin)["crossborder.undeclared_endpoint"]
    assert after.status == "fixed" and after.verification["state"] == "fixed"
