"""An acknowledged incident that is not resolved within `ack_timeout` pages again from level 1."""

from __future__ import annotations

from monitor.testing.paging import Scenario


async def test_the_ack_timeout_pages_again_from_the_first_level(scenario: Scenario) -> None:
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms()
    await scenario.fast_forward("2m")
    assert await scenario.ack(incident, by="alice")
    await scenario.fast_forward("29m59s")
    scenario.assert_quiet()
    await scenario.fast_forward("1s")  # 30 minutes after the acknowledgement
    assert await scenario.state(incident) == "triggered"
    again = scenario.phone("alice").expect_sms()
    assert (again.at - scenario.start).total_seconds() == 32 * 60
    # And the escalation runs its course again: level 2 five minutes later.
    await scenario.fast_forward("5m")
    scenario.phone("alice").expect_call()
    scenario.assert_quiet()
    events = await scenario.events(incident)
    assert [e.kind for e in events if e.kind in ("acknowledged", "ack_timeout")] == [
        "acknowledged",
        "ack_timeout",
    ]
    # A second acknowledgement is allowed and stops it again.
    assert await scenario.ack(incident, by="alice")
    await scenario.fast_forward("20m")
    scenario.assert_quiet()


async def test_no_ack_timeout_means_an_acknowledgement_holds(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    scenario = await scenario_factory(
        """
policies:
  - name: api-critical
    ack_timeout: null
    levels: [{notify: [{person: alice, via: [sms]}], escalate_after: 5m}]
"""
    )
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms()
    assert await scenario.ack(incident, by="alice")
    await scenario.fast_forward("12h")
    scenario.assert_quiet()
    assert await scenario.state(incident) == "acknowledged"
