"""Working days of mainland China: holidays, adjusted working weekends, fallback, deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from mingyue.core.calendar import (
    add_working_days,
    calendar_covers,
    deadline_after,
    is_working_day,
    working_days_between,
)


def test_national_day_2025_is_a_holiday_week() -> None:
    # State Council notice for 2025: 1–8 October off (National Day and Mid-Autumn together).
    for day in range(1, 9):
        assert not is_working_day(date(2025, 10, day)), f"2025-10-0{day}"
    assert is_working_day(date(2025, 10, 9))
    assert is_working_day(date(2025, 9, 30))


def test_adjusted_weekends_are_working_days() -> None:
    assert date(2025, 9, 28).weekday() == 6  # a Sunday …
    assert is_working_day(date(2025, 9, 28))  # … worked in exchange (调休)
    assert date(2025, 10, 11).weekday() == 5
    assert is_working_day(date(2025, 10, 11))  # the Saturday after the holiday is worked too
    assert not is_working_day(date(2025, 10, 12))  # an ordinary Sunday
    assert not is_working_day(date(2025, 9, 27))  # an ordinary Saturday


def test_add_working_days_across_the_holiday() -> None:
    assert add_working_days(date(2025, 9, 30), 1) == date(2025, 10, 9)
    assert add_working_days(date(2025, 9, 26), 1) == date(2025, 9, 28)  # Fri → the worked Sunday
    # 9-29, 9-30, 10-9, 10-10, 10-11 (Sat, worked), 10-13 …
    assert add_working_days(date(2025, 9, 28), 5) == date(2025, 10, 11)
    assert add_working_days(date(2025, 9, 28), 6) == date(2025, 10, 13)
    assert add_working_days(date(2025, 10, 3), 0) == date(2025, 10, 3)
    assert add_working_days(date(2025, 10, 9), -1) == date(2025, 9, 30)


def test_working_days_between_inverts_add() -> None:
    start = date(2025, 9, 20)
    for n in range(0, 40):
        assert working_days_between(start, add_working_days(start, n)) == n
    assert working_days_between(date(2025, 9, 30), date(2025, 10, 8)) == 0
    assert working_days_between(date(2025, 10, 9), date(2025, 9, 30)) == -1


def test_outside_covered_years_monday_to_friday() -> None:
    assert calendar_covers(2025)
    assert not calendar_covers(1999) and not calendar_covers(2099)
    # 2099-10-01 is a Thursday: without data it is an ordinary working day.
    assert date(2099, 10, 1).weekday() == 3
    assert is_working_day(date(2099, 10, 1))
    assert not is_working_day(date(2099, 10, 3))  # Saturday
    assert add_working_days(date(2099, 10, 2), 1) == date(2099, 10, 5)  # Fri → Mon
    assert working_days_between(date(2099, 10, 1), date(2099, 10, 8)) == 5


def test_deadline_is_the_end_of_the_local_working_day_in_utc() -> None:
    # 2025-09-30 17:00 UTC is already 1 October 01:00 in Shanghai: counting starts in the holiday.
    due = deadline_after(datetime(2025, 9, 30, 17, 0, tzinfo=UTC), 1)
    assert due == datetime(2025, 10, 9, 15, 59, 59, tzinfo=UTC)  # 23:59:59 +08:00
    assert due.tzinfo is UTC
    due = deadline_after(datetime(2025, 9, 30, 3, 0, tzinfo=UTC), 1)
    assert due == datetime(2025, 10, 9, 15, 59, 59, tzinfo=UTC)
    assert deadline_after(datetime(2025, 9, 30, 3, 0, tzinfo=UTC), 0) == datetime(
        2025, 9, 30, 15, 59, 59, tzinfo=UTC
    )
    utc_due = deadline_after(datetime(2025, 9, 30, 17, 0, tzinfo=UTC), 1, tz="UTC")
    assert utc_due == datetime(2025, 10, 9, 23, 59, 59, tzinfo=UTC)
    with pytest.raises(ValueError):
        deadline_after(datetime(2025, 9, 30, 17, 0), 1)  # noqa: DTZ001 - naive on purpose
    with pytest.raises(ValueError):
        deadline_after(datetime(2025, 9, 30, tzinfo=UTC), -1)


def test_datetimes_count_by_their_date() -> None:
    at = datetime(2025, 10, 1, 12, 0, tzinfo=UTC)
    assert not is_working_day(at)
    assert add_working_days(at, 1) == date(2025, 10, 9)
    assert working_days_between(at, at + timedelta(days=8)) == 1
