"""Who is on call in a schedule, as pure functions of the config and an instant.

- One person at a time. An override covering the instant wins over every layer (of overlapping
  overrides, the later one in the list); otherwise the last layer that has someone on call, and a
  layer has someone from its rotation's first handoff on (`monitor.oncall.rotation`). Since
  layers have no time-of-day restrictions, a later layer that has started always wins.
- Overrides cover [from, to): at `to` the layers are back. A time without an offset is local
  time in the schedule's zone, read like a handoff (a time in the spring-forward gap is the jump,
  a repeated one its first occurrence).
- Times are timezone-aware (any zone; a naive one raises ValueError); results are in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from monitor.config.oncall import OverrideConfig, ScheduleConfig
from monitor.oncall.localtime import local_instant, require_aware
from monitor.oncall.rotation import Rotation

OVERRIDE = "override"


@dataclass(frozen=True)
class Shift:
    person: str
    start: datetime
    end: datetime
    source: str  # "layer 1" (layers numbered from 1 in config order) or "override"


@dataclass(frozen=True)
class Handoff:
    at: datetime
    from_person: str | None  # None: nobody was on call before (a gap ends)
    to_person: str | None  # None: nobody is on call from here (a gap starts)


@dataclass(frozen=True)
class _Override:
    start: datetime
    end: datetime
    person: str


@dataclass(frozen=True)
class _Plan:
    """A schedule compiled for lookups: rotations with their zone, overrides in UTC."""

    layers: tuple[Rotation, ...]
    overrides: tuple[_Override, ...]

    @classmethod
    def of(cls, schedule: ScheduleConfig) -> _Plan:
        zone = ZoneInfo(schedule.timezone)
        return cls(
            layers=tuple(Rotation.from_config(layer.rotation, zone) for layer in schedule.layers),
            overrides=tuple(_override(override, zone) for override in schedule.overrides),
        )

    def who(self, at: datetime) -> tuple[str | None, str | None]:
        """(person, source) on call at `at`; (None, None) when nobody is."""
        for override in reversed(self.overrides):
            if override.start <= at < override.end:
                return override.person, OVERRIDE
        for number in range(len(self.layers), 0, -1):
            person = self.layers[number - 1].person_at(at)
            if person is not None:
                return person, f"layer {number}"
        return None, None


def _override(config: OverrideConfig, zone: ZoneInfo) -> _Override:
    def instant(moment: datetime) -> datetime:
        if moment.tzinfo is None:
            return local_instant(moment, zone)
        return moment.astimezone(UTC)

    return _Override(start=instant(config.from_), end=instant(config.to), person=config.person)


@dataclass(frozen=True)
class _Segment:
    start: datetime
    end: datetime
    person: str | None
    source: str | None


def _timeline(plan: _Plan, start: datetime, end: datetime) -> list[_Segment]:
    """[start, end) cut where anyone's shift or override starts or ends, adjacent pieces with the
    same person and source merged."""
    cuts = {start, end}
    for layer in plan.layers:
        for begin, finish, _ in layer.shifts(start, end):
            cuts.update((begin, finish))
    for override in plan.overrides:
        cuts.update(moment for moment in (override.start, override.end) if start < moment < end)
    ordered = sorted(cuts)
    segments: list[_Segment] = []
    for begin, finish in pairwise(ordered):
        person, source = plan.who(begin)
        last = segments[-1] if segments else None
        if last is not None and (last.person, last.source) == (person, source):
            segments[-1] = _Segment(last.start, finish, person, source)
        else:
            segments.append(_Segment(begin, finish, person, source))
    return segments


def _window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    first, last = require_aware(start, "start"), require_aware(end, "end")
    if last < first:
        raise ValueError(f"end ({last.isoformat()}) is before start ({first.isoformat()})")
    return first, last


def on_call(schedule: ScheduleConfig, at: datetime) -> str | None:
    """The id of the person on call at `at`, or None when nobody is."""
    return _Plan.of(schedule).who(require_aware(at, "at"))[0]


def on_call_source(schedule: ScheduleConfig, at: datetime) -> tuple[str | None, str | None]:
    """(person, source) on call at `at`: source is "layer N" or "override"; (None, None)."""
    return _Plan.of(schedule).who(require_aware(at, "at"))


def shifts(schedule: ScheduleConfig, *, start: datetime, end: datetime) -> list[Shift]:
    """Who is on call in [start, end), in order, clipped to it. Consecutive shifts of one person
    from one source are one shift; the times between shifts are the gaps."""
    first, last = _window(start, end)
    return [
        Shift(person=segment.person, start=segment.start, end=segment.end, source=segment.source)
        for segment in _timeline(_Plan.of(schedule), first, last)
        if segment.person is not None and segment.source is not None
    ]


def gaps(
    schedule: ScheduleConfig, *, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The times in [start, end) when nobody is on call, as (start, end) in UTC."""
    first, last = _window(start, end)
    return [
        (segment.start, segment.end)
        for segment in _timeline(_Plan.of(schedule), first, last)
        if segment.person is None
    ]


_SEARCH_STEP = timedelta(weeks=8)


def handoffs(
    schedule: ScheduleConfig,
    *,
    after: datetime,
    count: int,
    within: timedelta = timedelta(days=366),
) -> list[Handoff]:
    """The first `count` moments strictly after `after` (and before `after + within`) at which
    the person on call changes. A shift's end with nobody after it is a handoff to None, the end
    of a gap one from None; the same person taking over from another source is not a handoff."""
    if count < 0:
        raise ValueError(f"count must be 0 or more, got {count}")
    plan = _Plan.of(schedule)
    begin = require_aware(after, "after")
    horizon = begin + within
    previous = plan.who(begin)[0]
    found: list[Handoff] = []
    # In steps, so a one-member rotation with no override (no handoff ever) ends at `within`.
    while len(found) < count and begin < horizon:
        finish = min(begin + _SEARCH_STEP, horizon)
        for segment in _timeline(plan, begin, finish):
            if segment.person != previous:
                found.append(Handoff(segment.start, previous, segment.person))
                previous = segment.person
        begin = finish
    return found[:count]
