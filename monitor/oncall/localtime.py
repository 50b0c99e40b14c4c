"""Local wall-clock times of a schedule's zone as instants, the way maintenance windows read them.

A handoff at 09:00 Europe/Berlin is 09:00 on the wall on both sides of a clock change. Two wall
times have no single instant:

- one that does not exist (the spring-forward gap: 02:30 on 2026-03-29 in Europe/Berlin, where
  02:00 CET jumps to 03:00 CEST) is the moment of the jump (03:00 CEST, 01:00 UTC), as cron runs
  a job scheduled in the gap and as `monitor.detection.maintenance` starts a window there;
- one that happens twice (the fall-back hour: 02:30 on 2026-10-25) is its first occurrence
  (fold=0: 02:30 CEST, 00:30 UTC).

The mapping never goes backwards: a later wall time is never an earlier instant, so handoffs
stay in order (two may fall on the same instant, in the gap).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_SECOND = timedelta(seconds=1)


def require_aware(at: datetime, name: str) -> datetime:
    """`at` in UTC; a naive datetime is a caller's bug (which zone would it be in?)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {at.isoformat()}")
    return at.astimezone(UTC)


def local_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the clocks in `zone` show the naive wall time `wall`."""
    if wall.tzinfo is not None:
        raise ValueError(f"wall must be a naive local time, got {wall.isoformat()}")
    # fold=0: of a repeated wall time, the first; in a gap, read with the offset before it.
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    return _end_of_gap(wall, zone)


def _end_of_gap(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant the clocks jump past the non-existent wall time `wall`."""
    # With the offset after the change (fold=1) `wall` maps to an instant before the change,
    # with the offset before it (fold=0) to one after. Bisect in whole seconds: tz database
    # transitions fall on them, so both bounds are moved onto whole seconds first (an override
    # may say 02:30:15.5). The same search as maintenance windows', which keep theirs private.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC).replace(microsecond=0)
    after = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if after.microsecond:
        after = after.replace(microsecond=0) + _SECOND
    while after - before > _SECOND:
        middle = before + _SECOND * ((after - before) // (2 * _SECOND))
        if middle.astimezone(zone).replace(tzinfo=None) > wall:
            after = middle
        else:
            before = middle
    return after
