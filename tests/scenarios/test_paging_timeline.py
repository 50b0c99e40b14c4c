"""A 3-level policy with `repeat: 2`, nobody answering: who is paged on which channel at which
minute, until the policy runs out."""

from __future__ import annotations

from monitor.storage.escalation import pages_of
from monitor.testing.paging import Scenario


async def test_nobody_answers_three_cycles_through_three_levels(scenario: Scenario) -> None:
    incident = await scenario.open("login")
    timeline: list[tuple[float, str, str]] = []

    async def collect() -> None:
        for person, phone in scenario.phones.by_person.items():
            while phone.inbox:
                message = phone.inbox.popleft()
                minute = (message.at - scenario.start).total_seconds() / 60
                timeline.append((minute, person, message.channel))

    await collect()
    await scenario.fast_forward("3h")
    await collect()
    # Each cycle: level 1 at +0 (alice by SMS), level 2 at +5 (alice's phone rings), level 3 at
    # +15 (carol by SMS and call, dave by SMS), next cycle 15 minutes later: a cycle is 30 min.
    expected: list[tuple[float, str, str]] = []
    for cycle in range(3):
        base = 30.0 * cycle
        expected += [
            (base + 0, "alice", "sms"),
            (base + 5, "alice", "voice"),
            (base + 15, "carol", "sms"),
            (base + 15, "carol", "voice"),
            (base + 15, "dave", "sms"),
        ]
    assert sorted(timeline) == sorted(expected)
    # Nothing after the third cycle: the policy is exhausted and says so.
    events = await scenario.events(incident)
    assert events[-1].kind == "exhausted"
    assert events[-1].detail == (
        "nobody acknowledged after 3 cycles through the policy: no more pages"
    )
    assert (events[-1].at - scenario.start).total_seconds() / 60 == 90
    pages = await pages_of(scenario.db, incident)
    assert len(pages) == 15 and {page.status for page in pages} == {"sent"}
