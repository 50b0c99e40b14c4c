"""Callbacks out of order: `sent` arriving after `delivered` never moves the page back."""

from __future__ import annotations

from monitor.storage.escalation import pages_of
from monitor.testing.twilio import TwilioScenario


async def test_a_late_sent_does_not_overwrite_delivered(twilio_scenario: TwilioScenario) -> None:
    scenario = twilio_scenario
    scenario.phone("alice").behave(out_of_order=True)
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms("PARTIAL")
    scenario.settle()
    statuses = [
        hook["params"].get("MessageStatus")
        for hook in scenario.http.get("/sandbox/webhooks").json()
        if "/twilio/status/" in hook["url"]
    ]
    assert statuses == ["delivered", "sent"]
    [page] = await pages_of(scenario.db, incident)
    assert (page.status, page.delivery) == ("delivered", "delivered")
