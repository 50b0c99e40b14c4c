"""The escalation's next move as a pure function, and the policy snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import yaml

from monitor.config.models import MonitorConfig
from monitor.config.oncall import ScheduleConfig
from monitor.escalation.policy import (
    Level,
    PolicySnapshot,
    Position,
    Target,
    next_step,
    snapshot_policy,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def target(person: str, *via: str) -> Target:
    return Target(person=person, name=person.title(), phone=None, via=via, fallback=via)


def policy(
    *levels: tuple[Target, ...], repeat: int | None = 1, ack: int | None = 30
) -> PolicySnapshot:
    return PolicySnapshot(
        name="p",
        levels=tuple(
            Level(escalate_after=timedelta(minutes=5 * (i + 1)), targets=targets)
            for i, targets in enumerate(levels)
        ),
        repeat=repeat,
        ack_timeout=None if ack is None else timedelta(minutes=ack),
        notify_on_resolve=True,
        taken_at=NOW,
    )


TWO = policy((target("alice", "sms"),), (target("bob", "voice"),))


def test_a_new_incident_pages_level_one_at_cycle_zero() -> None:
    step = next_step(
        state="triggered",
        position=Position(0, None, None),
        policy=TWO,
        now=NOW,
        acknowledged_at=None,
    )
    assert (step.position, step.page_level) == (Position(0, 0, 0), 0)
    assert step.next_action_at == NOW + timedelta(minutes=5)


def test_levels_then_cycles_then_exhausted() -> None:
    position = Position(0, None, None)
    seen = []
    now = NOW
    for _ in range(6):
        step = next_step(
            state="triggered", position=position, policy=TWO, now=now, acknowledged_at=None
        )
        seen.append((step.position.cycle, step.page_level))
        position = step.position
        now = step.next_action_at or now
    # repeat 1: two cycles of two levels, then nothing more.
    assert seen == [(0, 0), (0, 1), (1, 0), (1, 1), (1, None), (1, None)]
    assert step.next_action_at is None
    assert step.events[0][0] == "exhausted"


def test_the_ack_timeout_starts_a_new_round_with_a_new_cycle_number() -> None:
    acked = NOW + timedelta(minutes=2)
    waiting = next_step(
        state="acknowledged",
        position=Position(0, 1, 0),
        policy=TWO,
        now=acked,
        acknowledged_at=acked,
    )
    assert (waiting.page_level, waiting.next_action_at) == (None, acked + timedelta(minutes=30))
    due = next_step(
        state="acknowledged",
        position=Position(0, 1, 0),
        policy=TWO,
        now=acked + timedelta(minutes=30),
        acknowledged_at=acked,
    )
    # A new cycle number: the pages of this round cannot collide with the first round's.
    assert (due.position, due.page_level, due.retrigger) == (Position(1, 0, 1), 0, True)
    # And `repeat` counts from the new round.
    assert due.events[0][0] == "ack_timeout"


def test_no_ack_timeout_leaves_it_acknowledged() -> None:
    step = next_step(
        state="acknowledged",
        position=Position(0, 0, 0),
        policy=policy((target("alice", "sms"),), ack=None),
        now=NOW,
        acknowledged_at=NOW,
    )
    assert (step.page_level, step.next_action_at, step.retrigger) == (None, None, False)


def test_an_empty_level_is_skipped_at_once_and_nobody_at_all_is_said() -> None:
    gap = policy((), (target("bob", "sms"),))
    first = next_step(
        state="triggered",
        position=Position(0, None, None),
        policy=gap,
        now=NOW,
        acknowledged_at=None,
    )
    assert (first.page_level, first.next_action_at) == (None, NOW)
    second = next_step(
        state="triggered", position=first.position, policy=gap, now=NOW, acknowledged_at=None
    )
    assert second.page_level == 1
    nobody = next_step(
        state="triggered",
        position=Position(0, None, None),
        policy=policy((), ()),
        now=NOW,
        acknowledged_at=None,
    )
    assert (nobody.page_level, nobody.next_action_at) == (None, None)
    assert nobody.events[0][0] == "unpaged"


def test_the_snapshot_resolves_schedules_and_merges_a_person_named_twice() -> None:
    config = MonitorConfig.model_validate(
        yaml.safe_load(
            """
people:
  - {id: alice, name: Alice, phone: "+4915110000001", channels: [voice, sms, webhook]}
schedules:
  - {name: primary, timezone: UTC, layers: [{rotation: {every: 1w, members: [alice]}}]}
  - {name: empty, timezone: UTC, layers: [{rotation: {every: 1w, members: [alice]}}]}
policies:
  - name: p
    levels:
      - notify: [{schedule: primary, via: [sms]}, {person: alice}, {schedule: empty}]
"""
        )
    )

    def who(schedule: ScheduleConfig, at: datetime) -> str | None:
        return None if schedule.name == "empty" else "alice"

    snapshot = snapshot_policy(config, config.policies[0], at=NOW, on_call=who)
    (level,) = snapshot.levels
    (alice,) = level.targets
    # sms from the first target, her first channel (voice) from the second; then the rest of
    # her channels as the fallback order.
    assert alice.via == ("sms", "voice")
    assert alice.fallback == ("sms", "voice", "webhook")
    assert level.unresolved == ("schedule empty: nobody on call",)
    assert PolicySnapshot.from_json(snapshot.to_json()) == snapshot
