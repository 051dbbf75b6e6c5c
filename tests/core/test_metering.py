"""Metering services: usage priced by tariffs, free pools, caps, statements, tenant scoping."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from mingyue.core import metering
from mingyue.core.config import Settings
from mingyue.core.db import get_engine, system_session
from mingyue.core.errors import Conflict, Forbidden, InvalidInput, NotFound, QuotaExceeded
from mingyue.core.ledger.audit import AuditEntry
from mingyue.core.metering.models import Statement, StatementLine, UsageRecord
from mingyue.core.plugins import registry
from mingyue.core.tenancy.access import Actor
from mingyue.core.tenancy.identity import Organization
from mingyue.core.uow import UnitOfWork, unit_of_work

SH = ZoneInfo("Asia/Shanghai")
M = "core.api_calls"
PRICES = {"peak": Decimal("0.05"), "flat": Decimal("0.03"), "valley": Decimal("0.01")}


@dataclass
class World:
    """A fresh database with an operator, two enterprises, an SME, and actors in each."""

    settings: Settings
    org_a: int
    org_b: int
    org_sme: int
    admin: Actor
    admin_a: Actor
    member_a: Actor
    admin_b: Actor
    member_b: Actor
    member_sme: Actor

    def audit_actions(self) -> list[tuple[str, str, int | None]]:
        """Return (action, subject, organization) of every ledger entry."""
        with system_session(self.settings, "test") as s:
            return [
                (e.action, e.subject, e.organization_id)
                for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))
            ]


@contextmanager
def unit(world: World, actor: Actor) -> Iterator[UnitOfWork]:
    """Open a unit of work as the actor on the world's database."""
    with unit_of_work(actor, world.settings) as uow:
        yield uow


def _actor(uid: int, name: str, org: int, kind: str, *roles: str, sme: bool = False) -> Actor:
    return Actor(
        user_id=uid,
        username=name,
        organization_id=org,
        org_kind=kind,
        roles=frozenset(roles),
        is_sme=sme,
    )


@pytest.fixture
def world(settings: Settings, make_org: Callable[..., Organization]) -> World:
    registry()
    op = make_org(kind="operator").id
    a, b = make_org().id, make_org().id
    sme = make_org(sme=True).id
    w = World(
        settings=settings,
        org_a=a,
        org_b=b,
        org_sme=sme,
        admin=_actor(1, "padmin", op, "operator", "platform_admin"),
        admin_a=_actor(2, "admin_a", a, "enterprise", "org_admin"),
        member_a=_actor(3, "member_a", a, "enterprise", "member"),
        admin_b=_actor(4, "admin_b", b, "enterprise", "org_admin"),
        member_b=_actor(5, "member_b", b, "enterprise", "member"),
        member_sme=_actor(6, "member_sme", sme, "enterprise", "member", sme=True),
    )
    with unit(w, w.admin) as uow:
        metering.create_tariff(uow=uow, meter=M, prices=PRICES, effective_from=date(2025, 1, 1))
    return w


def _at(y: int, mo: int, d: int, h: int = 0) -> datetime:
    return datetime(y, mo, d, h, tzinfo=SH)


def test_record_usage_prices_with_tariff_and_audits(world: World) -> None:
    with unit(world, world.member_a) as uow:
        out = metering.record_usage(
            uow=uow,
            organization_id=world.org_a,
            meter=M,
            quantity=Decimal(300),
            unit="call",
            start=_at(2026, 1, 5, 10),
            end=_at(2026, 1, 5, 13),
            source="test",
            ref="r1",
        )
    # 10-11 flat, 11-13 peak: 100 calls flat, 200 calls peak
    assert [(s.band, s.quantity) for s in out.breakdown] == [("flat", 100), ("peak", 200)]
    assert out.amount == Decimal(100) * PRICES["flat"] + Decimal(200) * PRICES["peak"]
    assert out.currency == "CNY" and out.free_quantity == 0
    entries = world.audit_actions()
    assert ("core.usage.recorded", f"core_usage_record:{out.id}", world.org_a) in entries


