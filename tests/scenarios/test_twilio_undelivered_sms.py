"""An SMS the carrier cannot deliver makes the engine call the person at the next tick."""

from __future__ import annotations

from monitor.storage.escalation import pages_of
from monitor.testing.twilio import TwilioScenario


async def test_an_undelivered_sms_is_followed_by_a_call(twilio_scenario: TwilioScenario) -> None:
    scenario = twilio_scenario
    alice = scenario.phone("alice")
    alice.behave(sms="undelivered")
    incident = await scenario.open("login")
    alice.expect_sms("PARTIAL")
    scenario.settle()  # Twilio reports `sent`, then `undelivered` (30003)

    await scenario.tick()  # no time passes: the level's 5 minutes are not what moves it

    call = alice.expect_call("login")
    assert call.press("1") == [f"Acknowledged incident {incident}. Goodbye."]
    pages = await pages_of(scenario.db, incident)
    assert [(p.channel, p.status) for p in pages] == [("sms", "failed"), ("voice", "sent")] or [
        (p.channel, p.status) for p in pages
    ] == [("sms", "failed"), ("voice", "delivered")]
    assert pages[0].error == "the SMS was not delivered (error 30003)"
    details = [e.detail for e in await scenario.events(incident)]
    assert "Alice by sms: the SMS was not delivered (error 30003)" in details
    assert "trying Alice by voice instead" in details
