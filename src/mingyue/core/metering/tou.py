"""Time-of-use tariffs as pure functions: split an interval exactly, prorate, price (分时计费).

An interval ``[start, end)`` is cut at every tariff-window boundary and at every local midnight
(so at every month boundary) in the tariff's time zone (Asia/Shanghai by default). A quantity is
prorated over the pieces by microseconds with a telescoping rounding (``round(Q·c_i/T) -
round(Q·c_{i-1}/T)``), so the pieces always add up to the quantity exactly. Each piece's amount
is ``quantity x band price`` in ``Decimal`` — no float anywhere.

Default windows (``DEFAULT_WINDOWS``) follow the *shape* of Chongqing's time-of-use electricity
tariff (分时电价): a midday and an evening peak, shoulders in between, a night valley —
peak 11:00-17:00 and 20:00-22:00, flat 07:00-11:00, 17:00-20:00 and 22:00-23:00,
valley 23:00-07:00 (8 h each). They are a default for new tariffs, not a quotation of the
grid's prices; prices always live in tariffs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from zoneinfo import ZoneInfo

from mingyue.core.errors import InvalidInput

SHANGHAI = ZoneInfo("Asia/Shanghai")
BANDS: tuple[str, ...] = ("peak", "flat", "valley")
UNPRICED = "unpriced"
# Quantities are prorated to this quantum; the last piece absorbs nothing: the telescoping
# rounding makes the sum exact whatever the quantum.
QUANTITY_QUANTUM = Decimal("0.000000001")
MAX_INTERVAL = timedelta(days=400)
# Dates far outside the platform's life are refused rather than overflowing datetime arithmetic.
MIN_YEAR, MAX_YEAR = 1970, 2999
_DAY_MINUTES = 24 * 60
_US = timedelta(microseconds=1)

DEFAULT_WINDOWS: tuple[dict[str, str], ...] = (
    {"band": "valley", "start": "00:00", "end": "07:00"},
    {"band": "flat", "start": "07:00", "end": "11:00"},
    {"band": "peak", "start": "11:00", "end": "17:00"},
    {"band": "flat", "start": "17:00", "end": "20:00"},
    {"band": "peak", "start": "20:00", "end": "22:00"},
    {"band": "flat", "start": "22:00", "end": "23:00"},
    {"band": "valley", "start": "23:00", "end": "24:00"},
)


@dataclass(frozen=True)
class Window:
    """A band over local wall-clock minutes ``[start_min, end_min)`` of every day."""

    band: str
    start_min: int
    end_min: int


def _minutes(text: str, what: str) -> int:
    try:
        hh, mm = text.split(":")
        h, m = int(hh), int(mm)
    except ValueError as exc:
        raise InvalidInput(
            "core.tariff.bad_window", f"{what}: expected HH:MM, got {text!r}", field="windows"
        ) from exc
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m != 0):
        raise InvalidInput(
            "core.tariff.bad_window", f"{what}: {text!r} is not a time of day", field="windows"
        )
    return h * 60 + m


def parse_windows(raw: Sequence[Mapping[str, str]]) -> tuple[Window, ...]:
    """Validate windows ``{band, start "HH:MM", end "HH:MM"}`` that cover the day exactly once."""
    pieces: list[Window] = []
    for i, w in enumerate(raw):
        band = str(w.get("band", ""))
        if band not in BANDS:
            raise InvalidInput(
                "core.tariff.bad_band",
                f"windows[{i}].band must be one of {', '.join(BANDS)}",
                field="windows",
            )
        s = _minutes(str(w.get("start", "")), f"windows[{i}].start")
        e = _minutes(str(w.get("end", "")), f"windows[{i}].end")
        e = _DAY_MINUTES if e == 0 else e
        if s in (_DAY_MINUTES, e):
            raise InvalidInput("core.tariff.bad_window", f"windows[{i}] is empty", field="windows")
        if s < e:
            pieces.append(Window(band, s, e))
        else:  # wraps midnight, e.g. 23:00-07:00
            pieces.append(Window(band, s, _DAY_MINUTES))
            pieces.append(Window(band, 0, e))
    pieces.sort(key=lambda p: p.start_min)
    cursor = 0
    for p in pieces:
        if p.start_min != cursor:
            kind = "overlap" if p.start_min < cursor else "gap"
            raise InvalidInput(
                "core.tariff.windows_not_covering",
                f"windows leave a {kind} at minute {min(cursor, p.start_min)}",
                field="windows",
            )
        cursor = p.end_min
    if cursor != _DAY_MINUTES:
        raise InvalidInput(
            "core.tariff.windows_not_covering",
            f"windows leave a gap at minute {cursor}",
            field="windows",
        )
    return tuple(pieces)


@dataclass(frozen=True)
class TariffSpec:
    """A tariff as plain data: per-band prices per unit, windows, time zone, effective dates."""

    meter: str
    prices: Mapping[str, Decimal]
    windows: tuple[Window, ...] = field(default_factory=lambda: parse_windows(DEFAULT_WINDOWS))
    currency: str = "CNY"
    tz: str = "Asia/Shanghai"
    effective_from: date = date(2000, 1, 1)
    effective_to: date | None = None  # exclusive
    id: int | None = None

    def __post_init__(self) -> None:
        for band in {w.band for w in self.windows}:
            price = self.prices.get(band)
            if not isinstance(price, Decimal) or not price.is_finite() or price < 0:
                raise InvalidInput(
                    "core.tariff.bad_price",
                    f"band {band}: a price is a Decimal ≥ 0",
                    field="prices",
                )

    @property
    def zone(self) -> ZoneInfo:
        """Return the tariff's time zone."""
        return ZoneInfo(self.tz)

    def in_force(self, day: date) -> bool:
        """Tell whether the tariff applies on this local date."""
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)


