"""Deadlines in working days, on a calendar the caller provides (the core knows the holidays)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from .errors import DeadlineError

# No official calendar has a run of non-working days this long (the Spring Festival break is ~9).
MAX_GAP_DAYS = 31


def deadline(start_date: date, working_days: int, is_working_day: Callable[[date], bool]) -> date:
    """Return the last day of a period of ``working_days`` working days starting after ``start_date``.

    The day the period starts (the order is served) is not counted; counting begins on the next
    day (民法典 Art. 201(1): 开始的当日不计入，自下一日开始计算), and only days for which
    ``is_working_day`` is true count, so the result is always a working day (行政处罚法 Art. 85:
    工作日，不含法定节假日). Zero working days returns ``start_date``.
    """
    if isinstance(working_days, bool) or not isinstance(working_days, int):
        raise DeadlineError("working_days", "must be an integer")
    if working_days < 0:
        raise DeadlineError("working_days", "must not be negative")
    if not isinstance(start_date, date):
        raise DeadlineError("start_date", "must be a date")
    day = start_date
    left = working_days
    gap = 0
    while left:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
            gap = 0
        else:
            gap += 1
            if gap > MAX_GAP_DAYS:
                raise DeadlineError(
                    "is_working_day",
                    f"no working day in the {MAX_GAP_DAYS} days after {day - timedelta(days=gap)}",
                )
    return day


def working_days_between(start: date, end: date, is_working_day: Callable[[date], bool]) -> int:
    """Count working days after ``start`` up to and including ``end`` (0 when ``end <= start``)."""
    count = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return count