def test_usage_across_month_draws_each_months_sme_pool(world: World) -> None:
    with unit(world, world.admin) as uow:
        metering.set_pool_default(uow=uow, meter=M, granted=Decimal(5))
    with unit(world, world.member_sme) as uow:
        out = metering.record_usage(
            uow=uow,
            organization_id=world.org_sme,
            meter=M,
            quantity=Decimal(24),
            unit="call",
            start=_at(2026, 1, 31, 12),
            end=_at(2026, 2, 1, 12),
            source="test",
        )
        jan = metering.get_free_pool(
            uow=uow, organization_id=world.org_sme, meter=M, month="2026-01"
        )
        feb = metering.get_free_pool(
            uow=uow, organization_id=world.org_sme, meter=M, month="2026-02"
        )
    assert out.free_quantity == Decimal(10)
    assert (jan.used, jan.remaining, jan.recorded) == (5, 0, 12)
    assert (feb.used, feb.remaining, feb.recorded) == (5, 0, 12)
    # earliest pieces are free first: 12:00-17:00 peak on Jan 31 holds 5 calls, all free
    first = out.breakdown[0]
    assert (first.band, first.quantity, first.free) == ("peak", 5, 5)
    # a non-SME organization gets no SME pool
    with unit(world, world.member_a) as uow:
        pool = metering.get_free_pool(
            uow=uow, organization_id=world.org_a, meter=M, month="2026-01"
        )
    assert pool.granted == 0


def test_cap_refuses_and_writes_nothing(world: World) -> None:
    with unit(world, world.admin) as uow:
        metering.set_free_pool(
            uow=uow,
            organization_id=world.org_a,
            meter=M,
            month="2026-03",
            granted=Decimal(0),
            cap=Decimal(100),
        )
    with unit(world, world.member_a) as uow:
        metering.record_usage(
            uow=uow,
            organization_id=world.org_a,
            meter=M,
            quantity=60,
            unit="call",
            start=_at(2026, 3, 1),
            end=_at(2026, 3, 2),
            source="t",
        )
    with pytest.raises(QuotaExceeded), unit(world, world.member_a) as uow:
        metering.record_usage(
            uow=uow,
            organization_id=world.org_a,
            meter=M,
            quantity=41,
            unit="call",
            start=_at(2026, 3, 2),
            end=_at(2026, 3, 3),
            source="t",
        )
    with unit(world, world.member_a) as uow:
        assert len(metering.list_usage(uow=uow, month="2026-03")) == 1


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"meter": "core.nope"}, "meter"),
        ({"unit": "hour"}, "unit"),
        ({"quantity": 1.5}, "quantity"),
        ({"quantity": Decimal("0.0000000001")}, "quantity"),
        ({"quantity": Decimal(-1)}, "quantity"),
        ({"source": ""}, "source"),
    ],
)
def test_bad_usage_refused(world: World, kw: dict[str, object], field: str) -> None:
    args: dict[str, object] = {
        "meter": M,
        "quantity": Decimal(1),
        "unit": "call",
        "start": _at(2026, 1, 1),
        "end": _at(2026, 1, 2),
        "source": "t",
    }
    args.update(kw)
    with pytest.raises(InvalidInput) as exc, unit(world, world.member_a) as uow:
        metering.record_usage(uow=uow, organization_id=world.org_a, **args)  # type: ignore[arg-type]
    assert exc.value.field == field


def test_usage_for_a_foreign_org_is_refused(world: World) -> None:
    with pytest.raises(Forbidden), unit(world, world.member_a) as uow:
        metering.record_usage(
            uow=uow,
            organization_id=world.org_b,
            meter=M,
            quantity=1,
            unit="call",
            start=_at(2026, 1, 1),
            end=_at(2026, 1, 2),
            source="t",
        )


