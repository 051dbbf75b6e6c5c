"""Pure time-of-use splitting and pricing: exact splits at windows and months (hypothesis)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mingyue.core.errors import InvalidInput
from mingyue.core.metering.tou import (
    DEFAULT_WINDOWS,
    TariffSpec,
    iter_compute_split,
    month_bounds,
    parse_windows,
    price_interval,
    prorate,
    split_interval,
)

SH = ZoneInfo("Asia/Shanghai")
PRICES = {"peak": Decimal("1.2345"), "flat": Decimal("0.8"), "valley": Decimal("0.3333")}
TARIFF = TariffSpec(meter="core.api_calls", prices=PRICES, id=1)
WINDOWS = parse_windows(DEFAULT_WINDOWS)

# hypothesis takes naive bounds and attaches the zone itself
starts = st.datetimes(
    min_value=datetime(2024, 1, 1),  # noqa: DTZ001
    max_value=datetime(2027, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
lengths = st.integers(min_value=1, max_value=70 * 24 * 3600 * 1_000_000).map(
    lambda us: timedelta(microseconds=us)
)
quantities = st.decimals(
    min_value=Decimal(0), max_value=Decimal("1e9"), places=9, allow_nan=False, allow_infinity=False
)


def _window_of(moment: datetime) -> tuple[str, int]:
    local = moment.astimezone(SH)
    minute = local.hour * 60 + local.minute
    for i, w in enumerate(WINDOWS):
        if w.start_min <= minute < w.end_min:
            return w.band, i
    raise AssertionError


def test_default_windows_cover_the_day_in_three_eight_hour_bands() -> None:
    minutes = {"peak": 0, "flat": 0, "valley": 0}
    for w in WINDOWS:
        minutes[w.band] += w.end_min - w.start_min
    assert minutes == {"peak": 480, "flat": 480, "valley": 480}


@pytest.mark.parametrize(
    "windows",
    [
        [{"band": "peak", "start": "00:00", "end": "12:00"}],
        [
            {"band": "peak", "start": "00:00", "end": "13:00"},
            {"band": "flat", "start": "12:00", "end": "00:00"},
        ],
        [{"band": "super", "start": "00:00", "end": "24:00"}],
        [{"band": "peak", "start": "25:00", "end": "24:00"}],
    ],
)
def test_bad_windows_refused(windows: list[dict[str, str]]) -> None:
    with pytest.raises(InvalidInput):
        parse_windows(windows)


def test_wrapping_window_is_accepted() -> None:
    ws = parse_windows(
        [
            {"band": "valley", "start": "23:00", "end": "07:00"},
            {"band": "flat", "start": "07:00", "end": "23:00"},
        ]
    )
    assert [(w.band, w.start_min, w.end_min) for w in ws] == [
        ("valley", 0, 420),
        ("flat", 420, 1380),
        ("valley", 1380, 1440),
    ]


def test_known_split_across_month_end() -> None:
    # 2026-01-31 18:00 to 2026-02-01 10:00 Shanghai time
    start = datetime(2026, 1, 31, 18, tzinfo=SH)
    end = datetime(2026, 2, 1, 10, tzinfo=SH)
    segs = price_interval(TARIFF, start, end, Decimal(16))
    got = [
        (s.start.astimezone(SH).hour, s.end.astimezone(SH).hour, s.month, s.band, s.quantity)
        for s in segs
    ]
    assert got == [
        (18, 20, "2026-01", "flat", Decimal(2)),
        (20, 22, "2026-01", "peak", Decimal(2)),
        (22, 23, "2026-01", "flat", Decimal(1)),
        (23, 0, "2026-01", "valley", Decimal(1)),
        (0, 7, "2026-02", "valley", Decimal(7)),
        (7, 10, "2026-02", "flat", Decimal(3)),
    ]
    assert sum(s.amount for s in segs) == (
        Decimal(6) * PRICES["flat"] + 2 * PRICES["peak"] + 8 * PRICES["valley"]
    )


def test_rate_per_second_prices_exact_lengths() -> None:
    start = datetime(2026, 3, 1, 3, 0, 0, 500000, tzinfo=UTC)  # 11:00:00.5 local, peak
    segs = price_interval(TARIFF, start, start + timedelta(seconds=10), rate_per_second=Decimal(4))
    assert [(s.band, s.quantity) for s in segs] == [("peak", Decimal(40))]


def test_tariff_change_mid_interval_uses_each_days_tariff() -> None:
    old = TariffSpec(meter="m", prices=PRICES, effective_to=date(2026, 5, 2), id=1)
    new = TariffSpec(
        meter="m",
        prices={b: p * 2 for b, p in PRICES.items()},
        effective_from=date(2026, 5, 2),
        id=2,
    )
    segs = price_interval(
        [old, new],
        datetime(2026, 5, 1, 23, tzinfo=SH),
        datetime(2026, 5, 2, 1, tzinfo=SH),
        Decimal(2),
    )
    assert [(s.tariff_id, s.unit_price) for s in segs] == [
        (1, PRICES["valley"]),
        (2, PRICES["valley"] * 2),
    ]


def test_day_without_tariff_is_unpriced() -> None:
    t = TariffSpec(meter="m", prices=PRICES, effective_from=date(2026, 5, 2), id=1)
    segs = price_interval(
        t, datetime(2026, 5, 1, 23, tzinfo=SH), datetime(2026, 5, 2, 1, tzinfo=SH), Decimal(2)
    )
    assert [(s.band, s.unit_price, s.amount) for s in segs] == [
        ("unpriced", None, Decimal(0)),
        ("valley", PRICES["valley"], PRICES["valley"]),
    ]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
        (datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
        (datetime(2026, 1, 1), datetime(2026, 1, 2)),  # noqa: DTZ001 - naive on purpose
        (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 6, 1, tzinfo=UTC)),
    ],
)
def test_bad_intervals_refused(start: datetime, end: datetime) -> None:
    with pytest.raises(InvalidInput):
        price_interval(TARIFF, start, end, Decimal(1))


def test_float_and_negative_quantities_refused() -> None:
    s, e = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    with pytest.raises(InvalidInput):
        price_interval(TARIFF, s, e, 1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        price_interval(TARIFF, s, e, Decimal(-1))
    with pytest.raises(InvalidInput):
        price_interval(TARIFF, s, e, Decimal(1), rate_per_second=Decimal(1))


def test_month_bounds_are_shanghai_midnights() -> None:
    lo, hi = month_bounds("2026-12")
    assert lo == datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert hi == datetime(2026, 12, 31, 16, tzinfo=UTC)
    with pytest.raises(InvalidInput):
        month_bounds("2026-13")


@settings(max_examples=300, deadline=None)
@given(start=starts, length=lengths, quantity=quantities)
def test_split_is_exact(start: datetime, length: timedelta, quantity: Decimal) -> None:
    end = start + length
    segs = price_interval(TARIFF, start, end, quantity)
    # the pieces tile [start, end) with no gap or overlap
    assert segs[0].start == start and segs[-1].end == end
    assert all(a.end == b.start for a, b in itertools.pairwise(segs))
    assert sum(s.seconds for s in segs) == Decimal(
        (end - start) // timedelta(microseconds=1)
    ) / Decimal(1_000_000)
    # prorated quantities add up exactly, and none is negative
    assert sum((s.quantity for s in segs), Decimal(0)) == quantity
    assert all(s.quantity >= 0 for s in segs)
    for s in segs:
        # every piece lies inside one window and one local month
        last = s.end - timedelta(microseconds=1)
        assert _window_of(s.start) == _window_of(last)
        assert s.band == _window_of(s.start)[0]
        assert s.start.astimezone(SH).strftime("%Y-%m") == last.astimezone(SH).strftime("%Y-%m")
        assert s.month == s.start.astimezone(SH).strftime("%Y-%m")
        # and is priced quantity x band price, exactly
        assert s.unit_price == PRICES[s.band]
        assert s.amount == s.quantity * PRICES[s.band]
    # a boundary crossed means a cut: consecutive pieces differ in window or day
    for a, b in itertools.pairwise(segs):
        assert (
            _window_of(a.start)[1] != _window_of(b.start)[1]
            or a.start.astimezone(SH).date() != b.start.astimezone(SH).date()
        )


@settings(max_examples=200, deadline=None)
@given(
    total=quantities,
    weights=st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=40).filter(
        lambda w: sum(w) > 0
    ),
)
def test_prorate_sums_exactly(total: Decimal, weights: list[int]) -> None:
    shares = prorate(total, weights)
    assert sum(shares, Decimal(0)) == total
    assert all(s >= 0 for s in shares)


def test_split_interval_default_windows() -> None:
    segs = split_interval(datetime(2026, 6, 1, tzinfo=SH), datetime(2026, 6, 2, tzinfo=SH))
    assert [s.band for s in segs] == ["valley", "flat", "peak", "flat", "peak", "flat", "valley"]


@pytest.mark.parametrize(
    "windows",
    [
        [{"band": "peak", "start": "7am", "end": "24:00"}],
        [{"band": "peak", "start": "12:00", "end": "12:00"}],
        [{"band": "peak", "start": "24:00", "end": "12:00"}],
    ],
)
def test_malformed_window_times_refused(windows: list[dict[str, str]]) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_windows(windows)
    assert exc.value.key == "core.tariff.bad_window"


def test_negative_or_missing_band_price_refused() -> None:
    with pytest.raises(InvalidInput):
        TariffSpec(meter="m", prices={**PRICES, "peak": Decimal(-1)})
    with pytest.raises(InvalidInput):
        TariffSpec(meter="m", prices={"flat": Decimal(1)})


def test_prorate_refuses_empty_weights() -> None:
    with pytest.raises(InvalidInput):
        prorate(Decimal(1), [0, 0])


@settings(max_examples=100, deadline=None)
@given(start=starts, length=lengths)
def test_compute_split_adapter_gives_whole_seconds_summing_to_the_span(
    start: datetime, length: timedelta
) -> None:
    pieces = list(iter_compute_split(TARIFF)(start, start + length))
    total_us = length // timedelta(microseconds=1)
    assert sum(sec for _band, sec in pieces) == (total_us + 500_000) // 1_000_000
    assert all(band in PRICES for band, _sec in pieces)
