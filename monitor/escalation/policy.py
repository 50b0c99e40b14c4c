"""Escalation policies as the engine uses them: snapshotted into the incident when paging starts,
and a pure function that says what to do next from where an escalation stands.

The snapshot holds the policy's numbers and the people each level resolved to at that moment
(schedules asked who is on call then): a config reload or a schedule handoff never changes an
escalation in flight. An acknowledgement timeout or a re-opened incident starts a new round with
the same snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from monitor.config.durations import format_duration
from monitor.config.models import MonitorConfig
from monitor.config.oncall import PolicyConfig, ScheduleConfig

OnCall = Callable[[ScheduleConfig, datetime], str | None]


@dataclass(frozen=True, kw_only=True)
class Target:
    person: str
    name: str
    phone: str | None
    via: tuple[str, ...]  # channels paged at once at this level
    fallback: tuple[str, ...]  # the person's channels, in the order tried when one fails
    schedule: str | None = None  # the schedule this person was on call for


@dataclass(frozen=True, kw_only=True)
class Level:
    escalate_after: timedelta
    targets: tuple[Target, ...]
    unresolved: tuple[str, ...] = ()  # "schedule secondary: nobody on call"


@dataclass(frozen=True, kw_only=True)
class PolicySnapshot:
    name: str
    levels: tuple[Level, ...]
    repeat: int | None  # extra cycles after the first; None: forever
    ack_timeout: timedelta | None
    notify_on_resolve: bool
    taken_at: datetime

    @property
    def pages_anyone(self) -> bool:
        return any(level.targets for level in self.levels)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "repeat": self.repeat,
            "ack_timeout_s": None if self.ack_timeout is None else self.ack_timeout.total_seconds(),
            "notify_on_resolve": self.notify_on_resolve,
            "taken_at": self.taken_at.isoformat(),
            "levels": [
                {
                    "escalate_after_s": level.escalate_after.total_seconds(),
                    "unresolved": list(level.unresolved),
                    "targets": [
                        {
                            "person": t.person,
                            "name": t.name,
                            "phone": t.phone,
                            "via": list(t.via),
                            "fallback": list(t.fallback),
                            "schedule": t.schedule,
                        }
                        for t in level.targets
                    ],
                }
                for level in self.levels
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PolicySnapshot:
        ack = data.get("ack_timeout_s")
        return cls(
            name=data["name"],
            repeat=data.get("repeat"),
            ack_timeout=None if ack is None else timedelta(seconds=ack),
            notify_on_resolve=bool(data.get("notify_on_resolve", True)),
            taken_at=datetime.fromisoformat(data["taken_at"]),
            levels=tuple(
                Level(
                    escalate_after=timedelta(seconds=level["escalate_after_s"]),
                    unresolved=tuple(level.get("unresolved", ())),
                    targets=tuple(
                        Target(
                            person=t["person"],
                            name=t["name"],
                            phone=t.get("phone"),
                            via=tuple(t["via"]),
                            fallback=tuple(t.get("fallback", t["via"])),
                            schedule=t.get("schedule"),
                        )
                        for t in level["targets"]
                    ),
                )
                for level in data["levels"]
            ),
        )


def snapshot_policy(
    config: MonitorConfig, policy: PolicyConfig, *, at: datetime, on_call: OnCall
) -> PolicySnapshot:
    """The policy with every target resolved to people, as of `at`."""
    levels: list[Level] = []
    for level in policy.levels:
        targets: list[Target] = []
        unresolved: list[str] = []
        for target in level.notify:
            schedule_name = target.schedule
            person_id = target.person
            if schedule_name is not None:
                schedule = config.schedule(schedule_name)
                person_id = on_call(schedule, at) if schedule is not None else None
                if person_id is None:
                    unresolved.append(f"schedule {schedule_name}: nobody on call")
                    continue
            assert person_id is not None
            person = config.person(person_id)
            if person is None:  # the loader refuses unknown names; a schedule could still hold one
                unresolved.append(f"person {person_id}: not in `people`")
                continue
            via = tuple(target.via) if target.via else (person.channels[0],)
            fallback = tuple(dict.fromkeys([*via, *person.channels]))
            candidate = Target(
                person=person.id,
                name=person.name,
                phone=person.phone,
                via=via,
                fallback=fallback,
                schedule=schedule_name,
            )
            # The same person twice in a level (on call in two schedules) gets one page per
            # channel, not two.
            existing = next((t for t in targets if t.person == candidate.person), None)
            if existing is None:
                targets.append(candidate)
            else:
                merged = tuple(dict.fromkeys([*existing.via, *candidate.via]))
                targets[targets.index(existing)] = Target(
                    person=existing.person,
                    name=existing.name,
                    phone=existing.phone,
                    via=merged,
                    fallback=tuple(dict.fromkeys([*merged, *existing.fallback])),
                    schedule=existing.schedule,
                )
        levels.append(
            Level(
                escalate_after=level.escalate_after,
                targets=tuple(targets),
                unresolved=tuple(unresolved),
            )
        )
    return PolicySnapshot(
        name=policy.name,
        levels=tuple(levels),
        repeat=policy.repeat,
        ack_timeout=policy.ack_timeout,
        notify_on_resolve=policy.notify_on_resolve,
        taken_at=at,
    )


@dataclass(frozen=True)
class Position:
    cycle: int
    level: int | None  # None: no level paged in this round yet
    round_start: int | None  # None: no round yet


@dataclass(frozen=True, kw_only=True)
class Step:
    """What the engine does for a due incident: move to `position`, page `level` of it (when
    not None), look again at `next_action_at` (None: nothing more to do), note `events`."""

    position: Position
    page_level: int | None
    next_action_at: datetime | None
    events: tuple[tuple[str, str], ...] = field(default=())
    retrigger: bool = False  # acknowledged -> triggered (the ack timed out)


Phase = Literal["triggered", "acknowledged"]


def next_step(
    *,
    state: Phase,
    position: Position,
    policy: PolicySnapshot,
    now: datetime,
    acknowledged_at: datetime | None,
) -> Step:
    """The escalation's next move. Pure: the same inputs always give the same step."""
    if state == "acknowledged":
        if policy.ack_timeout is None or acknowledged_at is None:
            return Step(position=position, page_level=None, next_action_at=None)
        deadline = acknowledged_at + policy.ack_timeout
        if now < deadline:
            return Step(position=position, page_level=None, next_action_at=deadline)
        started = _start_round(position, policy, now)
        note = (
            "ack_timeout",
            f"acknowledged {_span(policy.ack_timeout)} ago and not resolved: paging again "
            "from level 1",
        )
        return Step(
            position=started.position,
            page_level=started.page_level,
            next_action_at=started.next_action_at,
            events=(note, *started.events),
            retrigger=True,
        )
    if position.level is None or position.round_start is None:
        return _start_round(position, policy, now)
    level = position.level + 1
    cycle = position.cycle
    if level >= len(policy.levels):
        level, cycle = 0, cycle + 1
    if policy.repeat is not None and cycle - position.round_start > policy.repeat:
        cycles = policy.repeat + 1
        return Step(
            position=position,
            page_level=None,
            next_action_at=None,
            events=(
                (
                    "exhausted",
                    f"nobody acknowledged after {cycles} cycle{'s' if cycles != 1 else ''} "
                    "through the policy: no more pages",
                ),
            ),
        )
    return _page(Position(cycle, level, position.round_start), policy, now)


def _start_round(position: Position, policy: PolicySnapshot, now: datetime) -> Step:
    cycle = 0 if position.round_start is None else position.cycle + 1
    if not policy.pages_anyone:
        reasons = "; ".join(reason for level in policy.levels for reason in level.unresolved)
        return Step(
            position=position,
            page_level=None,
            next_action_at=None,
            events=(("unpaged", f"policy {policy.name} reaches nobody: {reasons}"),),
        )
    return _page(Position(cycle, 0, cycle), policy, now)


def _page(position: Position, policy: PolicySnapshot, now: datetime) -> Step:
    assert position.level is not None
    level = policy.levels[position.level]
    events: list[tuple[str, str]] = [
        ("note", f"level {position.level + 1}: {reason}") for reason in level.unresolved
    ]
    if not level.targets:
        # Nobody at this level: go on to the next one at once rather than wait for no answer.
        return Step(position=position, page_level=None, next_action_at=now, events=tuple(events))
    return Step(
        position=position,
        page_level=position.level,
        next_action_at=now + level.escalate_after,
        events=tuple(events),
    )


def _span(duration: timedelta) -> str:
    return format_duration(duration)