def test_statement_lines_free_credit_and_total(world: World) -> None:
    with unit(world, world.admin) as uow:
        metering.set_free_pool(
            uow=uow, organization_id=world.org_a, meter=M, month="2025-11", granted=Decimal(30)
        )
    with unit(world, world.member_a) as uow:
        # 07:00-11:00 flat (40) + 11:00-12:00 peak (10)
        metering.record_usage(
            uow=uow,
            organization_id=world.org_a,
            meter=M,
            quantity=50,
            unit="call",
            start=_at(2025, 11, 3, 7),
            end=_at(2025, 11, 3, 12),
            source="t",
        )
        # 23:00 Nov 30 - 01:00 Dec 1: 1 valley in November, 1 in December
        metering.record_usage(
            uow=uow,
            organization_id=world.org_a,
            meter=M,
            quantity=2,
            unit="call",
            start=_at(2025, 11, 30, 23),
            end=_at(2025, 12, 1, 1),
            source="t",
        )
    with unit(world, world.admin) as uow:
        st = metering.generate_statement(uow=uow, organization_id=world.org_a, month="2025-11")
    lines = [
        (ln.band, ln.quantity, ln.free_quantity, ln.gross, ln.free_credit, ln.amount)
        for ln in st.lines
    ]
    assert lines == [
        ("peak", 10, 0, Decimal("0.50"), 0, Decimal("0.50")),
        ("flat", 40, 30, Decimal("1.20"), Decimal("0.90"), Decimal("0.30")),
        ("valley", 1, 0, Decimal("0.01"), 0, Decimal("0.01")),
    ]
    assert (st.gross, st.free_credit, st.total, st.currency) == (
        Decimal("1.71"),
        Decimal("0.90"),
        Decimal("0.81"),
        "CNY",
    )
    assert st.usage_count == 2
    assert (
        "core.statement.issued",
        f"core_statement:{st.id}",
        world.org_a,
    ) in world.audit_actions()
    # issued means closed: no second statement, no late usage, no edits
    with pytest.raises(Conflict), unit(world, world.admin) as uow:
        metering.generate_statement(uow=uow, organization_id=world.org_a, month="2025-11")
    with pytest.raises(Conflict), unit(world, world.member_a) as uow:
        metering.record_usage(
            uow=uow,
            organization_id=world.org_a,
            meter=M,
            quantity=1,
            unit="call",
            start=_at(2025, 11, 5),
            end=_at(2025, 11, 6),
            source="t",
        )
    with pytest.raises(Conflict), unit(world, world.admin) as uow:
        row = uow.session.scalars(select(Statement)).one()
        row.total = Decimal(0)
        uow.flush()
    with pytest.raises(Conflict), unit(world, world.admin) as uow:
        uow.session.delete(uow.session.scalars(select(StatementLine)).first())
        uow.flush()
    with unit(world, world.admin_a) as uow:
        again = metering.get_statement(uow=uow, statement_id=st.id)
    assert again == st


def test_statement_refused_for_open_month_and_non_admins(world: World) -> None:
    now = datetime.now(UTC).astimezone(SH)
    with pytest.raises(Conflict), unit(world, world.admin) as uow:
        metering.generate_statement(
            uow=uow, organization_id=world.org_a, month=f"{now.year:04d}-{now.month:02d}"
        )
    with pytest.raises(Forbidden), unit(world, world.admin_a) as uow:
        metering.generate_statement(uow=uow, organization_id=world.org_a, month="2025-01")
    with pytest.raises(Forbidden), unit(world, world.member_a) as uow:
        metering.list_statements(uow=uow)


def test_empty_month_statement_is_zero(world: World) -> None:
    with unit(world, world.admin) as uow:
        st = metering.generate_statement(uow=uow, organization_id=world.org_b, month="2025-02")
    assert (st.total, st.lines, st.usage_count) == (0, [], 0)


def test_reads_are_tenant_scoped(world: World) -> None:
    with unit(world, world.member_a) as uow:
        metering.record_usage(
            uow=uow,
            organization_id=world.org_a,
            meter=M,
            quantity=3,
            unit="call",
            start=_at(2025, 10, 1),
            end=_at(2025, 10, 2),
            source="t",
        )
    with unit(world, world.admin) as uow:
        st = metering.generate_statement(uow=uow, organization_id=world.org_a, month="2025-10")
    with unit(world, world.admin_b) as uow:
        assert metering.list_usage(uow=uow) == []
        assert metering.list_usage(uow=uow, organization_id=world.org_a) == []
        assert metering.list_statements(uow=uow) == []
        with pytest.raises(NotFound):
            metering.get_statement(uow=uow, statement_id=st.id)
        summary = metering.usage_summary(uow=uow, month="2025-10")
        assert summary.records == 0 and summary.meters == []
    with unit(world, world.admin_a) as uow:
        assert [u.quantity for u in metering.list_usage(uow=uow, month="2025-10")] == [3]
        assert metering.list_usage(uow=uow, month="2025-09") == []
        summary = metering.usage_summary(uow=uow, month="2025-10")
        assert len(summary.days) == 31
        assert (
            sum(summary.bands["valley"]) + sum(summary.bands["flat"]) + sum(summary.bands["peak"])
            == 3
        )
        assert summary.meters[0].quantity == 3


