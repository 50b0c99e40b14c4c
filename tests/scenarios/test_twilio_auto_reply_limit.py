"""Unknown texts get the help reply, at most five automatic replies per number per hour."""

from __future__ import annotations

from datetime import timedelta

from monitor.escalation.answers import HELP_TEXT
from monitor.testing.twilio import TwilioScenario


async def test_help_replies_are_limited(twilio_scenario: TwilioScenario) -> None:
    scenario = twilio_scenario
    alice = scenario.phone("alice")
    answers = [alice.reply(text) for text in ("HELP", "hi", "what?", "on it", "??", "hello")]
    assert answers == [[HELP_TEXT]] * 5 + [[]]
    scenario.clock.advance(timedelta(hours=1, seconds=1))
    assert alice.reply("help") == [HELP_TEXT]
