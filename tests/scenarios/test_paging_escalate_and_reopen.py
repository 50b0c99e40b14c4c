"""`monitor escalate` jumps to the next level now; a re-opened incident pages again from level 1."""

from __future__ import annotations

from monitor.storage.incidents import reopen_incident
from monitor.testing.paging import Scenario


async def test_escalate_now_pages_the_next_level_at_once(scenario: Scenario) -> None:
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms()
    await scenario.fast_forward("1m")
    assert await scenario.escalate(incident, by="alice")
    scenario.phone("alice").expect_call()
    # The next level follows that level's own timeout (10m), counted from the escalation.
    await scenario.fast_forward("9m59s")
    scenario.assert_quiet()
    await scenario.fast_forward("1s")
    scenario.phone("carol").expect_sms()


async def test_escalating_an_acknowledged_incident_triggers_it_again(scenario: Scenario) -> None:
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms()
    assert await scenario.ack(incident, by="alice")
    assert await scenario.escalate(incident, by="alice")
    assert await scenario.state(incident) == "triggered"
    scenario.phone("alice").expect_call()


async def test_a_reopened_incident_pages_again_from_level_one(scenario: Scenario) -> None:
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms()
    await scenario.resolve(incident)
    scenario.phone("alice").expect_resolved()
    await scenario.fast_forward("3m")
    await reopen_incident(scenario.db, incident_id=incident, at=scenario.now, figures="again")
    await scenario.tick()
    scenario.phone("alice").expect_sms()
    await scenario.fast_forward("5m")
    scenario.phone("alice").expect_call()
    scenario.assert_quiet()
