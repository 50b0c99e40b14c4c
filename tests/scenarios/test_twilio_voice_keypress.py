"""Level 2 calls alice: Twilio fetches the call's words, she presses 1, and it is acknowledged."""

from __future__ import annotations

from monitor.storage.escalation import pages_of
from monitor.testing.twilio import TwilioScenario


async def test_pressing_1_on_the_call_acknowledges(twilio_scenario: TwilioScenario) -> None:
    scenario = twilio_scenario
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms("PARTIAL")
    await scenario.fast_forward("5m")

    call = scenario.phone("alice").expect_call("login")
    said = call.transcript
    assert said[0] == said[1], "the message is said twice"
    assert "Press 1 to acknowledge" in said[2]
    assert call.press("1") == [f"Acknowledged incident {incident}. Goodbye."]

    assert await scenario.state(incident) == "acknowledged"
    events = await scenario.events(incident)
    assert [e.detail for e in events if e.kind == "acknowledged"] == ["by Alice by phone"]
    scenario.settle()
    voice = (await pages_of(scenario.db, incident))[-1]
    assert (voice.channel, voice.status) == ("voice", "delivered")
    await scenario.fast_forward("20m")
    scenario.assert_quiet()