def test_tariffs_manage_read_overlap_and_successor(world: World) -> None:
    with pytest.raises(Forbidden), unit(world, world.admin_a) as uow:
        metering.create_tariff(uow=uow, meter=M, prices=PRICES, effective_from=date(2030, 1, 1))
    with pytest.raises(Conflict), unit(world, world.admin) as uow:
        metering.create_tariff(
            uow=uow,
            meter=M,
            prices=PRICES,
            effective_from=date(2024, 1, 1),
            effective_to=date(2025, 6, 1),
        )
    with pytest.raises(InvalidInput), unit(world, world.admin) as uow:
        metering.create_tariff(
            uow=uow, meter=M, prices={"peak": Decimal(1)}, effective_from=date(2030, 1, 1)
        )
    new_prices = {b: p * 2 for b, p in PRICES.items()}
    with unit(world, world.admin) as uow:
        metering.create_tariff(uow=uow, meter=M, prices=new_prices, effective_from=date(2026, 7, 1))
    with unit(world, world.member_b) as uow:
        ts = metering.list_tariffs(uow=uow, meter=M)
    assert [(t.effective_from, t.effective_to) for t in ts] == [
        (date(2026, 7, 1), None),
        (date(2025, 1, 1), date(2026, 7, 1)),
    ]
    with unit(world, world.member_a) as uow:
        out = metering.record_usage(
            uow=uow,
            organization_id=world.org_a,
            meter=M,
            quantity=2,
            unit="call",
            start=_at(2026, 6, 30, 23),
            end=_at(2026, 7, 1, 1),
            source="t",
        )
    assert [s.unit_price for s in out.breakdown] == [PRICES["valley"], new_prices["valley"]]


def test_decimals_round_trip_exactly(world: World) -> None:
    q = Decimal("123456789.123456789")
    with unit(world, world.member_a) as uow:
        out = metering.record_usage(
            uow=uow,
            organization_id=world.org_a,
            meter=M,
            quantity=q,
            unit="call",
            start=_at(2026, 2, 3, 1),
            end=_at(2026, 2, 3, 1) + timedelta(seconds=7),
            source="t",
        )
    with unit(world, world.admin_a) as uow:
        row = uow.session.get(UsageRecord, out.id)
        assert row is not None and row.quantity == q
        assert row.amount == q * PRICES["valley"]
        assert sum(Decimal(b["quantity"]) for b in row.breakdown) == q


def test_consume_free_draws_and_audits(world: World) -> None:
    with unit(world, world.admin) as uow:
        metering.set_free_pool(
            uow=uow, organization_id=world.org_a, meter=M, month="2026-04", granted=Decimal(10)
        )
    with unit(world, world.member_a) as uow:
        assert metering.consume_free(
            uow=uow, organization_id=world.org_a, meter=M, quantity=Decimal(7), month="2026-04"
        ) == (7, 0)
        assert metering.consume_free(
            uow=uow, organization_id=world.org_a, meter=M, quantity=Decimal(7), month="2026-04"
        ) == (3, 4)
    assert [a for a in world.audit_actions() if a[0] == "core.quota.consumed"] and len(
        [a for a in world.audit_actions() if a[0] == "core.quota.consumed"]
    ) == 2


