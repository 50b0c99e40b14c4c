"""A restart (new engine objects over the same database) after every single step gives the same
timeline: no page missing, and at most the page in flight at a crash is sent twice."""

from __future__ import annotations

from datetime import timedelta

from monitor.escalation.engine import LEASE
from monitor.storage.escalation import claim_pages
from monitor.testing.paging import Received, Scenario


def timeline(scenario: Scenario) -> list[tuple[float, str, str, str]]:
    return sorted(
        ((m.at - scenario.start).total_seconds() / 60, person, m.channel, m.kind)
        for person, phone in scenario.phones.by_person.items()
        for m in phone.all
    )


async def story(scenario: Scenario, probe: str) -> list[tuple[float, str, str, str]]:
    incident = await scenario.open(probe)
    scenario.phones.fail("carol", "voice", times=2)  # retried 2 s and then 4 s later
    await scenario.fast_forward("20m")
    await scenario.ack(incident, by="carol")
    await scenario.fast_forward("40m")  # the ack times out at minute 50: level 1 again
    await scenario.resolve(incident)
    await scenario.fast_forward("5m")
    return timeline(scenario)


async def test_a_restart_after_every_step_changes_nothing(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    steady = await story(await scenario_factory(), "login")
    assert steady == [
        (0.0, "alice", "sms", "page"),
        (5.0, "alice", "voice", "page"),
        (15.0, "carol", "sms", "page"),
        (15.0, "dave", "sms", "page"),
        (15.1, "carol", "voice", "page"),
        (50.0, "alice", "sms", "page"),
        (55.0, "alice", "voice", "page"),
        (60.0, "alice", "sms", "resolved"),
        (60.0, "carol", "sms", "resolved"),
        (60.0, "dave", "sms", "resolved"),
    ]
    # The same story for another probe, the engine replaced before every tick.
    restarting: Scenario = await scenario_factory()
    restarting.restart_every_tick = True
    assert await story(restarting, "signup") == steady
    assert restarting.restarts >= 10  # one before every tick


async def test_a_crash_with_a_page_in_flight_sends_that_page_again(scenario: Scenario) -> None:
    from monitor.storage.incidents import open_incident

    opened = await open_incident(
        scenario.db,
        probe="login",
        severity="major",
        rule="consecutive_failures 3",
        figures="the last 3 runs failed",
        cause=None,
        at=scenario.now,
    )
    incident = opened.incident.id
    # The engine writes the page, claims it and hands it to the provider, then dies before
    # recording that it was sent.
    await scenario.engine.escalate(scenario.now)
    (_in_flight,) = await claim_pages(
        scenario.db, now=scenario.now, lease_until=scenario.now + LEASE
    )
    scenario.phone("alice").all.append(
        Received(at=scenario.now, channel="sms", kind="page", incident_id=incident, text="sent")
    )
    scenario.restart()
    await scenario.fast_forward("6m")
    sms = [m for m in scenario.phone("alice").all if m.channel == "sms"]
    # Sent again once its lease ran out: twice in all, never lost.
    assert [m.at - scenario.start for m in sms] == [timedelta(0), LEASE]
    # The escalation itself did not slip: level 2 at minute 5.
    (call,) = [m for m in scenario.phone("alice").all if m.channel == "voice"]
    assert call.at - scenario.start == timedelta(minutes=5)
