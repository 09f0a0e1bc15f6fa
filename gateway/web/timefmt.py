"""Times as people at the box read them: the database keeps UTC ISO strings, the pages show
the configured local zone (WIB by default) with its abbreviation."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Asia/Jakarta"


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def parse_iso(value: str) -> datetime | None:
    """A stored timestamp; a naive one is UTC (the store writes UTC only)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def local_time(value: str | None, zone: str = DEFAULT_ZONE, *, with_date: bool = True) -> str:
    """`2024-02-14 14:02 WIB` (or `14:02 WIB`); '-' for no time; text that is not a
    timestamp is shown as it is rather than hidden."""
    if not value:
        return "-"
    parsed = parse_iso(value)
    if parsed is None:
        return value
    local = parsed.astimezone(_zone(zone))
    shown = local.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")
    return f"{shown} {local.tzname()}"