def test_billing_run_issues_due_statements_once(world: World) -> None:
    for actor, org in ((world.member_a, world.org_a), (world.member_b, world.org_b)):
        with unit(world, actor) as uow:
            metering.record_usage(
                uow=uow,
                organization_id=org,
                meter=M,
                quantity=4,
                unit="call",
                start=_at(2025, 9, 2),
                end=_at(2025, 9, 3),
                source="t",
            )
    with unit(world, world.admin) as uow:
        metering.generate_statement(uow=uow, organization_id=world.org_b, month="2025-09")
    with unit(world, world.admin) as uow:
        issued = metering.generate_due_statements(uow=uow, month="2025-09")
    assert [s.organization_id for s in issued] == [world.org_a]
    with unit(world, world.admin) as uow:
        assert metering.generate_due_statements(uow=uow, month="2025-09") == []
    assert any(a[0] == "core.scope.unscoped" for a in world.audit_actions())
    with pytest.raises(Forbidden), unit(world, world.admin_a) as uow:
        metering.generate_due_statements(uow=uow, month="2025-09")


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"start": datetime(1, 1, 1, tzinfo=SH)}, "start"),
        ({"end": datetime(9999, 12, 31, 23, tzinfo=UTC)}, "end"),
        ({"source": "a\x00b"}, "source"),
    ],
)
def test_out_of_range_and_control_characters_refused(
    world: World, kw: dict[str, object], field: str
) -> None:
    args: dict[str, object] = {
        "meter": M,
        "quantity": Decimal(1),
        "unit": "call",
        "start": _at(2026, 1, 1),
        "end": _at(2026, 1, 2),
        "source": "t",
    }
    args.update(kw)
    with pytest.raises(InvalidInput) as exc, unit(world, world.member_a) as uow:
        metering.record_usage(uow=uow, organization_id=world.org_a, **args)  # type: ignore[arg-type]
    assert exc.value.field == field


def test_database_refuses_changing_an_issued_statement(world: World) -> None:
    with unit(world, world.admin) as uow:
        st = metering.generate_statement(uow=uow, organization_id=world.org_a, month="2025-03")
    for sql in (
        "UPDATE core_statement SET total = '0' WHERE id = :id",
        "DELETE FROM core_statement WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match="immutable"), get_engine(world.settings).begin() as c:
            c.execute(text(sql), {"id": st.id})


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"prices": {**PRICES, "super": Decimal(1)}}, "core.tariff.bad_band"),
        ({"effective_to": date(2029, 1, 1)}, "core.tariff.bad_dates"),
        ({"currency": "C1Y"}, "core.tariff.bad_currency"),
        ({"prices": {**PRICES, "peak": "abc"}}, "core.usage.bad_quantity"),
        ({"name": "bad\nname"}, "core.usage.bad_text"),
    ],
)
def test_bad_tariffs_refused(world: World, kw: dict[str, object], key: str) -> None:
    args: dict[str, object] = {"meter": M, "prices": PRICES, "effective_from": date(2030, 1, 1)}
    args.update(kw)
    with pytest.raises(InvalidInput) as exc, unit(world, world.admin) as uow:
        metering.create_tariff(uow=uow, **args)  # type: ignore[arg-type]
    assert exc.value.key == key


def test_mixed_currencies_cannot_share_a_statement(world: World) -> None:
    if "core.test_gpu_hours" not in metering.meters():
        metering.register_meter("core.test_gpu_hours", "gpu_hour", "test meter")
    with pytest.raises(ValueError, match="duplicate"):
        metering.register_meter("core.test_gpu_hours", "gpu_hour")
    with unit(world, world.admin) as uow:
        metering.create_tariff(
            uow=uow,
            meter="core.test_gpu_hours",
            prices=PRICES,
            currency="USD",
            effective_from=date(2025, 1, 1),
        )
    with unit(world, world.member_a) as uow:
        for meter, u in ((M, "call"), ("core.test_gpu_hours", "gpu_hour")):
            metering.record_usage(
                uow=uow,
                organization_id=world.org_a,
                meter=meter,
                quantity=1,
                unit=u,
                start=_at(2025, 8, 1),
                end=_at(2025, 8, 2),
                source="t",
            )
        assert [u.meter for u in metering.list_usage(uow=uow, meter=M)] == [M]
    with pytest.raises(Conflict) as exc, unit(world, world.admin) as uow:
        metering.generate_statement(uow=uow, organization_id=world.org_a, month="2025-08")
    assert exc.value.key == "core.billing.mixed_currency"


