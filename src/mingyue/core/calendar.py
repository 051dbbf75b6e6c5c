"""Working days of mainland China: statutory holidays and the weekends worked in exchange.

Time limits in regulation run in working days (工作日): 15 working days to rectify counts neither
the National Day week nor an ordinary weekend, but does count the Sunday worked in exchange
(调休). The dates come from the ``chinesecalendar`` package, which follows the State Council's
yearly notice; outside the years it covers a working day is Monday to Friday and
``calendar_covers(year)`` is False, so a caller can say a deadline is approximate.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import chinese_calendar

from mingyue.core import clock
from mingyue.core.config import get_settings

__all__ = [
    "add_working_days",
    "calendar_covers",
    "deadline_after",
    "is_working_day",
    "working_days_between",
]

_END_OF_DAY = time(23, 59, 59)


def calendar_covers(year: int) -> bool:
    """Tell whether the holiday data covers ``year`` (else working days are Monday to Friday)."""
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except (NotImplementedError, ValueError, OverflowError):
        return False
    return True


def is_working_day(d: date) -> bool:
    """Tell whether ``d`` is a working day in mainland China (Mon–Fri outside covered years)."""
    day = d.date() if isinstance(d, datetime) else d
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def add_working_days(start: date, n: int) -> date:
    """Return the n-th working day after ``start`` (before it when n < 0; ``start`` for 0).

    ``start`` itself is never counted: 1 working day after a Friday is the next working day.
    """
    day = start.date() if isinstance(start, datetime) else start
    step = timedelta(days=1 if n >= 0 else -1)
    left = abs(n)
    while left:
        day += step
        if is_working_day(day):
            left -= 1
    return day


def working_days_between(a: date, b: date) -> int:
    """Count the working days after ``a`` up to and including ``b`` (negative when b < a).

    The inverse of ``add_working_days``: ``working_days_between(a, add_working_days(a, n)) == n``.
    """
    start = a.date() if isinstance(a, datetime) else a
    end = b.date() if isinstance(b, datetime) else b
    if end < start:
        return -working_days_between(end, start)
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return count


def deadline_after(start: datetime, working_days: int, *, tz: str | None = None) -> datetime:
    """Return the end (23:59:59 local) of the n-th working day after ``start``'s local date.

    Local is the platform's display zone (setting ``timezone``, Asia/Shanghai) unless ``tz`` is
    given; the result is timezone-aware UTC.
    """
    if start.tzinfo is None:
        raise ValueError("deadline_after() needs a timezone-aware start")
    if working_days < 0:
        raise ValueError("working_days must not be negative")
    zone = clock.zone(tz or get_settings().timezone)
    local_day = start.astimezone(zone).date()
    due = add_working_days(local_day, working_days)
    return datetime.combine(due, _END_OF_DAY, tzinfo=zone).astimezone(UTC)
