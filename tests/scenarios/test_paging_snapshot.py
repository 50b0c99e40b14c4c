"""The policy and the people it resolves to are fixed when paging starts: a schedule handoff or
a config reload during the incident changes nothing for it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from monitor.config.models import MonitorConfig
from monitor.testing.paging import Scenario

# Monday 08:50 Berlin: alice's week ends at 09:00, then it is bob's.
BEFORE_HANDOFF = datetime(2026, 3, 9, 7, 50, tzinfo=UTC)


async def test_a_handoff_during_the_incident_keeps_paging_who_was_on_call(
    scenario_factory,  # type: ignore[no-untyped-def]
) -> None:
    scenario: Scenario = await scenario_factory(start=BEFORE_HANDOFF)
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms()
    await scenario.fast_forward("12m")  # level 2 at 08:55, then the 09:00 handoff to bob
    scenario.phone("alice").expect_call()
    await scenario.fast_forward("3m")  # level 3 at 09:05; and no page for bob
    scenario.phone("bob").expect_nothing()
    # A new incident after the handoff pages the new on-call person.
    await scenario.resolve(incident)
    scenario.phone("alice").expect_resolved()
    for person in ("carol", "dave"):
        scenario.phone(person).inbox.clear()
    await scenario.open("signup")
    scenario.phone("bob").expect_sms()
    scenario.assert_quiet()


async def test_a_config_reload_does_not_change_an_escalation_in_flight(
    scenario: Scenario, configure: Callable[..., MonitorConfig]
) -> None:
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms()
    scenario.config = configure(
        """
policies:
  - name: api-critical
    levels: [{notify: [{person: carol, via: [sms]}], escalate_after: 1m}]
""",
    )
    await scenario.fast_forward("5m")
    scenario.phone("alice").expect_call()  # still the old level 2, at the old minute
    scenario.phone("carol").expect_nothing()
    events = await scenario.events(incident)
    assert sum(1 for e in events if e.kind == "paging") == 2
