"""The one way money is shown: exact decimals are kept, CNY is shown to the fen (0.01), half up.

Metering and statements store exact ``Decimal`` amounts; every page, statement, CLI table and
PDF shows them through ``format_cny`` (the console's ``money`` filter calls it), so that the same
amount never reads ¥0.10 on one page and 0.0026 on another.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


def to_fen(amount: Decimal | int | float | str) -> Decimal:
    """Return the amount rounded to the fen, half up (the platform's one rounding rule)."""
    try:
        # float goes through str: Decimal(0.1) would carry the binary error into the rounding.
        d = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {amount!r}") from exc
    if not d.is_finite():
        raise ValueError(f"not an amount: {amount!r}")
    return d.quantize(CENT, ROUND_HALF_UP)


def format_cny(amount: Decimal | int | float | str | None, *, symbol: bool = True) -> str:
    """Format an amount as people read it: ``¥1,234.57`` (``-¥0.50``; ``—`` for no amount)."""
    if amount is None or amount == "":
        return "—"
    fen = to_fen(amount)
    if fen == 0:
        fen = abs(fen)  # -0.00 after rounding a tiny credit reads as 0.00
    sign = "-" if fen < 0 else ""
    return f"{sign}{'¥' if symbol else ''}{abs(fen):,.2f}"
