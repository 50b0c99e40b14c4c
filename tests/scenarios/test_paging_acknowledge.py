"""Acknowledging at any point of the escalation stops every further page; pages written but not
yet sent are cancelled."""

from __future__ import annotations

import pytest

from monitor.storage.escalation import pages_of
from monitor.testing.paging import Scenario

LEVEL_1 = [("alice", "sms")]
LEVEL_2 = [*LEVEL_1, ("alice", "voice")]
LEVEL_3 = [*LEVEL_2, ("carol", "sms"), ("carol", "voice"), ("dave", "sms")]
CYCLE_2 = [*LEVEL_3, ("alice", "sms")]
# (minutes after opening when alice acknowledges, what had been received by then)
MOMENTS = [(1, LEVEL_1), (6, LEVEL_2), (16, LEVEL_3), (31, CYCLE_2)]


@pytest.mark.parametrize(("minute", "received"), MOMENTS)
async def test_an_acknowledgement_stops_the_escalation(
    scenario: Scenario, minute: int, received: list[tuple[str, str]]
) -> None:
    incident = await scenario.open("login")
    await scenario.fast_forward(f"{minute}m")
    assert await scenario.ack(incident, by="alice")
    got = sorted(
        (person, message.channel)
        for person, phone in scenario.phones.by_person.items()
        for message in phone.all
    )
    assert got == sorted(received)
    # Two hours on (the ack timeout is 30m, so stop short of it): not one more page.
    before = sum(len(phone.all) for phone in scenario.phones.by_person.values())
    await scenario.fast_forward("29m")
    assert sum(len(phone.all) for phone in scenario.phones.by_person.values()) == before
    assert await scenario.state(incident) == "acknowledged"
    events = await scenario.events(incident)
    assert [e.detail for e in events if e.kind == "acknowledged"] == ["by alice"]


async def test_pages_written_but_not_sent_are_cancelled(scenario: Scenario) -> None:
    incident = await scenario.open("login")
    # Level 2's call fails transiently: it waits 2 s for its retry...
    scenario.phones.fail("alice", "voice", times=1)
    await scenario.fast_forward("5m")
    # ...and the acknowledgement comes in between: the retry never happens.
    assert await scenario.ack(incident, by="alice")
    await scenario.fast_forward("10m")
    statuses = {(p.person, p.channel): p.status for p in await pages_of(scenario.db, incident)}
    assert statuses == {("alice", "sms"): "sent", ("alice", "voice"): "cancelled"}
    scenario.phone("alice").expect_sms("[MON-")
    scenario.assert_quiet()
