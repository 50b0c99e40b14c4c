"""A person who replied STOP cannot be texted: their SMS page fails at once and they are
called instead; START makes SMS work again."""

from __future__ import annotations

from monitor.storage.escalation import pages_of
from monitor.storage.inbound import opted_out_phones
from monitor.testing.twilio import TwilioScenario


async def test_stop_then_a_page_goes_by_call(twilio_scenario: TwilioScenario) -> None:
    scenario = twilio_scenario
    alice = scenario.phone("alice")
    # Twilio itself confirms the unsubscription; the monitor adds nothing.
    [confirmation] = alice.reply("STOP")
    assert confirmation.startswith("You have successfully been unsubscribed")
    assert set(await opted_out_phones(scenario.db)) == {alice.number}

    incident = await scenario.open("login")

    alice.expect_call("login")
    [sms, voice] = await pages_of(scenario.db, incident)
    assert (sms.status, sms.error) == (
        "failed",
        "Twilio 21610: the recipient replied STOP: no SMS until they reply START",
    )
    assert voice.channel == "voice"

    alice.reply("START")
    assert await opted_out_phones(scenario.db) == {}
    await scenario.resolve(incident)
    alice.expect_resolved()  # by SMS again