def test_unknown_organizations_are_not_found(world: World) -> None:
    with pytest.raises(NotFound), unit(world, world.admin) as uow:
        metering.generate_statement(uow=uow, organization_id=999999, month="2025-01")
    with pytest.raises(NotFound), unit(world, world.admin) as uow:
        metering.set_free_pool(
            uow=uow, organization_id=999999, meter=M, month="2025-01", granted=Decimal(1)
        )


def test_statement_filters_and_summary_of_a_month_crossing_record(world: World) -> None:
    with unit(world, world.member_a) as uow:
        metering.record_usage(
            uow=uow,
            organization_id=world.org_a,
            meter=M,
            quantity=48,
            unit="call",
            start=_at(2025, 6, 30),
            end=_at(2025, 7, 2),
            source="t",
        )
    with unit(world, world.admin) as uow:
        june = metering.generate_statement(uow=uow, organization_id=world.org_a, month="2025-06")
        metering.generate_statement(uow=uow, organization_id=world.org_b, month="2025-06")
        assert [
            s.id
            for s in metering.list_statements(uow=uow, organization_id=world.org_a, month="2025-06")
        ] == [june.id]
        july = metering.usage_summary(uow=uow, organization_id=world.org_a, month="2025-07")
    assert june.lines and sum(ln.quantity for ln in june.lines) == 24
    assert july.meters[0].quantity == 24 and "unpriced" not in july.bands


def test_consume_free_defaults_to_this_month(world: World) -> None:
    with unit(world, world.admin) as uow:
        metering.set_pool_default(uow=uow, meter=M, granted=Decimal(3), sme_only=False)
        metering.set_pool_default(uow=uow, meter=M, granted=Decimal(4), sme_only=False)
    with unit(world, world.member_b) as uow:
        free, rest = metering.consume_free(
            uow=uow, organization_id=world.org_b, meter=M, quantity="5"
        )
    assert (free, rest) == (4, 1)


def test_meters_load_the_registry_when_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    from mingyue.core import plugins
    from mingyue.core.metering import registry as metering_registry

    calls: list[int] = []
    monkeypatch.setattr(metering_registry, "_meters", {})
    monkeypatch.setattr(plugins, "registry", lambda: calls.append(1))
    assert metering.meters() == {} and calls == [1]


class _FakeJob:
    """Just enough of JobContext to drive a billing run in-process."""

    def __init__(self, world: World, cancel_after: int | None = None) -> None:
        self.world, self.cancel_after, self.steps = world, cancel_after, []

    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        return unit(self.world, self.world.admin)

    def cancelled(self) -> bool:
        return self.cancel_after is not None and len(self.steps) >= self.cancel_after

    def progress(self, pct: float, message: str = "") -> None:
        self.steps.append(message)


def test_billing_job_reports_refusals_and_stops_when_cancelled(world: World) -> None:
    from mingyue.core.metering.statements import run_billing_job

    if "core.test_gpu_hours" not in metering.meters():
        metering.register_meter("core.test_gpu_hours", "gpu_hour", "test meter")
    with unit(world, world.admin) as uow:
        metering.create_tariff(
            uow=uow,
            meter="core.test_gpu_hours",
            prices=PRICES,
            currency="USD",
            effective_from=date(2025, 1, 1),
        )
    for actor, org in (
        (world.member_a, world.org_a),
        (world.member_b, world.org_b),
        (world.member_sme, world.org_sme),
    ):
        with unit(world, actor) as uow:
            metering.record_usage(
                uow=uow,
                organization_id=org,
                meter=M,
                quantity=1,
                unit="call",
                start=_at(2025, 5, 1),
                end=_at(2025, 5, 2),
                source="t",
            )
            if org == world.org_b:  # two currencies: its statement is refused
                metering.record_usage(
                    uow=uow,
                    organization_id=org,
                    meter="core.test_gpu_hours",
                    quantity=1,
                    unit="gpu_hour",
                    start=_at(2025, 5, 1),
                    end=_at(2025, 5, 2),
                    source="t",
                )
    stopped = run_billing_job(_FakeJob(world, cancel_after=1), {"month": "2025-05"})  # type: ignore[arg-type]
    assert stopped["cancelled"] is True and len(stopped["statements"]) == 1
    out = run_billing_job(_FakeJob(world), {"month": "2025-05"})  # type: ignore[arg-type]
    assert out["refused"] == {str(world.org_b): "core.billing.mixed_currency"}
    assert len(out["statements"]) == 1


