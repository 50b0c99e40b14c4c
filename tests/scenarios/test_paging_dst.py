"""Rotations across daylight-saving changes: an incident opened a minute before a handoff pages
the outgoing person, one opened at the handoff the incoming one, at 09:00 local on both sides of
the change (so the UTC hour of the handoff moves)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.testing.paging import Scenario

ROTATIONS = """
schedules:
  - name: primary
    timezone: Europe/Berlin
    layers:
      - rotation: {every: 1w, handoff: "mon 09:00", members: [alice, bob], start: 2026-03-02}
  - name: secondary
    timezone: America/New_York
    layers:
      - rotation: {every: 1d, handoff: "09:00", members: [carol, dave], start: 2026-03-02}
policies:
  - name: api-critical
    repeat: 0
    notify_on_resolve: false
    levels:
      - {notify: [{schedule: primary, via: [sms]}, {schedule: secondary, via: [sms]}], escalate_after: 1h}
"""

CASES = [
    # Berlin, before the spring change: Monday 23 March, 09:00 CET is 08:00 UTC.
    (datetime(2026, 3, 23, 7, 59, tzinfo=UTC), "alice"),
    (datetime(2026, 3, 23, 8, 0, tzinfo=UTC), "bob"),
    # After it (29 March): Monday 30 March, 09:00 CEST is 07:00 UTC.
    (datetime(2026, 3, 30, 6, 59, tzinfo=UTC), "bob"),
    (datetime(2026, 3, 30, 7, 0, tzinfo=UTC), "alice"),
    # The autumn change (25 October): Monday 26 October, 09:00 CET is 08:00 UTC again.
    (datetime(2026, 10, 26, 7, 59, tzinfo=UTC), "bob"),
    (datetime(2026, 10, 26, 8, 0, tzinfo=UTC), "alice"),
]

NEW_YORK = [
    # Spring forward on Sunday 8 March: 09:00 EDT is 13:00 UTC (14:00 the day before).
    (datetime(2026, 3, 7, 13, 59, tzinfo=UTC), "carol"),
    (datetime(2026, 3, 7, 14, 0, tzinfo=UTC), "dave"),
    (datetime(2026, 3, 8, 12, 59, tzinfo=UTC), "dave"),
    (datetime(2026, 3, 8, 13, 0, tzinfo=UTC), "carol"),
    # Fall back on Sunday 1 November: 09:00 EST is 14:00 UTC, after 13:00 the day before.
    (datetime(2026, 10, 31, 12, 59, tzinfo=UTC), "carol"),
    (datetime(2026, 10, 31, 13, 0, tzinfo=UTC), "dave"),
    (datetime(2026, 11, 1, 13, 59, tzinfo=UTC), "dave"),
    (datetime(2026, 11, 1, 14, 0, tzinfo=UTC), "carol"),
]


@pytest.mark.parametrize(
    ("at", "person", "rotation"),
    [(at, person, ("alice", "bob")) for at, person in CASES]
    + [(at, person, ("carol", "dave")) for at, person in NEW_YORK],
)
async def test_the_handoff_stays_at_0900_local(  # type: ignore[no-untyped-def]
    scenario_factory, at: datetime, person: str, rotation: tuple[str, str]
) -> None:
    scenario: Scenario = await scenario_factory(ROTATIONS, start=at)
    await scenario.open("login")
    scenario.phone(person).expect_sms("[MON-")
    for other in set(rotation) - {person}:
        scenario.phone(other).expect_nothing()
