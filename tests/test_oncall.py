"""On-call schedules as pure functions: who is on call when, to the second, across clock changes.

Clock changes used below (2026): Europe/Berlin springs forward on Sun 29 March (02:00 CET ->
03:00 CEST, 01:00 UTC) and falls back on Sun 25 October (03:00 CEST -> 02:00 CET, 01:00 UTC);
America/New_York on Sun 8 March (02:00 EST -> 03:00 EDT, 07:00 UTC) and Sun 1 November (02:00
EDT -> 01:00 EST, 06:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from monitor.config.models import MonitorConfig
from monitor.config.oncall import ScheduleConfig
from monitor.oncall import (
    Handoff,
    Shift,
    config_warnings,
    gaps,
    handoffs,
    local_instant,
    on_call,
    on_call_source,
    shifts,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SECOND = timedelta(seconds=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def schedule(
    *rotations: dict[str, Any], timezone: str = "Europe/Berlin", overrides: Any = ()
) -> ScheduleConfig:
    return ScheduleConfig.model_validate(
        {
            "name": "primary",
            "timezone": timezone,
            "layers": [{"rotation": rotation} for rotation in rotations],
            "overrides": list(overrides),
        }
    )


# Monday 2 March 2026, 09:00 in Berlin (08:00 UTC): alice's first week.
WEEKLY = {"every": "1w", "handoff": "mon 09:00", "members": ["alice", "bob"], "start": "2026-03-02"}


# --- rotations and clock changes --------------------------------------------------------------


def test_weekly_handoff_stays_at_monday_0900_berlin_across_the_spring_change() -> None:
    primary = schedule(WEEKLY)
    assert handoffs(primary, after=utc(2026, 3, 20), count=3) == [
        Handoff(utc(2026, 3, 23, 8), "alice", "bob"),  # 09:00 CET
        Handoff(utc(2026, 3, 30, 7), "bob", "alice"),  # 09:00 CEST, the day after the change
        Handoff(utc(2026, 4, 6, 7), "alice", "bob"),
    ]
    assert on_call(primary, utc(2026, 3, 30, 7) - SECOND) == "bob"
    assert on_call(primary, utc(2026, 3, 30, 7)) == "alice"
    # The week spanning the change is an hour shorter in real time.
    (bobs_week,) = shifts(primary, start=utc(2026, 3, 24), end=utc(2026, 3, 30, 7))
    assert bobs_week == Shift("bob", utc(2026, 3, 24), utc(2026, 3, 30, 7), "layer 1")
    assert utc(2026, 3, 30, 7).astimezone(BERLIN).strftime("%a %H:%M") == "Mon 09:00"


def test_weekly_handoff_stays_at_monday_0900_berlin_across_the_autumn_change() -> None:
    primary = schedule(WEEKLY)
    # 33 weeks after 2 March: bob's turn; the next Monday (after the change) is alice's.
    assert handoffs(primary, after=utc(2026, 10, 15), count=2) == [
        Handoff(utc(2026, 10, 19, 7), "alice", "bob"),  # 09:00 CEST
        Handoff(utc(2026, 10, 26, 8), "bob", "alice"),  # 09:00 CET
    ]
    week = shifts(primary, start=utc(2026, 10, 19, 7), end=utc(2026, 10, 26, 8))
    assert week == [Shift("bob", utc(2026, 10, 19, 7), utc(2026, 10, 26, 8), "layer 1")]
    assert week[0].end - week[0].start == timedelta(weeks=1, hours=1)


def test_daily_rotation_in_new_york_across_both_changes() -> None:
    daily = {"every": "1d", "handoff": "09:00", "members": ["carol", "dave", "erin"]}
    ny = schedule({**daily, "start": "2026-03-06"}, timezone="America/New_York")
    assert shifts(ny, start=utc(2026, 3, 6, 14), end=utc(2026, 3, 9, 13)) == [
        Shift("carol", utc(2026, 3, 6, 14), utc(2026, 3, 7, 14), "layer 1"),  # 09:00 EST
        Shift("dave", utc(2026, 3, 7, 14), utc(2026, 3, 8, 13), "layer 1"),  # 23 hours
        Shift("erin", utc(2026, 3, 8, 13), utc(2026, 3, 9, 13), "layer 1"),  # 09:00 EDT
    ]
    # 31 October is day 239 after 6 March: 239 % 3 == 2, erin's day, 25 hours long.
    assert handoffs(ny, after=utc(2026, 10, 31), count=2) == [
        Handoff(utc(2026, 10, 31, 13), "dave", "erin"),  # 09:00 EDT
        Handoff(utc(2026, 11, 1, 14), "erin", "carol"),  # 09:00 EST
    ]


def test_twelve_hour_rotation_hands_off_at_0900_and_2100_local() -> None:
    halves = schedule(
        {"every": "12h", "handoff": "09:00", "members": ["alice", "bob"], "start": "2026-01-05"}
    )
    assert handoffs(halves, after=utc(2026, 1, 5), count=3) == [
        Handoff(utc(2026, 1, 5, 8), None, "alice"),  # the rotation starts: 09:00 CET
        Handoff(utc(2026, 1, 5, 20), "alice", "bob"),  # 21:00 CET
        Handoff(utc(2026, 1, 6, 8), "bob", "alice"),
    ]
    # 177 days later, in summer time: still 09:00 and 21:00 on the wall, alice's morning.
    assert handoffs(halves, after=utc(2026, 7, 1), count=2) == [
        Handoff(utc(2026, 7, 1, 7), "bob", "alice"),  # 09:00 CEST
        Handoff(utc(2026, 7, 1, 19), "alice", "bob"),
    ]


def test_hours_that_do_not_divide_a_day_step_in_real_time() -> None:
    five = schedule(
        {"every": "5h", "handoff": "22:00", "members": ["a", "b", "c"], "start": "2026-03-28"}
    )
    # 22:00 CET is 21:00 UTC; then every 5 real hours, straight through the spring change.
    assert [h.at for h in handoffs(five, after=utc(2026, 3, 28), count=4)] == [
        utc(2026, 3, 28, 21),
        utc(2026, 3, 29, 2),
        utc(2026, 3, 29, 7),
        utc(2026, 3, 29, 12),
    ]
    assert on_call(five, utc(2026, 3, 29, 12)) == "a"


def test_a_two_week_rotation_and_one_without_a_day() -> None:
    fortnight = schedule({**WEEKLY, "every": "2w"})
    assert [
        (h.at, h.to_person) for h in handoffs(fortnight, after=utc(2026, 3, 2, 9), count=2)
    ] == [
        (utc(2026, 3, 16, 8), "bob"),
        (utc(2026, 3, 30, 7), "alice"),
    ]
    # A weekly rotation without a day hands off on the weekday of `start` (a Wednesday).
    wednesdays = schedule(
        {"every": "1w", "handoff": "10:00", "members": ["a", "b"], "start": "2026-03-04"}
    )
    assert [h.at for h in handoffs(wednesdays, after=utc(2026, 3, 1), count=2)] == [
        utc(2026, 3, 4, 9),
        utc(2026, 3, 11, 9),
    ]


def test_the_first_shift_is_the_first_handoff_on_or_after_start_and_nobody_before() -> None:
    # Start on a Wednesday: the first Monday 09:00 after it.
    primary = schedule({**WEEKLY, "start": "2026-03-04"})
    assert on_call(primary, utc(2026, 3, 9, 8) - SECOND) is None
    assert on_call(primary, utc(2026, 3, 9, 8)) == "alice"
    assert on_call_source(primary, utc(2026, 3, 9, 8)) == ("alice", "layer 1")
    assert on_call_source(primary, utc(2026, 3, 1)) == (None, None)


def test_a_handoff_in_the_spring_forward_gap_happens_at_the_jump() -> None:
    # 02:30 does not exist on 29 March in Berlin: the clocks go from 02:00 CET to 03:00 CEST.
    nightly = schedule(
        {"every": "1d", "handoff": "02:30", "members": ["alice", "bob"], "start": "2026-03-27"}
    )
    assert [h.at for h in handoffs(nightly, after=utc(2026, 3, 27), count=4)] == [
        utc(2026, 3, 27, 1, 30),  # 02:30 CET
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1),  # the jump: 03:00 CEST
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]
    assert utc(2026, 3, 29, 1).astimezone(BERLIN).strftime("%H:%M") == "03:00"
    assert on_call(nightly, utc(2026, 3, 29, 1) - SECOND) == "bob"
    assert on_call(nightly, utc(2026, 3, 29, 1)) == "alice"
    assert local_instant(datetime(2026, 3, 29, 2, 30), BERLIN) == utc(2026, 3, 29, 1)


def test_a_handoff_in_the_repeated_autumn_hour_happens_at_its_first_occurrence() -> None:
    # 02:30 happens twice on 25 October in Berlin: 00:30 UTC (CEST) and 01:30 UTC (CET).
    nightly = schedule(
        {"every": "1d", "handoff": "02:30", "members": ["alice", "bob"], "start": "2026-10-23"}
    )
    assert [(h.at, h.to_person) for h in handoffs(nightly, after=utc(2026, 10, 24), count=3)] == [
        (utc(2026, 10, 24, 0, 30), "bob"),  # 02:30 CEST
        (utc(2026, 10, 25, 0, 30), "alice"),  # the first 02:30, once
        (utc(2026, 10, 26, 1, 30), "bob"),  # 02:30 CET: alice's shift lasted 25 hours
    ]
    assert on_call(nightly, utc(2026, 10, 25, 1, 30)) == "alice"  # the second 02:30: no handoff


def test_an_hourly_rotation_skips_the_hour_the_clocks_jump_over() -> None:
    hourly = schedule(
        {"every": "1h", "handoff": "00:00", "members": ["a", "b", "c"], "start": "2026-03-29"}
    )
    # Local 00:00 a, 01:00 b, 02:00 (does not exist) c, 03:00 a: c's shift is empty.
    assert shifts(hourly, start=utc(2026, 3, 28, 23), end=utc(2026, 3, 29, 3)) == [
        Shift("a", utc(2026, 3, 28, 23), utc(2026, 3, 29, 0), "layer 1"),
        Shift("b", utc(2026, 3, 29, 0), utc(2026, 3, 29, 1), "layer 1"),
        Shift("a", utc(2026, 3, 29, 1), utc(2026, 3, 29, 2), "layer 1"),
        Shift("b", utc(2026, 3, 29, 2), utc(2026, 3, 29, 3), "layer 1"),
    ]


# --- layers and overrides ---------------------------------------------------------------------


def test_a_later_layer_wins_from_its_start() -> None:
    daily_carol = {"every": "1d", "handoff": "09:00", "members": ["carol"], "start": "2026-03-10"}
    layered = schedule(WEEKLY, daily_carol)
    assert shifts(layered, start=utc(2026, 3, 2), end=utc(2026, 3, 20)) == [
        Shift("alice", utc(2026, 3, 2, 8), utc(2026, 3, 9, 8), "layer 1"),
        Shift("bob", utc(2026, 3, 9, 8), utc(2026, 3, 10, 8), "layer 1"),
        Shift("carol", utc(2026, 3, 10, 8), utc(2026, 3, 20), "layer 2"),  # one shift: merged
    ]
    # Layers have no restrictions: once started, the later layer always has someone.
    assert on_call(layered, utc(2027, 3, 1, 12)) == "carol"
    assert gaps(layered, start=utc(2026, 3, 1), end=utc(2026, 3, 20)) == [
        (utc(2026, 3, 1), utc(2026, 3, 2, 8))
    ]


def test_an_override_wins_over_every_layer_and_ends_exactly_at_to() -> None:
    carol_layer = {"every": "1d", "handoff": "09:00", "members": ["carol"], "start": "2026-03-10"}
    # Naive times are local to the schedule: 12:00 CET is 11:00 UTC.
    dave = {"person": "dave", "from": "2026-03-04T12:00", "to": "2026-03-05T12:00"}
    erin = {"person": "erin", "from": "2026-03-11T11:00:00Z", "to": "2026-03-11T13:00:00+01:00"}
    primary = schedule(WEEKLY, carol_layer, overrides=[dave, erin])
    assert on_call(primary, utc(2026, 3, 4, 11) - SECOND) == "alice"
    assert on_call_source(primary, utc(2026, 3, 4, 11)) == ("dave", "override")
    assert on_call(primary, utc(2026, 3, 5, 11) - SECOND) == "dave"
    assert on_call(primary, utc(2026, 3, 5, 11)) == "alice"
    assert handoffs(primary, after=utc(2026, 3, 3), count=5) == [
        Handoff(utc(2026, 3, 4, 11), "alice", "dave"),
        Handoff(utc(2026, 3, 5, 11), "dave", "alice"),
        Handoff(utc(2026, 3, 9, 8), "alice", "bob"),
        Handoff(utc(2026, 3, 10, 8), "bob", "carol"),
        Handoff(utc(2026, 3, 11, 11), "carol", "erin"),  # an offset given: no local reading
    ]
    # Over the later layer too, for exactly one hour.
    assert shifts(primary, start=utc(2026, 3, 11), end=utc(2026, 3, 12)) == [
        Shift("carol", utc(2026, 3, 11), utc(2026, 3, 11, 11), "layer 2"),
        Shift("erin", utc(2026, 3, 11, 11), utc(2026, 3, 11, 12), "override"),
        Shift("carol", utc(2026, 3, 11, 12), utc(2026, 3, 12), "layer 2"),
    ]


def test_a_naive_override_in_summer_is_read_with_summer_time() -> None:
    july = {"person": "carol", "from": "2026-07-01T12:00", "to": "2026-07-01T18:00"}
    primary = schedule(WEEKLY, overrides=[july])
    assert [
        s
        for s in shifts(primary, start=utc(2026, 7, 1), end=utc(2026, 7, 2))
        if s.source == "override"
    ] == [Shift("carol", utc(2026, 7, 1, 10), utc(2026, 7, 1, 16), "override")]


def test_the_later_of_two_overlapping_overrides_wins_and_the_same_person_is_no_handoff() -> None:
    first = {"person": "carol", "from": "2026-03-04T10:00", "to": "2026-03-04T20:00"}
    second = {"person": "dave", "from": "2026-03-04T12:00", "to": "2026-03-04T14:00"}
    alice_again = {"person": "alice", "from": "2026-03-05T10:00", "to": "2026-03-05T11:00"}
    primary = schedule(WEEKLY, overrides=[first, second, alice_again])
    assert handoffs(primary, after=utc(2026, 3, 4), count=4) == [
        Handoff(utc(2026, 3, 4, 9), "alice", "carol"),
        Handoff(utc(2026, 3, 4, 11), "carol", "dave"),
        Handoff(utc(2026, 3, 4, 13), "dave", "carol"),
        Handoff(utc(2026, 3, 4, 19), "carol", "alice"),
    ]


def test_gaps_and_handoffs_to_and_from_nobody() -> None:
    cover = {"person": "carol", "from": "2026-02-27T09:00", "to": "2026-02-28T09:00"}
    primary = schedule(WEEKLY, overrides=[cover])
    assert gaps(primary, start=utc(2026, 2, 25), end=utc(2026, 3, 10)) == [
        (utc(2026, 2, 25), utc(2026, 2, 27, 8)),
        (utc(2026, 2, 28, 8), utc(2026, 3, 2, 8)),
    ]
    assert handoffs(primary, after=utc(2026, 2, 25), count=3) == [
        Handoff(utc(2026, 2, 27, 8), None, "carol"),
        Handoff(utc(2026, 2, 28, 8), "carol", None),
        Handoff(utc(2026, 3, 2, 8), None, "alice"),
    ]
    assert gaps(primary, start=utc(2026, 3, 2, 8), end=utc(2026, 6, 1)) == []


def test_a_lone_member_has_no_handoff_within_the_search_horizon() -> None:
    alone = schedule({**WEEKLY, "members": ["alice"]})
    assert handoffs(alone, after=utc(2026, 4, 1), count=3) == []
    assert shifts(alone, start=utc(2026, 4, 1), end=utc(2026, 5, 1)) == [
        Shift("alice", utc(2026, 4, 1), utc(2026, 5, 1), "layer 1")
    ]


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        on_call(schedule(WEEKLY), datetime(2026, 3, 4, 12))
    with pytest.raises(ValueError, match="timezone-aware"):
        shifts(schedule(WEEKLY), start=datetime(2026, 3, 4), end=utc(2026, 3, 5))


def test_results_are_utc_whatever_zone_the_question_uses() -> None:
    at = datetime(2026, 3, 23, 9, 0, tzinfo=BERLIN)  # the handoff itself, asked in Berlin time
    (handoff,) = handoffs(schedule(WEEKLY), after=at - SECOND, count=1)
    assert handoff.at == utc(2026, 3, 23, 8) and handoff.at.tzinfo is UTC


# --- config rules for rotations ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("rotation", "message"),
    [
        ({"every": "90m"}, "every: 1h30m is not a whole number of hours"),
        (
            {"every": "1d", "handoff": "mon 09:00"},
            'names a day, but every: 1d is not a whole number of weeks: write "09:00"',
        ),
        ({"every": "12h", "handoff": "Tue 21:00"}, 'handoff "tue 21:00" names a day'),
    ],
)
def test_rotations_the_config_refuses(rotation: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        schedule({"members": ["alice"], **rotation})


@pytest.mark.parametrize("every", ["1w", "2w", "14d", "1d", "3d", "12h", "1h", "5h", "36h"])
def test_rotations_the_config_accepts(every: str) -> None:
    handoff = "mon 09:00" if every in ("1w", "2w", "14d") else "09:00"
    schedule({"every": every, "handoff": handoff, "members": ["alice"]})


# --- validate warnings ------------------------------------------------------------------------


def test_config_warnings_name_gaps_unpaged_probes_and_idle_people() -> None:
    config = MonitorConfig.model_validate(
        yaml.safe_load(
            """
