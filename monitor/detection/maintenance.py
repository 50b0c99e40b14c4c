"""Maintenance windows: when a probe's failures are expected and must not page anyone.

Pure functions of the config and an instant; no clock, no I/O.

Semantics, exactly:

- An occurrence starts at the local wall-clock `start` on each listed weekday, in the window's
  `timezone`, and lasts `duration` of real elapsed time. "02:00 for 1h" is one real hour even on a
  night the clocks change. It covers the half-open interval [start, end): at `end` the probe is no
  longer in maintenance.
- A start time that does not exist that day (the spring-forward gap, e.g. 02:30 on 2026-03-29 in
  Europe/Berlin, where 02:00 CET jumps to 03:00 CEST) starts at the first instant after the gap:
  the moment of the change (03:00 CEST, 01:00 UTC). This is not what zoneinfo's fold=0 round trip
  through UTC gives (02:30 read with the old offset is 03:30 CEST, half an hour later): cron runs
  a job scheduled in the gap right after the change, so maintenance begins then, and the window
  must too. The `duration` counts from there (02:30 for 1h: 03:00 to 04:00 CEST).
- A start time that occurs twice (the fall-back hour, e.g. 02:30 on 2026-10-25 in Europe/Berlin)
  starts at its first occurrence (fold=0: 02:30 CEST, 00:30 UTC), once.
- Occurrences may cross midnight or last several days (at most a week, as the config allows); an
  occurrence belongs to the day it starts on. When occurrences overlap (daily for 2 days), the
  probe is in maintenance while any of them covers the instant.
- Instants must be timezone-aware (any zone); a naive datetime raises `ValueError`. Returned
  instants are in UTC.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from monitor.config.models import WEEKDAYS, MaintenanceConfig

_DAY = timedelta(days=1)


def _require_aware(at: datetime, name: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {at.isoformat()}")
    return at.astimezone(UTC)


@dataclass(frozen=True)
class MaintenanceWindow:
    probes: frozenset[str] | None  # None: every probe
    weekdays: frozenset[int]  # 0 = Monday, as datetime.weekday()
    start: time
    duration: timedelta
    zone: ZoneInfo
    reason: str | None = None

    def __post_init__(self) -> None:
        # Without a day no occurrence would ever come, and next_occurrence could not answer.
        if not self.weekdays or not self.weekdays <= frozenset(range(7)):
            raise ValueError(f"weekdays must be a non-empty subset of 0..6, got {self.weekdays}")
        if self.duration <= timedelta(0):
            raise ValueError(f"duration must be positive, got {self.duration}")
        if self.start.tzinfo is not None:
            raise ValueError("start is a wall-clock time in `zone`; it must not carry a tzinfo")

    @classmethod
    def from_config(cls, config: MaintenanceConfig) -> MaintenanceWindow:
        return cls(
            probes=frozenset(config.probes) if config.probes is not None else None,
            weekdays=frozenset(WEEKDAYS.index(day) for day in config.every),
            start=config.start,
            duration=config.duration,
            zone=ZoneInfo(config.timezone),
            reason=config.reason,
        )

    def applies_to(self, probe: str) -> bool:
        return self.probes is None or probe in self.probes

    def occurrence_at(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The (start, end) in UTC of the occurrence covering `at` (start <= at < end), or None.

        Of overlapping occurrences, the one that started last (so ends last)."""
        now = _require_aware(at, "at")
        # An occurrence covering `now` starts in (now - duration, now]; a day either side allows
        # for a start moved by a DST gap and for offsets that change the local date.
        first = (now - self.duration).astimezone(self.zone).date() - _DAY
        last = now.astimezone(self.zone).date() + _DAY
        for day in _days_between(last, first, step=-1):
            if day.weekday() not in self.weekdays:
                continue
            start = self._start_on(day)
            end = start + self.duration
            if start <= now < end:
                return start, end
        return None

    def next_occurrence(self, after: datetime) -> tuple[datetime, datetime]:
        """The (start, end) in UTC of the first occurrence starting strictly after `after`.

        An occurrence in progress at `after` is not returned (see `occurrence_at`)."""
        now = _require_aware(after, "after")
        first = now.astimezone(self.zone).date() - _DAY
        # Every listed weekday comes once a week; a day of slack for a start moved by a DST gap.
        for day in _days_between(first, first + 9 * _DAY, step=1):
            if day.weekday() not in self.weekdays:
                continue
            start = self._start_on(day)
            if start > now:
                return start, start + self.duration
        raise AssertionError("unreachable: every week has each listed weekday")

    def _start_on(self, day: date) -> datetime:
        """The UTC instant the occurrence of local date `day` starts."""
        wall = datetime.combine(day, self.start)
        # fold=0: of a repeated wall time, the first; in a gap, read with the offset before it.
        start = wall.replace(tzinfo=self.zone).astimezone(UTC)
        if start.astimezone(self.zone).replace(tzinfo=None) == wall:
            return start
        return self._end_of_gap(wall)

    def _end_of_gap(self, wall: datetime) -> datetime:
        """The instant the clocks jump past the non-existent wall time `wall`."""
        # With the offset after the change (fold=1) `wall` maps to an instant before the change,
        # with the offset before it (fold=0) to one after. Bisect in whole seconds: tz database
        # transitions fall on them, and both bounds do too (`start` has no seconds).
        before = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        after = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        while after - before > timedelta(seconds=1):
            middle = before + timedelta(seconds=(after - before) // timedelta(seconds=2))
            if middle.astimezone(self.zone).replace(tzinfo=None) > wall:
                after = middle
            else:
                before = middle
        return after


def _days_between(begin: date, end: date, *, step: int) -> Iterator[date]:
    """Local dates from `begin` to `end`, both included, forwards (step=1) or backwards (-1)."""
    day = begin
    while (day <= end) if step > 0 else (day >= end):
        yield day
        day += step * _DAY


def in_maintenance(
    windows: Sequence[MaintenanceWindow], probe: str, at: datetime
) -> MaintenanceWindow | None:
    """The first window (in config order) that covers `probe` at `at`, or None."""
    _require_aware(at, "at")  # also when no window applies: a naive instant is a caller's bug
    for window in windows:
        if window.applies_to(probe) and window.occurrence_at(at) is not None:
            return window
    return None