@dataclass(frozen=True)
class Segment:
    """A piece of an interval inside one window of one tariff and one local month."""

    start: datetime
    end: datetime
    month: str
    band: str
    tariff: TariffSpec | None = field(default=None, compare=False, repr=False)

    @property
    def tariff_id(self) -> int | None:
        """Return the id of the segment's tariff (None: unpriced or an unsaved spec)."""
        return self.tariff.id if self.tariff is not None else None

    @property
    def microseconds(self) -> int:
        """Return the piece's length in microseconds."""
        return (self.end - self.start) // _US


@dataclass(frozen=True)
class PricedSegment:
    """A segment with its prorated quantity, unit price and amount (``None`` price: unpriced)."""

    start: datetime
    end: datetime
    month: str
    band: str
    quantity: Decimal
    unit_price: Decimal | None
    amount: Decimal
    tariff_id: int | None = None
    currency: str | None = None

    @property
    def seconds(self) -> Decimal:
        """Return the piece's length in seconds, exactly."""
        return Decimal((self.end - self.start) // _US) / Decimal(1_000_000)


def _check_interval(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput(
            "core.usage.naive_time", "start and end must be timezone-aware", field="start"
        )
    for name, moment in (("start", start), ("end", end)):
        if not MIN_YEAR <= moment.year <= MAX_YEAR:
            raise InvalidInput(
                "core.usage.out_of_range",
                f"{name}: the year must lie in {MIN_YEAR}..{MAX_YEAR}",
                field=name,
            )
    if end <= start:
        raise InvalidInput("core.usage.bad_interval", "end must be after start", field="end")
    if end - start > MAX_INTERVAL:
        raise InvalidInput(
            "core.usage.interval_too_long",
            f"an interval may span at most {MAX_INTERVAL.days} days",
            field="end",
        )


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _split(
    start: datetime, end: datetime, zone: ZoneInfo, tariff_for: Callable[[date], TariffSpec | None]
) -> list[Segment]:
    _check_interval(start, end)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    day = start.astimezone(zone).date()
    out: list[Segment] = []
    while True:
        day_start = _local_midnight(day, zone)
        if day_start >= end:
            break
        nxt = day + timedelta(days=1)
        day_end = _local_midnight(nxt, zone)
        tariff = tariff_for(day)
        if tariff is None:
            bounds = [(day_start, UNPRICED)]
        else:
            bounds = [
                (
                    datetime.combine(
                        day, time(w.start_min // 60, w.start_min % 60), tzinfo=zone
                    ).astimezone(UTC),
                    w.band,
                )
                for w in tariff.windows
            ]
        for i, (b_start, band) in enumerate(bounds):
            b_end = bounds[i + 1][0] if i + 1 < len(bounds) else day_end
            s, e = max(b_start, start), min(b_end, end)
            if s < e:
                month = f"{day.year:04d}-{day.month:02d}"
                out.append(Segment(s, e, month, band, tariff))
        day = nxt
    return out


def split_interval(
    start: datetime,
    end: datetime,
    windows: Sequence[Window] | None = None,
    tz: str = "Asia/Shanghai",
) -> list[Segment]:
    """Split ``[start, end)`` at every window boundary and local midnight (months included)."""
    spec = TariffSpec(
        meter="",
        prices=dict.fromkeys(BANDS, Decimal(0)),
        windows=tuple(windows) if windows else parse_windows(DEFAULT_WINDOWS),
        tz=tz,
    )
    return _split(start, end, spec.zone, lambda _d: spec)


def prorate(total: Decimal, weights: Sequence[int]) -> list[Decimal]:
    """Share ``total`` over integer weights so that the shares add up to ``total`` exactly."""
    whole = sum(weights)
    if whole <= 0 or any(w < 0 for w in weights):
        raise InvalidInput("core.usage.bad_interval", "weights must be positive", field="end")
    shares: list[Decimal] = []
    prev = Decimal(0)
    cum = 0
    with localcontext() as ctx:
        ctx.prec = 80
        for i, w in enumerate(weights):
            cum += w
            if i == len(weights) - 1:
                point = total
            else:
                point = (total * cum / whole).quantize(QUANTITY_QUANTUM, ROUND_HALF_EVEN)
            shares.append(point - prev)
            prev = point
    return shares


def price_segments(
    segments: Sequence[Segment], quantities: Sequence[Decimal]
) -> list[PricedSegment]:
    """Price each segment's quantity at its tariff's band price (unpriced pieces cost 0)."""
    out: list[PricedSegment] = []
    for seg, q in zip(segments, quantities, strict=True):
        tariff = seg.tariff if seg.band != UNPRICED else None
        price = tariff.prices[seg.band] if tariff is not None else None
        amount = q * price if price is not None else Decimal(0)
        out.append(
            PricedSegment(
                seg.start,
                seg.end,
                seg.month,
                seg.band,
                q,
                price,
                amount,
                seg.tariff_id,
                tariff.currency if tariff else None,
            )
        )
    return out


def price_interval(
    tariff: TariffSpec | Sequence[TariffSpec],
    start: datetime,
    end: datetime,
    quantity: Decimal | None = None,
    *,
    rate_per_second: Decimal | None = None,
    tz: str | None = None,
) -> list[PricedSegment]:
    """Split ``[start, end)`` exactly and price it with the tariff(s) in force on each day.

    Give either ``quantity`` (prorated over the pieces by time, summing to it exactly) or
    ``rate_per_second`` (each piece's quantity is the rate times its exact length in seconds).
    Several tariffs of one meter may be given; each day uses the one in force (none: unpriced).
    Days and months are cut in ``tz`` (default: the first tariff's zone, else Asia/Shanghai).
    """
    tariffs = [tariff] if isinstance(tariff, TariffSpec) else list(tariff)
    if (quantity is None) == (rate_per_second is None):
        raise InvalidInput(
            "core.usage.bad_quantity", "give quantity or rate_per_second", field="quantity"
        )
    given = quantity if quantity is not None else rate_per_second
    if not isinstance(given, Decimal) or not given.is_finite() or given < 0:
        raise InvalidInput(
            "core.usage.bad_quantity", "quantity must be a Decimal ≥ 0", field="quantity"
        )
    zone = ZoneInfo(tz) if tz else tariffs[0].zone if tariffs else SHANGHAI

    def tariff_for(day: date) -> TariffSpec | None:
        return next((t for t in tariffs if t.in_force(day)), None)

    segments = _split(start, end, zone, tariff_for)
    if quantity is not None:
        quantities = prorate(quantity, [s.microseconds for s in segments])
    else:
        if rate_per_second is None:
            raise ValueError("price needs a quantity or a rate per second")
        quantities = [
            rate_per_second * Decimal(s.microseconds) / Decimal(1_000_000) for s in segments
        ]
    return price_segments(segments, quantities)


def month_bounds(month: str, tz: str = "Asia/Shanghai") -> tuple[datetime, datetime]:
    """Return the UTC instants ``[first local midnight, next month's)`` of ``YYYY-MM``."""
    try:
        y, m = (int(x) for x in month.split("-"))
        first = date(y, m, 1)
        if not MIN_YEAR <= y <= MAX_YEAR:
            raise ValueError(month)
    except ValueError as exc:
        raise InvalidInput(
            "core.billing.bad_month", f"month must be YYYY-MM, got {month!r}", field="month"
        ) from exc
    nxt = date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)
    zone = ZoneInfo(tz)
    return _local_midnight(first, zone), _local_midnight(nxt, zone)


def iter_compute_split(
    tariff: TariffSpec,
) -> Callable[[datetime, datetime], Iterator[tuple[str, int]]]:
    """Adapt a tariff to the compute enabler's ``split(start, end) -> (band, seconds)`` shape."""

    def split(start: datetime, end: datetime) -> Iterator[tuple[str, int]]:
        def tariff_for(day: date) -> TariffSpec | None:
            return tariff if tariff.in_force(day) else None

        # whole seconds by telescoping rounding, so the pieces add up to the span's seconds
        done_us = 0
        done_s = 0
        for seg in _split(start, end, tariff.zone, tariff_for):
            done_us += seg.microseconds
            upto = (done_us + 500_000) // 1_000_000
            yield seg.band, upto - done_s
            done_s = upto

    return split
