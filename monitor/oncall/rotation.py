"""One rotation layer as a numbered sequence of handoffs: handoff k (k = 0, 1, 2 ...) starts the
shift of `members[k % len(members)]`, which lasts until handoff k + 1.

Semantics, exactly:

- **Where it starts.** Handoff 0 is the first handoff time on or after `start` (a local date): for
  `handoff: "mon 09:00"` the first Monday on or after `start`, at 09:00; for `"09:00"` 09:00 on
  `start` itself (a weekly rotation without a day therefore hands off on `start`'s weekday).
  Before handoff 0 the layer has nobody on call, so a layer added with a later `start` takes
  over from then, and lower layers (or nobody: a gap) cover the time before it.
- **Wall-clock shifts.** When `every` is a whole number of days (1d, 3d, 1w, 2w) or divides a
  day (1h, 2h, 3h, 4h, 6h, 8h, 12h), handoffs are local wall-clock times in the schedule's zone:
  `1w` at `"mon 09:00"` is every Monday at 09:00 local, before and after a clock change (so in
  UTC the handoffs move by an hour, and the shift spanning the change is an hour shorter or
  longer); `12h` at `"09:00"` hands off at 09:00 and 21:00 local every day.
- **Elapsed-time shifts.** Any other whole number of hours (5h, 36h) cannot keep to the clock
  face; those handoffs step in real elapsed time from handoff 0 (a 36h shift is 36 real hours).
- **Clock changes.** A handoff time that does not exist that day (02:30 in the spring-forward
  gap) happens at the jump (03:00 after the change); one that occurs twice happens at its first
  occurrence. See `monitor.oncall.localtime`. Only a rotation shorter than the jump can have two
  handoffs on one instant (1h at 02:00 on a spring-forward night): that member's empty shift
  is skipped, and the turn order stays tied to the clock face.
- Instants are timezone-aware; results are in UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from monitor.config.models import WEEKDAYS
from monitor.config.oncall import RotationConfig
from monitor.oncall.localtime import local_instant

_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Rotation:
    members: tuple[str, ...]
    every: timedelta
    zone: ZoneInfo
    first: datetime  # naive local wall time of handoff 0
    wall_clock: bool  # handoffs at local wall-clock times; else every `every` of real time

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("a rotation needs at least one member")
        if self.every <= timedelta(0):
            raise ValueError(f"every must be positive, got {self.every}")
        if self.first.tzinfo is not None:
            raise ValueError("first is a wall-clock time in `zone`; it must not carry a tzinfo")

    @classmethod
    def from_config(cls, config: RotationConfig, zone: ZoneInfo) -> Rotation:
        day, _, clock = config.handoff.rpartition(" ")
        hours, minutes = (int(part) for part in clock.split(":"))
        first_day: date = config.start
        if day:
            first_day += _DAY * ((WEEKDAYS.index(day) - first_day.weekday()) % 7)
        return cls(
            members=tuple(config.members),
            every=config.every,
            zone=zone,
            first=datetime.combine(first_day, time(hours, minutes)),
            wall_clock=not config.every % _DAY or not _DAY % config.every,
        )

    def handoff(self, k: int) -> datetime:
        """The UTC instant of handoff `k` (negative: before the rotation starts)."""
        if self.wall_clock:
            # Naive datetime arithmetic is wall-clock arithmetic: Monday 09:00 + 1w is the next
            # Monday 09:00 whatever the offset does in between.
            return local_instant(self.first + self.every * k, self.zone)
        return local_instant(self.first, self.zone) + self.every * k

    def index_at(self, at: datetime) -> int:
        """The k with handoff(k) <= at < handoff(k + 1); negative before the rotation starts."""
        # Offsets move a wall-clock handoff by at most a few hours, so the estimate from elapsed
        # time is off by at most one or two shifts (one shift more when a shift is empty).
        k = (at - self.handoff(0)) // self.every
        while self.handoff(k) > at:
            k -= 1
        while self.handoff(k + 1) <= at:
            k += 1
        return k

    def member(self, k: int) -> str | None:
        return None if k < 0 else self.members[k % len(self.members)]

    def person_at(self, at: datetime) -> str | None:
        return self.member(self.index_at(at))

    def shifts(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime, str]]:
        """(start, end, person) of every shift overlapping [start, end), clipped to it."""
        if len(self.members) == 1:
            # One shift from the first handoff on: a lone member never hands over, and a year of
            # hourly shifts would otherwise be 8,760 pieces to cut a timeline at.
            if (begin := max(self.handoff(0), start)) < end:
                yield begin, end, self.members[0]
            return
        k = max(self.index_at(start), 0)
        while (begin := max(self.handoff(k), start)) < end:
            finish = min(self.handoff(k + 1), end)
            if finish > begin:
                yield begin, finish, self.members[k % len(self.members)]
            k += 1
