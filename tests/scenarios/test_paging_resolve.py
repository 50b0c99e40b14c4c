"""Resolving in the middle of an escalation stops it and tells exactly those who were paged."""

from __future__ import annotations

from monitor.storage.escalation import pages_of
from monitor.testing.paging import Scenario


async def test_resolve_tells_everyone_paged_once_and_nobody_else(scenario: Scenario) -> None:
    incident = await scenario.open("login")
    await scenario.fast_forward("16m")  # alice by SMS and call, carol by SMS and call, dave
    for person in ("alice", "carol", "dave"):
        scenario.phone(person).inbox.clear()
    assert await scenario.resolve(incident)
    # One "resolved" message each, by SMS (nobody is called to hear "never mind").
    for person in ("alice", "carol", "dave"):
        message = scenario.phone(person).expect_resolved("RESOLVED")
        assert message.channel == "sms"
    scenario.phone("bob").expect_nothing()
    await scenario.fast_forward("2h")
    scenario.assert_quiet()
    resolved = [p for p in await pages_of(scenario.db, incident) if p.kind == "resolved"]
    assert sorted(p.person for p in resolved) == ["alice", "carol", "dave"]


async def test_resolved_before_anyone_was_reached_tells_nobody(scenario: Scenario) -> None:
    scenario.phones.fail("alice", "sms", times=1)  # the first page waits for its retry
    incident = await scenario.open("login")
    assert await scenario.resolve(incident)
    await scenario.fast_forward("1h")
    scenario.assert_quiet()
    assert [(p.kind, p.status) for p in await pages_of(scenario.db, incident)] == [
        ("page", "cancelled")
    ]


async def test_notify_on_resolve_false_stays_quiet(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    scenario = await scenario_factory(
        """
policies:
  - name: api-critical
    notify_on_resolve: false
    levels: [{notify: [{person: alice, via: [sms]}], escalate_after: 5m}]
"""
    )
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms()
    assert await scenario.resolve(incident)
    await scenario.fast_forward("1h")
    scenario.assert_quiet()