def test_check_cap_before_work(world: World) -> None:
    with unit(world, world.member_a) as uow:  # no pool yet: nothing caps
        assert (
            metering.check_cap(
                uow=uow,
                organization_id=world.org_a,
                meter=M,
                quantity=Decimal(10**6),
                month="2026-05",
            ).cap
            is None
        )
    with unit(world, world.admin) as uow:
        metering.set_free_pool(
            uow=uow,
            organization_id=world.org_a,
            meter=M,
            month="2026-05",
            granted=Decimal(1),
            cap=Decimal(10),
        )
    with unit(world, world.member_a) as uow:
        assert (
            metering.check_cap(
                uow=uow, organization_id=world.org_a, meter=M, quantity=10, month="2026-05"
            ).remaining
            == 1
        )
        with pytest.raises(QuotaExceeded):
            metering.check_cap(
                uow=uow, organization_id=world.org_a, meter=M, quantity=11, month="2026-05"
            )
        assert (
            metering.check_cap(uow=uow, organization_id=world.org_a, meter=M, quantity=0).recorded
            == 0
        )  # this month
    with pytest.raises(NotFound), unit(world, world.member_b) as uow:
        metering.check_cap(
            uow=uow, organization_id=world.org_a, meter=M, quantity=1, month="2026-05"
        )


def test_concurrent_usage_shares_one_pool_exactly(world: World) -> None:
    import threading

    with unit(world, world.admin) as uow:
        metering.set_pool_default(uow=uow, meter=M, granted=Decimal(5), sme_only=False)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            barrier.wait()
            with unit(world, world.member_b) as uow:
                metering.record_usage(
                    uow=uow,
                    organization_id=world.org_b,
                    meter=M,
                    quantity=3,
                    unit="call",
                    start=_at(2026, 4, 1),
                    end=_at(2026, 4, 2),
                    source="t",
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with unit(world, world.member_b) as uow:
        pool = metering.get_free_pool(
            uow=uow, organization_id=world.org_b, meter=M, month="2026-04"
        )
        frees = sorted(u.free_quantity for u in metering.list_usage(uow=uow, month="2026-04"))
    assert (pool.recorded, pool.used) == (12, 5)
    assert frees == [0, 0, 2, 3]


def test_usage_priced_with_the_callers_tariff(world: World) -> None:
    own = metering.TariffSpec(
        meter=M, prices={"peak": Decimal("0.7"), "flat": Decimal("0.5"), "valley": Decimal("0.2")}
    )
    with unit(world, world.member_a) as uow:
        out = metering.record_usage(
            uow=uow,
            organization_id=world.org_a,
            meter=M,
            quantity=Decimal(300),
            unit="call",
            start=_at(2026, 1, 5, 10),
            end=_at(2026, 1, 5, 13),
            source="test",
            tariff=own,
        )
        free = metering.record_usage(
            uow=uow,
            organization_id=world.org_a,
            meter=M,
            quantity=Decimal(3),
            unit="call",
            start=_at(2026, 1, 5, 10),
            end=_at(2026, 1, 5, 13),
            source="test",
            tariff=[],
        )
        with pytest.raises(InvalidInput) as exc:
            metering.record_usage(
                uow=uow,
                organization_id=world.org_a,
                meter=M,
                quantity=Decimal(1),
                unit="call",
                start=_at(2026, 1, 5, 10),
                end=_at(2026, 1, 5, 11),
                source="test",
                tariff=metering.TariffSpec(meter="other", prices=own.prices),
            )
        assert exc.value.field == "tariff"
    # the platform tariff of the meter (PRICES) is not used: the caller's prices are
    assert [(s.band, s.unit_price) for s in out.breakdown] == [
        ("flat", Decimal("0.5")),
        ("peak", Decimal("0.7")),
    ]
    assert out.amount == Decimal(100) * Decimal("0.5") + Decimal(200) * Decimal("0.7")
    assert free.amount is None and {s.band for s in free.breakdown} == {"unpriced"}
    with unit(world, world.admin) as uow:
        st = metering.generate_statement(uow=uow, organization_id=world.org_a, month="2026-01")
    assert st.total == Decimal("190.00")
