"""Twilio's own failures: a 500 is retried and the page goes out once; 21211 moves on at once."""

from __future__ import annotations

from monitor.storage.escalation import pages_of
from monitor.testing.twilio import TwilioScenario


async def test_twilio_failing_twice_then_answering_gives_one_delivered_page(
    twilio_scenario: TwilioScenario,
) -> None:
    scenario = twilio_scenario
    scenario.http.post("/sandbox/faults", json={"status": 500, "times": 2}).raise_for_status()
    incident = await scenario.open("login")  # attempt 1: 500
    scenario.phone("alice").expect_nothing()
    await scenario.fast_forward("2s")  # attempt 2: 500
    await scenario.fast_forward("4s")  # attempt 3: 201
    scenario.phone("alice").expect_sms("PARTIAL")
    scenario.settle()
    [page] = await pages_of(scenario.db, incident)
    assert (page.status, page.attempts) == ("delivered", 3)
    assert len(scenario.phone("alice").messages()) == 1
    assert "Twilio" in (page.error or "")  # the last failure stays with the page


async def test_an_invalid_number_fails_at_once_and_the_next_channel_is_tried(
    twilio_scenario: TwilioScenario,
) -> None:
    scenario = twilio_scenario
    scenario.http.post(
        "/sandbox/faults",
        json={"status": 400, "code": 21211, "times": 1, "message": "The 'To' number is not valid."},
    ).raise_for_status()
    incident = await scenario.open("login")  # the SMS is refused: 21211, no retry
    scenario.phone("alice").expect_call("login")  # alice's next channel, in the same tick
    pages = await pages_of(scenario.db, incident)
    assert (pages[0].channel, pages[0].status, pages[0].attempts) == ("sms", "failed", 1)
    assert pages[0].error == "Twilio 21211: invalid phone number"
