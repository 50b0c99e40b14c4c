"""An outage pages alice by SMS through Twilio; she replies ACK 1 and nobody is paged again."""

from __future__ import annotations

from monitor.storage.escalation import pages_of
from monitor.testing.twilio import TwilioScenario


async def test_an_sms_reply_acknowledges_and_paging_stops(twilio_scenario: TwilioScenario) -> None:
    scenario = twilio_scenario
    incident = await scenario.open("login")

    replies = scenario.phone("alice").expect_sms("[MON-1] PARTIAL OUTAGE login").reply("ACK 1")

    assert replies == ["Acknowledged MON-1 (login). Reply RESOLVE 1 when fixed."]
    assert await scenario.state(incident) == "acknowledged"
    await scenario.fast_forward("29m")  # every level's timeout passes; the ack timeout not yet
    scenario.assert_quiet()
    scenario.settle()
    [page] = await pages_of(scenario.db, incident)
    assert (page.channel, page.status, page.delivery) == ("sms", "delivered", "delivered")
    assert page.provider_id is not None and page.provider_id.startswith("SM")
