"""Pool tariffs: splits across windows and month ends are exact; the estimate equals the bill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mingyue.core.errors import InvalidInput
from mingyue.enablers.compute.engine.spec import Demand
from mingyue.enablers.compute.tariffs import CPU_METER, GPU_METER, parse_tariff, read_tariff_arg

TARIFF = parse_tariff(
    {
        "cpu_second": {"peak": "0.0003", "flat": "0.0002", "valley": "0.0001"},
        "gpu_second": {"A100": {"peak": "0.03", "flat": "0.02", "valley": "0.01"}},
    }
)
PRICE = {"peak": Decimal("0.0003"), "flat": Decimal("0.0002"), "valley": Decimal("0.0001")}


@settings(max_examples=60, deadline=None)
@given(
    start=st.datetimes(
        # hypothesis takes naive bounds and adds the zone itself
        min_value=datetime(2026, 1, 1),  # noqa: DTZ001
        max_value=datetime(2027, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    seconds=st.integers(1, 3 * 86400),
    cpus=st.integers(1, 64),
)
def test_split_is_exact(start: datetime, seconds: int, cpus: int) -> None:
    d = Demand(cpus=cpus, runtime_s=seconds, max_runtime_s=seconds)
    pieces = TARIFF.segments(d, start, seconds)
    assert all(m == CPU_METER for m, _ in pieces)
    segs = [s for _, s in pieces]
    assert sum(s.seconds for s in segs) == seconds  # billed seconds = engine seconds
    assert sum(s.quantity for s in segs) == cpus * seconds  # CPU-seconds, no rounding loss
    assert segs[0].start == start and segs[-1].end == start + timedelta(seconds=seconds)
    for s in segs:
        assert s.unit_price == PRICE[s.band]
        assert s.amount == s.unit_price * s.quantity
    months = {s.month for s in segs}
    assert len(months) == len(
        {(s.start.astimezone(TARIFF.cpu.zone).strftime("%Y-%m")) for s in segs}
    )


def test_month_end_and_windows() -> None:
    # 2026-11-30 22:30 → 2026-12-01 00:30 Shanghai: flat 22-23, valley 23-24 | new month, valley
    start = datetime(2026, 11, 30, 14, 30, tzinfo=UTC)
    d = Demand(cpus=2, runtime_s=7200, max_runtime_s=7200)
    segs = [s for _, s in TARIFF.segments(d, start, 7200)]
    assert [(s.month, s.band, s.seconds) for s in segs] == [
        ("2026-11", "flat", Decimal(1800)),
        ("2026-11", "valley", Decimal(3600)),
        ("2026-12", "valley", Decimal(1800)),
    ]
    # the matcher's estimate is the same arithmetic as the bill
    assert TARIFF(d, start, 7200) == sum(s.amount for s in segs).quantize(Decimal("0.0001"))


def test_gpu_pieces_and_bad_tariffs() -> None:
    d = Demand(cpus=1, gpus=2, gpu_model="A100", runtime_s=60, max_runtime_s=60)
    start = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # 12:00 Shanghai: peak
    pieces = TARIFF.segments(d, start, 60)
    assert {m for m, _ in pieces} == {CPU_METER, GPU_METER}
    assert TARIFF(d, start, 60) == Decimal("0.018") + Decimal("3.6")
    for bad in (
        {"cpu_second": {"peak": "-1"}},
        {"cpu_second": {"noon": "1"}},
        {"gpu_second": {"Z80": {"peak": "1"}}},
        {"colour": 1},
        {"cpu_second": {"peak": "1"}},
    ):
        with pytest.raises(InvalidInput) as exc:
            parse_tariff(bad)
        assert exc.value.field in ("tariff", "windows")
    assert read_tariff_arg("peak=0.3,flat=0.2,valley=0.1") == {
        "cpu_second": {"peak": "0.3", "flat": "0.2", "valley": "0.1"}
    }
