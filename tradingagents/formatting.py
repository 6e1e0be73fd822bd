"""One format for money, counts and times on every admin page (lists, detail pages,
the usage dashboard): `$0.0123`, `3,034`, `2026-12-07 11:28:49` in the server's time
zone. Admin code calls these; templates use the filters of `{% load admin_formats %}`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

MISSING = "—"
SECONDS = "%Y-%m-%d %H:%M:%S"
# Below this a cost shown to 4 places would read as $0.0000: shown to 8 places instead.
SMALL = Decimal("0.0001")


def money(value: Decimal | float | int | None, *, unknown: str = MISSING) -> str:
    """USD: 4 decimal places (`$0.0123`, `$1,234.5000`); a non-zero amount under $0.0001
    keeps its significant digits up to 8 places (`$0.0000015`)."""
    if value is None:
        return unknown
    amount = Decimal(value) if not isinstance(value, Decimal) else value
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if amount and amount < SMALL:
        return f"{sign}${amount:.8f}".rstrip("0")
    return f"{sign}${amount:,.4f}"


def count(value: int | Decimal | None) -> str:
    """A whole number with thousands separators: `3,034`."""
    return MISSING if value is None else f"{int(value):,}"


def when(value: datetime | None) -> str:
    """To the second, in the server's time zone (TIME_ZONE): `2026-12-07 11:28:49`."""
    return MISSING if value is None else timezone.localtime(value).strftime(SECONDS)


def millis(value: int | None) -> str:
    return MISSING if value is None else f"{value:,} ms"


def percent(value: float) -> str:
    return f"{value * 100:.1f} %"
