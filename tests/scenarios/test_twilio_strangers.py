"""Codes are scoped to the replying number: a stranger is ignored, an unpaged colleague refused."""

from __future__ import annotations

from monitor.testing.twilio import TwilioScenario


async def test_an_ack_from_a_number_not_on_the_roster_is_ignored(
    twilio_scenario: TwilioScenario,
) -> None:
    scenario = twilio_scenario
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms()
    answer = scenario.http.post(
        "/sandbox/reply", json={"from": "+4915199999999", "body": f"ACK {incident}"}
    ).json()
    assert (answer["status"], answer["replies"]) == (200, [])
    assert await scenario.state(incident) == "triggered"


async def test_an_ack_from_a_roster_person_never_paged_is_refused_with_a_reply(
    twilio_scenario: TwilioScenario,
) -> None:
    scenario = twilio_scenario
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms()
    assert scenario.phone("bob").reply("ACK 7") == [
        "You were not paged for MON-7. Reply HELP for commands."
    ]
    assert scenario.phone("bob").reply(f"ACK {incident}") == [
        f"You were not paged for MON-{incident}. Reply HELP for commands."
    ]
    assert await scenario.state(incident) == "triggered"
