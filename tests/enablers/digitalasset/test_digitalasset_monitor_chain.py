"""The scheduled pull of chain events into the monitor, on the embedded py-evm chain: tokens
minted and moved back and forth across separate pulls raise one back-and-forth alert after the
scheduled run; a run with nothing new changes nothing; another enterprise sees none of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from eth_account import Account
from sqlalchemy import select

from mingyue.core.scheduling import firing
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.uow import unit_of_work
from mingyue.enablers.digitalasset import enabler
from mingyue.enablers.digitalasset.adapters.chain import LocalKeySigner
from mingyue.enablers.digitalasset.engine.contracts import COLLECTION, load_artifact
from mingyue.enablers.digitalasset.models_monitor import (
    DigitalassetAlert,
    DigitalassetChainCursor,
    DigitalassetChainEvent,
    DigitalassetMonitorRun,
)
from mingyue.enablers.digitalasset.models_registry import DigitalassetCollection
from mingyue.enablers.digitalasset.service.common import chain_for
from mingyue.enablers.digitalasset.service.monitor_chain import pull_all

HASH = bytes.fromhex("cd" * 32)
NAME = "digitalasset.monitor_chain"
DUE = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def _signer() -> LocalKeySigner:
    return LocalKeySigner(bytes(Account.create().key))


def _fire(settings: Any, run_jobs: Any, n: int) -> None:
    """One due time of the declared schedule: the scheduler queues the job, a worker runs it."""
    due = DUE + timedelta(minutes=10 * n)
    out = firing.fire(
        settings,
        name=NAME,
        schedule=enabler.schedules[NAME],
        due_at=due,
        scheduler_id="test",
        grace_s=60,
        now=due,
    )
    assert out is not None and out.status == "queued" and out.job_id, out
    run_jobs()


def _state(settings: Any) -> tuple[list[DigitalassetAlert], int, int]:
    with unit_of_work(SYSTEM, settings) as uow, uow.unscoped(reason="test", record=False):
        alerts = list(uow.session.scalars(select(DigitalassetAlert)))
        for a in alerts:
            uow.session.expunge(a)
        events = len(list(uow.session.scalars(select(DigitalassetChainEvent))))
        runs = len(list(uow.session.scalars(select(DigitalassetMonitorRun))))
    return alerts, events, runs


def test_scheduled_pull_finds_back_and_forth_across_pulls(
    client: Any, tenants: Any, settings: Any, run_jobs: Any
) -> None:
    assert enabler.schedules[NAME].job_kind in enabler.job_kinds
    ha = tenants.a.headers(admin=True)
    r = client.post(
        "/api/digitalasset/collections",
        json={"standard": "erc721", "name": "明月集", "symbol": "MOON", "cap": 10},
        headers=ha,
    )
    assert r.status_code == 201, r.text
    # The platform deployed the collection with its own issuer key; here the test holds the
    # issuer key of a second deployment and points the collection at it, to mint and move freely.
    chain = chain_for(settings)
    art = load_artifact(COLLECTION)
    issuer, reg, alice, bob, carol = (_signer() for _ in range(5))
    for s in (issuer, reg, alice, bob, carol):
        chain.ensure_gas(s.address)
    deployed = chain.deploy(art, ["明月集", "MOON", 10, issuer.address, reg.address], signer=issuer)
    addr = str(deployed.contract_address)
    with unit_of_work(SYSTEM, settings) as uow, uow.unscoped(reason="test", record=False):
        row = uow.session.get(DigitalassetCollection, r.json()["id"])
        assert row is not None
        row.address = addr
    chain.transact(addr, art, "mint", [alice.address, 1, HASH], signer=issuer)
    chain.transact(addr, art, "mint", [carol.address, 2, HASH], signer=issuer)

    _fire(settings, run_jobs, 0)  # mints are not trades
    alerts, events, _ = _state(settings)
    assert alerts == [] and events == 0

    chain.transact(addr, art, "transferFrom", [alice.address, bob.address, 1], signer=alice)
    _fire(settings, run_jobs, 1)
    alerts, events, _ = _state(settings)
    assert alerts == [] and events == 1

    # The token returns to alice: the loop's first leg came in the earlier pull.
    chain.transact(addr, art, "transferFrom", [bob.address, alice.address, 1], signer=bob)
    _fire(settings, run_jobs, 2)
    alerts, events, runs = _state(settings)
    assert events == 2
    assert [a.pattern for a in alerts] == ["back_and_forth"], [a.pattern for a in alerts]
    baf = alerts[0]
    assert set(baf.addresses) == {alice.address.lower(), bob.address.lower()}
    assert baf.tokens == [f"{addr}:1"] and baf.occurrences == 1
    assert baf.organization_id == tenants.a.org.id
    assert len(baf.evidence["tx_hashes"]) == 2

    # Nothing new on the chain: the next runs add no event, run or occurrence.
    _fire(settings, run_jobs, 3)
    with unit_of_work(SYSTEM, settings) as uow:
        assert pull_all(uow, chain) == {
            "collections": 1,
            "events": 0,
            "alerts_new": 0,
            "alerts_seen": 0,
        }
    again, events_after, runs_after = _state(settings)
    assert (events_after, runs_after) == (events, runs)
    assert [(a.id, a.occurrences) for a in again] == [(baf.id, 1)]
    with unit_of_work(SYSTEM, settings) as uow, uow.unscoped(reason="test", record=False):
        cursor = uow.session.scalars(select(DigitalassetChainCursor)).one()
        assert cursor.last_block == chain.block_number() and cursor.events == 2

    # The alert is the enterprise's: another enterprise sees nothing, the regulator sees it.
    mine = client.get("/api/digitalasset/monitor/alerts", headers=tenants.a.headers()).json()
    assert [a["pattern"] for a in mine] == ["back_and_forth"]
    hb = tenants.b.headers(admin=True)
    assert client.get("/api/digitalasset/monitor/alerts", headers=hb).json() == []
    r = client.get(f"/api/digitalasset/monitor/alerts/{baf.id}", headers=hb)
    assert r.status_code == 404
    reg_alerts = client.get(
        "/api/digitalasset/monitor/alerts", headers=tenants.regulator.headers()
    ).json()
    assert baf.id in {a["id"] for a in reg_alerts}
