"""SLA clocks on working hours: add a time limit to a moment, measure working hours between two.

A working day is a day the calendar says is one (the sdk's mainland calendar: statutory holidays
off, adjusted weekends worked); its working hours are the day's windows in the local zone
(``09:00-12:00,14:00-18:00``). ``wd`` limits count whole working days of those hours, ``h`` limits
run on the clock day and night (emergencies).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mingyue.sdk.errors import InvalidInput

_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
MAX_DAYS = 3660  # a limit never spans more than ten years of days


def parse_windows(text: str) -> tuple[tuple[time, time], ...]:
    """Parse ``HH:MM-HH:MM,…`` into ordered, non-overlapping windows (InvalidInput otherwise)."""
    windows: list[tuple[time, time]] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        m = _WINDOW.match(part)
        if not m:
            raise InvalidInput(
                "citygov.bad_work_hours", f"{part!r} is not HH:MM-HH:MM", field="work_hours"
            )
        start = time(int(m.group(1)), int(m.group(2)))
        end = (
            time(23, 59, 59, 999999)
            if m.group(3) == "24"
            else time(int(m.group(3)), int(m.group(4)))
        )
        if end <= start or (windows and start < windows[-1][1]):
            raise InvalidInput(
                "citygov.bad_work_hours", f"{part!r} is empty or overlaps", field="work_hours"
            )
        windows.append((start, end))
    if not windows:
        raise InvalidInput("citygov.bad_work_hours", "no working hours", field="work_hours")
    return tuple(windows)


@dataclass(frozen=True)
class WorkCalendar:
    """Working hours of a city: day windows, its zone and which dates are working days."""

    windows: tuple[tuple[time, time], ...]
    zone: ZoneInfo
    is_working_day: Callable[[date], bool]

    @property
    def hours_per_day(self) -> float:
        """Return the working hours of one working day."""
        return sum(_span(a, b) for a, b in self.windows) / 3600

    def _day_windows(self, day: date) -> list[tuple[datetime, datetime]]:
        if not self.is_working_day(day):
            return []
        return [
            (datetime.combine(day, a, self.zone), datetime.combine(day, b, self.zone))
            for a, b in self.windows
        ]

    def add(self, start: datetime, amount: float, unit: str) -> datetime:
        """Return when a limit of ``amount`` ``unit`` (wh, wd, h) started at ``start`` runs out."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if unit == "h":
            return (start + timedelta(hours=amount)).astimezone(UTC)
        if unit == "wd":
            amount = amount * self.hours_per_day
        elif unit != "wh":
            raise ValueError(f"unknown limit unit {unit!r}")
        left = timedelta(hours=amount)
        local = start.astimezone(self.zone)
        day = local.date()
        for _ in range(MAX_DAYS):
            for a, b in self._day_windows(day):
                begin = max(a, local)
                if begin >= b:
                    continue
                if begin + left <= b:
                    return (begin + left).astimezone(UTC)
                left -= b - begin
            day += timedelta(days=1)
        raise InvalidInput("citygov.limit_too_long", "the time limit never ends", field="limit")

    def between(self, a: datetime, b: datetime) -> float:
        """Return the working hours between two moments (0 when ``b`` is not after ``a``)."""
        if b <= a:
            return 0.0
        la, lb = a.astimezone(self.zone), b.astimezone(self.zone)
        total = timedelta()
        day = la.date()
        for _ in range(MAX_DAYS):
            if day > lb.date():
                break
            for s, e in self._day_windows(day):
                lo, hi = max(s, la), min(e, lb)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds() / 3600

    def elapsed(self, a: datetime, b: datetime, unit: str) -> float:
        """Return the time between two moments in the hours a limit of ``unit`` counts."""
        if unit == "h":
            return max(0.0, (b - a).total_seconds() / 3600)
        return self.between(a, b)


def _span(a: time, b: time) -> float:
    base = date(2000, 1, 3)
    return (datetime.combine(base, b) - datetime.combine(base, a)).total_seconds()
