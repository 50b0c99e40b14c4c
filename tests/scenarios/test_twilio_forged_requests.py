"""Requests that Twilio did not sign are refused with 403 and change nothing."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from monitor.testing.twilio import TwilioScenario


@pytest.mark.parametrize("forgery", ["missing", "wrong token", "another URL"])
async def test_a_forged_ack_is_refused(twilio_scenario: TwilioScenario, forgery: str) -> None:
    scenario = twilio_scenario
    incident = await scenario.open("login")
    alice = scenario.phone("alice")
    alice.expect_sms("PARTIAL")
    inbound = scenario.http.get("/sandbox/config").json()["inbound_sms_url"]
    request: dict[str, str] = {"from": alice.number, "body": f"ACK {incident}"}
    if forgery == "missing":
        request["signature"] = ""
    elif forgery == "wrong token":
        # What the sandbox would send, signed with a token that is not the account's.
        params = {"From": alice.number, "Body": f"ACK {incident}"}
        request["signature"] = RequestValidator("not-the-token").compute_signature(inbound, params)
    else:
        request["url"] = inbound.replace("/twilio/sms", "/twilio/sms?via=elsewhere")
        request["signature"] = RequestValidator("scenario-auth-token").compute_signature(
            "https://elsewhere.example.com/twilio/sms", {"From": alice.number}
        )

    answer = scenario.http.post("/sandbox/reply", json=request).json()

    assert answer["status"] == 403
    assert answer["replies"] == []
    assert await scenario.state(incident) == "triggered"
    await scenario.fast_forward("5m")
    alice.expect_call()  # paging went on