people:
  - {id: alice, name: Alice, phone: "+4915110000001"}
  - {id: bob, name: Bob, phone: "+4915110000002"}
  - {id: carol, name: Carol, phone: "+4915110000003"}
  - {id: erin, name: Erin, phone: "+4915110000005"}
schedules:
  - name: primary
    timezone: Europe/Berlin
    layers: [{rotation: {every: 1w, handoff: "mon 09:00", members: [alice, bob], start: 2026-12-07}}]
    overrides: [{person: bob, from: 2026-12-01T09:00, to: 2026-12-02T09:00}]
  - name: secondary
    timezone: UTC
    layers: [{rotation: {every: 1w, members: [alice], start: 2026-01-05}}]
policies:
  - {name: p, levels: [{notify: [{schedule: primary}, {person: carol}]}]}
probes:
  - {name: login, request: {url: "http://127.0.0.1:9/"}, alert: {policy: p}}
  - {name: signup, request: {url: "http://127.0.0.1:9/"}}
  - {name: sharing, request: {url: "http://127.0.0.1:9/"}}
  - {name: old, enabled: false, request: {url: "http://127.0.0.1:9/"}}
"""
        )
    )
    assert config_warnings(config, now=datetime(2026, 11, 28, 11, 32, 42, 5, tzinfo=UTC)) == [
        "schedule primary: nobody on call from 2026-11-28T11:32:42Z to 2026-12-01T08:00:00Z "
        "(the first of 2 gaps), 7d20h27m of the next 4 weeks: a layer covers only from its "
        "rotation's `start`; pages to this schedule reach nobody then",
        "no escalation policy for probes signup, sharing: their incidents page nobody "
        "(set `alert.policy` on the probe, or `defaults.policy`)",
        "person erin is in no schedule and no policy: nothing pages them",
    ]
    # Once every rotation has started, and with a default policy, nothing to say about them.
    later = config.model_copy(
        update={"defaults": config.defaults.model_copy(update={"policy": "p"})}
    )
    assert config_warnings(later, now=utc(2026, 12, 7, 8)) == [
        "person erin is in no schedule and no policy: nothing pages them"
    ]


def test_a_schedule_empty_for_the_whole_four_weeks_says_so() -> None:
    config = MonitorConfig.model_validate(
        {
            "people": [{"id": "alice", "name": "Alice", "channels": ["console"]}],
            "schedules": [
                {
                    "name": "future",
                    "timezone": "UTC",
                    "layers": [
                        {"rotation": {"every": "1d", "members": ["alice"], "start": "2027-06-01"}}
                    ],
                }
            ],
        }
    )
    assert config_warnings(config, now=utc(2026, 11, 28)) == [
        "schedule future: nobody on call from 2026-11-28T00:00:00Z to 2026-12-26T00:00:00Z and "
        "beyond, 28d of the next 4 weeks: a layer covers only from its rotation's `start`; "
        "pages to this schedule reach nobody then"
    ]
