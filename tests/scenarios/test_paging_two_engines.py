"""Two engines over one database, ticking at the same moments, running the same incidents: every
page is sent exactly once (row locks with SKIP LOCKED on PostgreSQL, compare-and-swap claims)."""

from __future__ import annotations

from collections import Counter

from monitor.storage.escalation import pages_of
from monitor.testing.paging import Scenario


async def test_two_engines_send_every_page_exactly_once(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    single: Scenario = await scenario_factory()
    await run(single, probes=["a1", "a2", "a3"])
    double: Scenario = await scenario_factory(engines=2)
    incidents = await run(double, probes=["b1", "b2", "b3"])
    expected = received(single)
    assert sum(expected.values()) == 3 * (15 + 3)  # 3 cycles of 5 pages, 3 "resolved", each
    assert received(double) == expected
    for incident in incidents:
        keys = [
            (p.kind, p.cycle, p.level, p.person, p.channel)
            for p in await pages_of(double.db, incident)
        ]
        assert len(keys) == len(set(keys)) == 18


async def run(scenario: Scenario, *, probes: list[str]) -> list[int]:
    incidents = [await scenario.open(probe) for probe in probes]
    await scenario.fast_forward("95m")
    for incident in incidents:
        await scenario.resolve(incident)
    await scenario.fast_forward("1m")
    return incidents


def received(scenario: Scenario) -> Counter[tuple[float, str, str, str]]:
    return Counter(
        ((m.at - scenario.start).total_seconds() / 60, person, m.channel, m.kind)
        for person, phone in scenario.phones.by_person.items()
        for m in phone.all
    )
