"""Channels that fail: transient failures are retried with backoff; a channel that keeps failing
(or fails for good) moves on to the person's next channel, and the timeline says so."""

from __future__ import annotations

from monitor.storage.escalation import pages_of
from monitor.testing.paging import Scenario

ONLY_ALICE = """
policies:
  - name: api-critical
    levels: [{notify: [{person: alice, via: [sms]}], escalate_after: 5m}]
"""


async def test_a_channel_that_fails_twice_then_succeeds_is_retried(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    scenario: Scenario = await scenario_factory(ONLY_ALICE)
    scenario.phones.fail("alice", "sms", times=2)
    incident = await scenario.open("login")
    scenario.phone("alice").expect_nothing()
    await scenario.fast_forward("10s")
    sms = scenario.phone("alice").expect_sms()
    # Backoff 2 s then 4 s: the third attempt goes 6 s after the first.
    assert (sms.at - scenario.start).total_seconds() == 6
    (page,) = await pages_of(scenario.db, incident)
    assert (page.status, page.attempts, page.error) == ("sent", 3, "provider busy (test)")
    scenario.phone("alice").expect_nothing()


async def test_a_channel_that_keeps_failing_moves_on_to_the_next(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    scenario: Scenario = await scenario_factory(ONLY_ALICE)
    scenario.phones.fail("alice", "sms", times=10)
    incident = await scenario.open("login")
    await scenario.fast_forward("1m")
    # 5 attempts (2+4+8+16 s apart), then her next channel: a call, at once.
    call = scenario.phone("alice").expect_call()
    assert (call.at - scenario.start).total_seconds() == 30
    pages = await pages_of(scenario.db, incident)
    assert [(p.channel, p.status, p.attempts) for p in pages] == [
        ("sms", "failed", 5),
        ("voice", "sent", 1),
    ]
    details = [e.detail for e in await scenario.events(incident)]
    assert "Alice by sms failed after 5 attempts: provider busy (test)" in details
    assert "trying Alice by voice instead" in details


async def test_a_permanent_failure_moves_on_at_once(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    scenario: Scenario = await scenario_factory(ONLY_ALICE)
    scenario.phones.fail("alice", "sms", times=1, permanent=True)
    incident = await scenario.open("login")
    call = scenario.phone("alice").expect_call()
    assert call.at == scenario.start
    details = [e.detail for e in await scenario.events(incident)]
    assert "Alice by sms failed: recipient unreachable (test)" in details


async def test_a_person_unreachable_on_every_channel_is_in_the_timeline(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    scenario: Scenario = await scenario_factory(
        """
policies:
  - name: api-critical
    levels:
      - {notify: [{person: dave, via: [sms]}], escalate_after: 5m}
      - {notify: [{person: alice, via: [sms]}], escalate_after: 5m}
"""
    )
    scenario.phones.fail("dave", "sms", times=1, permanent=True)  # dave has sms only
    incident = await scenario.open("login")
    details = [e.detail for e in await scenario.events(incident)]
    assert "Dave could not be reached on any channel" in details
    # The policy goes on: level 2 at minute 5.
    await scenario.fast_forward("5m")
    scenario.phone("alice").expect_sms()
