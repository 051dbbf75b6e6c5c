"""datasandbox feeds the core findings register: N refusals by the same guard for one consumer
within the window raise ``datasandbox.probing`` (once, counted again after), visible to that
consumer and its regulator only — not to the data owner; re-verification reads the sandbox's
records: no refusal since the finding was last seen makes it fixed, a new one keeps it present."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mingyue.core import clock
from mingyue.core.errors import NotFound, RecordedRefusal
from mingyue.enablers.datasandbox import service
from mingyue.sdk import list_findings, request_reverification

STAR = "SELECT * FROM enterprises"
T0 = datetime(2026, 11, 9, 2, 0, tzinfo=UTC)


@pytest.fixture()
def registered(tenants: Any, actor_of: Any, uow_as: Any, demo_files: Any) -> None:
    owner = actor_of(tenants.a.admin)
    with uow_as(owner) as uow:
        service.register_dataset(
            uow=uow,
            actor=owner,
            source=demo_files.enterprises,
            name="enterprises",
            identifiers=["uscc"],
            quasi=["name"],
            min_group=5,
            epsilon_per_period=1.0,
            open_to_all=True,
        )


def _refused(uow_as: Any, actor: Any, sql: str, times: int = 1) -> str:
    rule = ""
    for _ in range(times):
        with pytest.raises(RecordedRefusal) as err, uow_as(actor) as uow:
            service.submit_query(uow=uow, actor=actor, sql=sql, epsilon=0.1)
        rule = str((err.value.document or {})["rule"])
    return rule


def _findings(uow_as: Any, actor: Any) -> list[Any]:
    with uow_as(actor) as uow:
        return list_findings(uow=uow, actor=actor, enabler="datasandbox")


def test_repeated_refusals_raise_probing_once_and_verify_from_records(
    registered: None, tenants: Any, actor_of: Any, uow_as: Any
) -> None:
    bank = actor_of(tenants.b.member)
    with clock.frozen(T0):
        assert _refused(uow_as, bank, STAR, times=4) == "sql.select_star"
        assert _findings(uow_as, bank) == []  # four: not yet
        # mistakes are not probing, however many
        _refused(uow_as, bank, "SELECT count(*) FROM enterprises WHERE", times=5)
        assert _findings(uow_as, bank) == []
        _refused(uow_as, bank, STAR)
        (finding,) = _findings(uow_as, bank)
        assert finding.rule == "datasandbox.probing" and finding.subject == "sql.select_star"
        assert finding.organization_id == tenants.b.org.id and finding.occurrences == 1
        assert finding.detail["refusals_in_window"] == 5 and finding.detail["threshold"] == 5
        assert finding.detail["datasets"] == ["enterprises"]
        (ev,) = finding.evidence
        assert ev.kind == "datasandbox.request" and int(ev.ref) == finding.detail["request_ids"][-1]
        assert finding.citation["zh"].startswith("《数据安全法》")
        clock.advance(timedelta(seconds=30))
        _refused(uow_as, bank, STAR)  # a sixth in the window: the same finding, counted
        (again,) = _findings(uow_as, bank)
        assert again.id == finding.id and again.occurrences == 2
        # the consumer's regulator sees it; the data owner (another enterprise) does not
        assert [f.id for f in _findings(uow_as, actor_of(tenants.regulator.member))] == [again.id]
        assert _findings(uow_as, actor_of(tenants.a.admin)) == []
        owner = actor_of(tenants.a.admin)
        with pytest.raises(NotFound), uow_as(owner) as uow:
            request_reverification(uow=uow, actor=owner, finding_id=again.id, evidence=[])
        # no refusal since: fixed
        clock.advance(timedelta(minutes=10))
        admin = actor_of(tenants.b.admin)
        with uow_as(admin) as uow:
            request_reverification(uow=uow, actor=admin, finding_id=again.id, evidence=[])
        (fixed,) = _findings(uow_as, bank)
        assert fixed.status == "fixed" and fixed.verification["state"] == "fixed"
        # hours later one more refusal (below the threshold): the check finds it, still present
        clock.advance(timedelta(hours=3))
        _refused(uow_as, bank, STAR)
        assert _findings(uow_as, bank)[0].status == "fixed"  # one refusal raises nothing
        with uow_as(admin) as uow:
            request_reverification(uow=uow, actor=admin, finding_id=again.id, evidence=[])
        (present,) = _findings(uow_as, bank)
        assert present.verification["state"] == "still_present"
        assert present.status == "open" and present.occurrences == 3
        # and quiet after that: fixed again
        clock.advance(timedelta(hours=1))
        with uow_as(admin) as uow:
            request_reverification(uow=uow, actor=admin, finding_id=again.id, evidence=[])
        assert _findings(uow_as, bank)[0].status == "fixed"


def test_probing_threshold_and_window_are_settings(
    registered: None, tenants: Any, actor_of: Any, uow_as: Any, settings: Any
) -> None:
    settings.datasandbox = {"probing_refusals": 2, "probing_window_s": 60}
    bank = actor_of(tenants.b.member)
    with clock.frozen(T0):
        _refused(uow_as, bank, STAR)
        clock.advance(timedelta(seconds=61))  # the first one has left the window
        _refused(uow_as, bank, STAR)
        assert _findings(uow_as, bank) == []
        clock.advance(timedelta(seconds=5))
        _refused(uow_as, bank, STAR)
        (finding,) = _findings(uow_as, bank)
        assert finding.detail["refusals_in_window"] == 2 and finding.detail["window_s"] == 60
