"""RESOLVE by SMS resolves the incident and tells exactly the people who were paged."""

from __future__ import annotations

from monitor.testing.twilio import TwilioScenario


async def test_resolve_by_sms_sends_the_resolved_messages(twilio_scenario: TwilioScenario) -> None:
    scenario = twilio_scenario
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms("PARTIAL")
    await scenario.fast_forward("5m")
    scenario.phone("alice").expect_call().hang_up()  # answered, no key: escalation goes on
    await scenario.fast_forward("10m")
    scenario.phone("carol").expect_sms("PARTIAL")  # level 3: carol by SMS and call, dave by SMS
    scenario.phone("carol").expect_call()
    scenario.phone("dave").expect_sms("PARTIAL")

    assert scenario.phone("carol").reply(f"RESOLVE {incident}") == [
        f"Resolved MON-{incident} (login)."
    ]
    assert await scenario.state(incident) == "resolved"
    await scenario.tick()
    for person in ("alice", "carol", "dave"):
        scenario.phone(person).expect_resolved(f"MON-{incident}")
    scenario.phone("bob").expect_nothing()  # never paged, not told
    await scenario.fast_forward("1h")
    scenario.assert_quiet()
